"""The alerts on ``ces-stream feed-webhook``: the process that delivers ``ces.high-effort-answers`` to a webhook.

Like the workers' pipeline alerts they belong to the platform: no ``goal`` and no ``team`` (a wrong
webhook URL fails every goal at once; ``sum by (goal)`` of the metrics tells which goals are hit).
None pages: an answer the feed does not deliver waits in its topic or in ``ces.dead-letter``, from
where it can be produced again (``deploy/runbook.md``). Included by :func:`stream.observability.rules.rule_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FEED_JOB = "ces-stream-feed-webhook"
"""The scrape job of the feed webhook's ``/metrics``: deploy/prometheus/prometheus.yml and deploy/k8s/podmonitor-feed-webhook.yaml."""

DOWN_FOR = "5m"
REFUSED_WINDOW = "15m"
REFUSING_FOR = "1m"
STUCK_FOR = "15m"
# Any sample of the last 5 minutes: the gauge is 0 while an attempt is in flight (up to
# CES_FEED_WEBHOOK_TIMEOUT_SECONDS, at most 120 s), between waits of up to 60 s, so an outage of a
# webhook that hangs would otherwise break the `for` at every evaluation that falls on an attempt.
RETRYING_LOOKBACK = "5m"
# A record gives up after CES_FEED_WEBHOOK_GIVE_UP_SECONDS; its dead letter keeps the alert up this long.
TIMED_OUT_WINDOW = "1h"

AlertBuilder = Callable[[str, str, str, str, str, str], dict[str, Any]]
"""``rules._alert``: (name, expr, for, severity, summary, description) -> the rule with its runbook link."""


def retrying_query() -> str:
    """Records waiting for their next attempt: the most of the lookback, summed over the feed's processes."""
    return f'sum(max_over_time(ces_feed_webhook_waiting_records{{state="retrying"}}[{RETRYING_LOOKBACK}]))'


def dead_letters_query(reason: str, window: str) -> str:
    return f'sum(increase(ces_feed_webhook_dead_letters_total{{reason="{reason}"}}[{window}]))'


def _queried(expr: str) -> str:
    """Alert template text: the value of ``expr`` now, as a whole number (templates may query)."""
    quoted = expr.replace('"', "'")
    return f'{{{{ with query "{quoted}" }}}}{{{{ . | first | value | printf "%.0f" }}}}{{{{ end }}}}'


def feed_webhook_alerts(alert: AlertBuilder) -> dict[str, Any]:
    """The feed webhook down, refused for good by the webhook, or stuck retrying."""
    retrying = retrying_query()
    timed_out = dead_letters_query("delivery_timed_out", TIMED_OUT_WINDOW)
    return {
        "name": "ces-stream-feed-webhook",
        "rules": [
            # Only where the job is scraped: a deployment without the feed has no such `up`, and no alert.
            alert(
                "CesFeedWebhookDown",
                f'up{{job="{FEED_JOB}"}} == 0',
                DOWN_FOR,
                "warning",
                "The feed webhook cannot be scraped.",
                "{{ $labels.instance }} has been down for " + DOWN_FOR + ": high-effort answers wait in "
                "ces.high-effort-answers and reach the webhook once it is back, if within the topic's retention.",
            ),
            # A healthy webhook never refuses a record: one refusal is a fault, not noise.
            alert(
                "CesFeedWebhookRefusing",
                f"{dead_letters_query('undeliverable', REFUSED_WINDOW)} > 0",
                REFUSING_FOR,
                "warning",
                "The feed webhook refuses high-effort answers for good.",
                "High-effort answers refused by the webhook in the last " + REFUSED_WINDOW + " (a 4xx or a redirect) "
                'and dead-lettered as undeliverable: {{ $value | printf "%.0f" }}. A wrong or revoked URL refuses them '
                "all: fix the cause, then produce them again from ces.dead-letter.",
            ),
            alert(
                "CesFeedWebhookStuck",
                f"{retrying} > 0\nor\n{timed_out} > 0",
                STUCK_FOR,
                "warning",
                "The feed webhook keeps failing to deliver high-effort answers.",
                "For " + STUCK_FOR + " the webhook has kept failing (no answer, timeouts, 5xx, 408 or 429)"
                ": up to "
                + _queried(retrying)
                + " records waiting for their next attempt in the last "
                + RETRYING_LOOKBACK
                + ", "
                + _queried(timed_out)
                + " dead-lettered as delivery_timed_out in the last "
                + TIMED_OUT_WINDOW
                + ". Each waiting record holds back the later ones of its partition.",
            ),
        ],
    }
