"""promtool unit tests of the feed webhook's alerts (:mod:`stream.observability.feed_rules`).

Each alert is silent one evaluation before its ``for`` has passed and firing right at it, next to
series that must not count: the workers' ``up``, bad input dead-lettered (``not_json``, the
producer's fault, not the webhook's) and records waiting for their goal's rate limit. Used by
:mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.observability import feed_rules as f
from stream.observability.rule_test_cases import AlertCases, input_series

FEED_INSTANCE = {"job": f.FEED_JOB, "instance": "feed-webhook-0:6067"}
# From minute 1 on, 2 records wait for their next attempt, except while an attempt is in flight (0 every
# other minute): the alert must hold through those.
RETRYING_WITH_ATTEMPTS = "0 " + "2 0 " * 20


def feed_series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in {**labels, **FEED_INSTANCE}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def waiting(state: str, values: str) -> dict[str, str]:
    return feed_series("ces_feed_webhook_waiting_records", values, state=state)


class FeedAlertTests(AlertCases):
    """The feed webhook's alert tests."""

    def feed_dead_letters(self, reason: str, values: str, goal: str | None = None) -> dict[str, str]:
        goal = goal or self.registry.goals[0].slug
        return feed_series("ces_feed_webhook_dead_letters_total", values, goal=goal, reason=reason)

    def feed_webhook_down(self) -> dict[str, Any]:
        """The feed's target down fires with its instance; a worker down is not the feed's alert."""
        return self.case(
            "CesFeedWebhookDown",
            "warning",
            [feed_series("up", "0x10"), input_series("up", "0x10")],
            FEED_INSTANCE,
            f"{FEED_INSTANCE['instance']} has been down for {f.DOWN_FOR}: high-effort answers wait in "
            "ces.high-effort-answers and reach the webhook once it is back, if within the topic's retention.",
            name="CesFeedWebhookDown: the feed's target, not a worker's",
        )

    def feed_webhook_refusing(self) -> dict[str, Any]:
        """One refusal from minute 1 fires; bad input dead-lettered all along does not."""
        return self.case(
            "CesFeedWebhookRefusing",
            "warning",
            [
                self.feed_dead_letters("undeliverable", "0 1x20"),
                self.feed_dead_letters("not_json", "0+5x20", goal="(none)"),
            ],
            {},
            "High-effort answers refused by the webhook in the last 15m (a 4xx or a redirect) and dead-lettered "
            "as undeliverable: 1. A wrong or revoked URL refuses them all: fix the cause, then produce them again "
            "from ces.dead-letter.",
            start_min=1,
            name="CesFeedWebhookRefusing: a refusal, not bad input",
        )

    def _stuck(self, name: str, series: list[dict[str, str]], retrying: int, timed_out: int) -> dict[str, Any]:
        return self.case(
            "CesFeedWebhookStuck",
            "warning",
            series,
            {},
            f"For {f.STUCK_FOR} the webhook has kept failing (no answer, timeouts, 5xx, 408 or 429): up to "
            f"{retrying} records waiting for their next attempt in the last {f.RETRYING_LOOKBACK}, {timed_out} "
            f"dead-lettered as delivery_timed_out in the last {f.TIMED_OUT_WINDOW}. Each waiting record holds back "
            "the later ones of its partition.",
            start_min=1,
            name=name,
        )

    def feed_webhook_stuck(self) -> list[dict[str, Any]]:
        """Records retrying (through attempts in flight) fire; records waiting for their rate limit do not; a
        record given up on fires too."""
        return [
            self._stuck(
                "CesFeedWebhookStuck: retrying through attempts in flight, not rate-limited",
                [
                    waiting("retrying", RETRYING_WITH_ATTEMPTS),
                    waiting("rate_limited", "5x40"),
                    self.feed_dead_letters("delivery_timed_out", "0x40"),
                ],
                retrying=2,
                timed_out=0,
            ),
            self._stuck(
                "CesFeedWebhookStuck: a record dead-lettered as delivery_timed_out",
                [waiting("retrying", "0x40"), self.feed_dead_letters("delivery_timed_out", "0 1x40")],
                retrying=0,
                timed_out=1,
            ),
        ]

    def feed_webhook(self) -> list[dict[str, Any]]:
        return [self.feed_webhook_down(), self.feed_webhook_refusing(), *self.feed_webhook_stuck()]
