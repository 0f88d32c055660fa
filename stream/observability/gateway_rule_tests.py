"""promtool unit tests of the gateway's alerts (:mod:`stream.observability.gateway_rules`).

Each alert is silent one evaluation before its ``for`` has passed and firing right at it; and a
case just on the other side of its threshold stays silent all along (one gateway of two down, 4 %
of the POSTs 503, a p99 just under a second, 17 900 streams of 20 000). Used by
:mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.observability import gateway_rules as g
from stream.observability.rule_test_cases import AlertCases, input_series

GATEWAY_A = {"job": g.GATEWAY_JOB, "instance": "gateway-a:6069"}
GATEWAY_B = {"job": g.GATEWAY_JOB, "instance": "gateway-b:6069"}
QUIET_MINUTES = (5, 10, 20, 30)


def gateway_series(name: str, values: str, instance: dict[str, str] = GATEWAY_A, **labels: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in {**labels, **instance}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def requests(endpoint: str, status: str, values: str) -> dict[str, str]:
    return gateway_series("ces_gateway_requests_total", values, endpoint=endpoint, status=status)


def lag_buckets(per_minute: dict[str, int], minutes: int = 40) -> list[dict[str, str]]:
    """Cumulative buckets of ces_gateway_delivery_lag_seconds: ``per_minute`` observations per bucket bound."""
    series, total = [], 0
    for le in ("0.25", "0.5", "1", "2.5", "5", "+Inf"):
        total += per_minute.get(le, 0)
        series.append(
            gateway_series("ces_gateway_delivery_lag_seconds_bucket", f"0+{total}x{minutes}", le=le, via="stream")
        )
    return series


class GatewayAlertTests(AlertCases):
    """The gateway's alert tests."""

    def silent_case(self, alert: str, series: list[dict[str, str]], name: str) -> dict[str, Any]:
        """``series`` stay on the silent side of ``alert``'s threshold: no alert at any evaluation."""
        return {
            "name": name,
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": f"{m}m", "alertname": alert, "exp_alerts": []} for m in QUIET_MINUTES],
        }

    def gateway_down(self) -> list[dict[str, Any]]:
        return [
            self.case(
                "CesGatewayDown",
                "warning",
                [
                    gateway_series("up", "0x10"),
                    gateway_series("up", "0x10", GATEWAY_B),
                    input_series("up", "1x10"),
                ],
                {},
                f"Not one of the 2 targets of job {g.GATEWAY_JOB} has been up for {g.DOWN_FOR}: apps that POST over HTTP cannot "
                "send goal events or answers, and their users get no live prompts.",
                name="CesGatewayDown: every gateway down",
            ),
            self.silent_case(
                "CesGatewayDown",
                [gateway_series("up", "0x40"), gateway_series("up", "1x40", GATEWAY_B)],
                "CesGatewayDown: one gateway of two down is not",
            ),
        ]

    def gateway_unavailable(self) -> list[dict[str, Any]]:
        # A stream refused at the connection limit (503 on prompts-stream) is not the broker's: never counted.
        limit = requests("prompts-stream", "503", "0+500x40")
        return [
            self.case(
                "CesGatewayUnavailable",
                "warning",
                [requests("goal-events", "503", "0+6x20"), requests("goal-events", "202", "0+54x20"), limit],
                {},
                f"10% of the POSTs to the gateways in the last {g.UNAVAILABLE_WINDOW} were answered 5xx (see "
                "ces_gateway_broker_unavailable_total): their records are not on the input topics until the apps "
                "send them again.",
                start_min=1,
                name="CesGatewayUnavailable: 10% of the POSTs 503",
            ),
            self.silent_case(
                "CesGatewayUnavailable",
                [requests("goal-events", "503", "0+4x40"), requests("answers", "202", "0+96x40"), limit],
                "CesGatewayUnavailable: 4% of the POSTs and streams at their limit are not",
            ),
        ]

    def gateway_delivery_lag(self) -> list[dict[str, Any]]:
        return [
            self.case(
                "CesGatewayDeliveryLagHigh",
                "warning",
                lag_buckets({"2.5": 60}),
                {},
                "The 99th percentile of live prompt delivery (from the worker's decision to the write on the user's "
                f"connection) over the last {g.LAG_WINDOW} is 2.485s.",
                start_min=1,
                name="CesGatewayDeliveryLagHigh: every prompt between 1 and 2.5 s",
            ),
            self.silent_case(
                "CesGatewayDeliveryLagHigh",
                lag_buckets({"0.25": 600, "1": 60}),
                "CesGatewayDeliveryLagHigh: a p99 just under a second is not",
            ),
        ]

    def gateway_streams(self) -> list[dict[str, Any]]:
        limit = self.settings.gateway_max_streams
        near = int(limit * g.STREAMS_SHARE)
        return [
            self.case(
                "CesGatewayStreamsNearLimit",
                "warning",
                [
                    gateway_series("ces_gateway_open_streams", f"{near + 400}x10"),
                    gateway_series("ces_gateway_waiting_polls", "100x10"),
                    gateway_series("ces_gateway_open_streams", f"{near - 1000}x10", GATEWAY_B),
                    gateway_series("ces_gateway_waiting_polls", "900x10", GATEWAY_B),
                ],
                GATEWAY_A,
                f"{GATEWAY_A['instance']} holds {near + 500} open streams and long-polls, of at most {limit} "
                "(CES_GATEWAY_MAX_STREAMS): beyond it new ones are answered 503.",
                name="CesGatewayStreamsNearLimit: the gateway near its limit, not the other",
            ),
            self.silent_case(
                "CesGatewayStreamsNearLimit",
                [
                    gateway_series("ces_gateway_open_streams", f"{near}x40"),
                    gateway_series("ces_gateway_waiting_polls", "0x40"),
                ],
                "CesGatewayStreamsNearLimit: exactly at the threshold is not",
            ),
        ]

    def gateway(self) -> list[dict[str, Any]]:
        return [
            *self.gateway_down(),
            *self.gateway_unavailable(),
            *self.gateway_delivery_lag(),
            *self.gateway_streams(),
        ]
