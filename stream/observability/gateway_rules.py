"""The alerts on ``ces-stream gateway``: the HTTP intake and live prompt delivery (docs/gateway.md).

Like the feed webhook's they belong to the platform: no ``goal`` and no ``team``. None pages: a
client that gets a 503 or no connection retries (``Retry-After``), and a prompt not delivered live
is owed to the user's next connection while it has not expired (``deploy/runbook.md``). Included by
:func:`stream.observability.rules.rule_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GATEWAY_JOB = "ces-stream-gateway"
"""The scrape job of the gateways' ``/metrics``: deploy/prometheus/prometheus.yml and deploy/k8s/podmonitor-gateway.yaml."""

DOWN_FOR = "5m"
UNAVAILABLE_WINDOW = "5m"
UNAVAILABLE_FOR = "5m"
#: Share of the POSTs answered 5xx over which ``CesGatewayUnavailable`` fires.
UNAVAILABLE_SHARE = 0.05
LAG_WINDOW = "5m"
LAG_FOR = "10m"
#: The prompt delivery p99 the issue asks for (issue 24): a prompt that comes later misses its moment.
LAG_P99_SECONDS = 1.0
STREAMS_FOR = "5m"
#: Share of CES_GATEWAY_MAX_STREAMS over which ``CesGatewayStreamsNearLimit`` fires.
STREAMS_SHARE = 0.9
#: The endpoints whose 5xx are the broker's (a stream's 503 is the connection limit's: the other alert).
POST_ENDPOINTS = "goal-events|answers|prompt-events"

AlertBuilder = Callable[[str, str, str, str, str, str], dict[str, Any]]
"""``rules._alert``: (name, expr, for, severity, summary, description) -> the rule with its runbook link."""


def _queried(expr: str) -> str:
    """Alert template text: the value of ``expr`` now, as a whole number (templates may query)."""
    return f'{{{{ with query "{expr}" }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ end }}}}'


def unavailable_share_query() -> str:
    """The share of the POSTs of all gateways answered 5xx (503: the broker did not acknowledge)."""
    selector = f'job="{GATEWAY_JOB}",endpoint=~"{POST_ENDPOINTS}"'
    return (
        f'sum(rate(ces_gateway_requests_total{{{selector},status=~"5.."}}[{UNAVAILABLE_WINDOW}]))\n'
        f"/\nsum(rate(ces_gateway_requests_total{{{selector}}}[{UNAVAILABLE_WINDOW}]))"
    )


def delivery_lag_p99_query() -> str:
    """The 99th percentile of live prompt delivery, from the worker's decision, over all gateways."""
    return (
        "histogram_quantile(0.99, sum by (le) "
        f'(rate(ces_gateway_delivery_lag_seconds_bucket{{job="{GATEWAY_JOB}"}}[{LAG_WINDOW}])))'
    )


def streams_query() -> str:
    """Open streams and waiting long-polls per gateway: what CES_GATEWAY_MAX_STREAMS bounds."""
    return (
        f'ces_gateway_open_streams{{job="{GATEWAY_JOB}"}}\n'
        f'+ on (job, instance) ces_gateway_waiting_polls{{job="{GATEWAY_JOB}"}}'
    )


def gateway_alerts(alert: AlertBuilder, max_streams: int) -> dict[str, Any]:
    """Every gateway down, POSTs refused for want of a broker, prompts delivered late, a gateway near its stream limit.

    :param max_streams: ``CES_GATEWAY_MAX_STREAMS``, the per-instance limit the last alert compares with.
    """
    near = int(max_streams * STREAMS_SHARE)
    return {
        "name": "ces-stream-gateway",
        "rules": [
            # Only where the job is scraped: a deployment without the gateway has no such `up`, and no alert.
            # One instance down is the load balancer's business: the others take its users.
            alert(
                "CesGatewayDown",
                f'max(up{{job="{GATEWAY_JOB}"}}) == 0',
                DOWN_FOR,
                "warning",
                "No gateway can be scraped.",
                "Not one of the "
                + _queried(f"count(up{{job='{GATEWAY_JOB}'}})")
                + " targets of job "
                + GATEWAY_JOB
                + " has been up for "
                + DOWN_FOR
                + ": apps that POST over HTTP cannot send goal events or answers, and their users get no live prompts.",
            ),
            alert(
                "CesGatewayUnavailable",
                f"{unavailable_share_query()}\n> {UNAVAILABLE_SHARE:g}",
                UNAVAILABLE_FOR,
                "warning",
                "The gateway answers many POSTs 503: the broker does not acknowledge.",
                "{{ $value | humanizePercentage }} of the POSTs to the gateways in the last "
                + UNAVAILABLE_WINDOW
                + " were answered 5xx (see ces_gateway_broker_unavailable_total): their records are not on the "
                "input topics until the apps send them again.",
            ),
            alert(
                "CesGatewayDeliveryLagHigh",
                f"{delivery_lag_p99_query()}\n> {LAG_P99_SECONDS:g}",
                LAG_FOR,
                "warning",
                "Survey prompts reach the users' open streams late.",
                "The 99th percentile of live prompt delivery (from the worker's decision to the write on the "
                "user's connection) over the last " + LAG_WINDOW + " is {{ $value | humanizeDuration }}.",
            ),
            alert(
                "CesGatewayStreamsNearLimit",
                f"{streams_query()}\n> {near}",
                STREAMS_FOR,
                "warning",
                "A gateway is close to its limit of open streams.",
                '{{ $labels.instance }} holds {{ $value | printf "%.0f" }} open streams and long-polls, of at most '
                + str(max_streams)
                + " (CES_GATEWAY_MAX_STREAMS): beyond it new ones are answered 503.",
            ),
        ],
    }
