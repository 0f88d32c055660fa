"""One record taken all the way: delivered, retried, rate limited, dead-lettered, or left for the next run on a stop.

The webhook, the producer and the waits are fakes: every wait is recorded instead of slept.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from schemas import DeadLetter, DeadLetterReason
from schemas.examples import example_payload
from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.feed import NO_GOAL, OTHER_GOAL, Response, RetryPolicy
from stream.observability.metrics import FeedWebhookMetrics
from stream.tools.feed_webhook import delivery as delivery_module
from stream.tools.feed_webhook.delivery import DEAD_LETTER_RETRY_S, Delivery, SharedRateLimits

GOAL = "download-invoice"
EXAMPLE = example_payload(HighEffortAnswer)
POLICY = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=60.0, give_up_s=3600.0)


@dataclass
class FakeRecord:
    value: bytes | None
    offset: int = 7
    topic: str = "ces.high-effort-answers"
    partition: int = 2
    timestamp: int = 0
    key: bytes | None = GOAL.encode()


def record(offset: int = 7, timestamp: int = 0, **fields: Any) -> FakeRecord:
    return FakeRecord(json.dumps({**EXAMPLE, **fields}).encode(), offset=offset, timestamp=timestamp)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStop:
    """A stop event whose waits are recorded and pass the fake clock's time; it is set after ``stop_after`` waits."""

    def __init__(self, clock: FakeClock, stop_after: int | None = None, during_wait: Any = None) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self.stop_after = stop_after
        self.during_wait = during_wait
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "a delivery never waits without a bound"
        self.waits.append(timeout)
        if self.during_wait is not None:
            self.during_wait()
        self.clock.now += timeout
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self._set = True
        return self._set


@dataclass
class FakeWebhook:
    responses: list[Response]
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        self.posts.append((body, headers))
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class FakeProducer:
    failures: int = 0
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        if self.failures:
            self.failures -= 1
            return FakeFuture(KafkaTimeoutError("no broker"))
        assert value is not None and key is not None
        self.sent.append((topic, key, value))
        return FakeFuture(None)

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(value) for _, _, value in self.sent]


@dataclass
class Setup:
    delivery: Delivery
    webhook: FakeWebhook
    producer: FakeProducer
    metrics: FeedWebhookMetrics
    clock: FakeClock

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


def make(*responses: Response, per_minute: float = 0, producer_failures: int = 0, feed_format: Any = "slack") -> Setup:
    clock = FakeClock()
    metrics = FeedWebhookMetrics([GOAL])
    webhook = FakeWebhook(list(responses) or [Response(200)])
    producer = FakeProducer(failures=producer_failures)
    delivery = Delivery(
        poster=webhook,
        producer=producer,
        dead_letter_topic="ces.dead-letter",
        feed_format=feed_format,
        policy=POLICY,
        limits=SharedRateLimits(per_minute, clock=clock),
        metrics=metrics,
        registry_goals={GOAL: "Download invoice"},
        max_bytes=65536,
        clock=clock,
        rng=lambda: 0.0,
    )
    return Setup(delivery, webhook, producer, metrics, clock)


def test_a_record_the_webhook_takes_is_done_and_counted():
    setup = make(Response(200))
    written_ms = int(time.time() * 1000) - 2000  # the worker wrote it two seconds ago
    assert setup.delivery.deliver(record(timestamp=written_ms), FakeStop(setup.clock))
    ((body, headers),) = setup.webhook.posts
    assert headers["Idempotency-Key"] == EXAMPLE["answer_id"]
    assert json.loads(body)["blocks"][0]["text"]["text"] == "High-effort CES answer: Download invoice"
    assert setup.value("ces_feed_webhook_delivered_total", goal=GOAL) == 1
    assert setup.value("ces_feed_webhook_delivery_latency_seconds_count") == 1
    assert 2.0 <= setup.value("ces_feed_webhook_delivery_latency_seconds_sum") < 10
    assert setup.producer.sent == []
    # A record without a time (-1) is delivered, but says nothing about latency.
    assert setup.delivery.deliver(record(timestamp=-1), FakeStop(setup.clock))
    assert setup.value("ces_feed_webhook_delivery_latency_seconds_count") == 1


def test_the_json_format_posts_the_record():
    setup = make(Response(204), feed_format="json")
    assert setup.delivery.deliver(record(), FakeStop(setup.clock))
    assert HighEffortAnswer.model_validate_json(setup.webhook.posts[0][0]) == HighEffortAnswer.model_validate(EXAMPLE)


def test_passing_failures_are_retried_with_backoff_and_retry_after_until_it_is_taken():
    setup = make(
        Response(500),
        Response(None, error="connection refused"),
        Response(429, retry_after="7"),
        Response(200),
    )
    stop = FakeStop(setup.clock)
    assert setup.delivery.deliver(record(), stop)
    assert stop.waits == [0.5, 1.0, 7.0]  # backoff 1 s then 2 s at jitter 0 (half), then as asked
    assert len(setup.webhook.posts) == 4
    assert {headers["Idempotency-Key"] for _, headers in setup.webhook.posts} == {EXAMPLE["answer_id"]}
    assert setup.value("ces_feed_webhook_retries_total", goal=GOAL) == 3
    assert setup.value("ces_feed_webhook_delivered_total", goal=GOAL) == 1
    assert setup.value("ces_feed_webhook_waiting_records", state="retrying") == 0


def test_a_refusal_is_dead_lettered_at_once_with_the_original_bytes_and_the_status():
    setup = make(Response(400, body=b"invalid_blocks"))
    original = record(offset=42)
    assert setup.delivery.deliver(original, FakeStop(setup.clock))
    assert len(setup.webhook.posts) == 1
    ((topic, key, _),) = setup.producer.sent
    (letter,) = setup.producer.letters()
    assert (topic, key) == ("ces.dead-letter", b"ces.high-effort-answers")
    assert letter.reason is DeadLetterReason.undeliverable
    assert letter.detail == "the webhook refused it: HTTP 400: invalid_blocks"
    assert letter.original_bytes() == original.value
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("ces.high-effort-answers", 2, 42)
    assert letter.source_key_bytes() == GOAL.encode()
    assert setup.value("ces_feed_webhook_dead_letters_total", goal=GOAL, reason="undeliverable") == 1
    assert setup.value("ces_feed_webhook_delivered_total", goal=GOAL) == 0


def test_a_record_still_failing_at_the_give_up_time_is_dead_lettered_as_timed_out():
    setup = make(Response(503, body=b"maintenance"))
    stop = FakeStop(setup.clock)
    assert setup.delivery.deliver(record(), stop)
    assert sum(stop.waits) == pytest.approx(POLICY.give_up_s)  # the last attempt falls on the give-up time
    (letter,) = setup.producer.letters()
    assert letter.reason is DeadLetterReason.delivery_timed_out
    assert letter.detail.startswith(f"gave up after {len(setup.webhook.posts)} attempts in 3600 s")
    assert letter.detail.endswith("last: HTTP 503: maintenance")
    assert setup.value("ces_feed_webhook_dead_letters_total", goal=GOAL, reason="delivery_timed_out") == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"not json", DeadLetterReason.not_json), (b'{"goal": "download-invoice"}', DeadLetterReason.schema_violation)],
)
def test_a_value_that_is_no_high_effort_answer_is_dead_lettered_without_a_post(value, reason):
    setup = make()
    assert setup.delivery.deliver(FakeRecord(value), FakeStop(setup.clock))
    assert setup.webhook.posts == []
    (letter,) = setup.producer.letters()
    assert (letter.reason, letter.original_bytes()) == (reason, value)
    assert setup.value("ces_feed_webhook_dead_letters_total", goal=NO_GOAL, reason=reason.value) == 1


def test_a_goal_the_registry_does_not_know_is_delivered_and_counted_as_other():
    setup = make()
    assert setup.delivery.deliver(record(goal="a-new-goal"), FakeStop(setup.clock))
    assert setup.value("ces_feed_webhook_delivered_total", goal=OTHER_GOAL) == 1
    assert setup.value("ces_feed_webhook_delivered_total", goal="a-new-goal") is None


def test_a_goal_over_its_rate_waits_for_its_token_and_nothing_is_dropped():
    setup = make(per_minute=2)
    seen: list[float | None] = []
    stop = FakeStop(
        setup.clock,
        during_wait=lambda: seen.append(setup.value("ces_feed_webhook_waiting_records", state="rate_limited")),
    )
    assert all(setup.delivery.deliver(record(offset=n), stop) for n in range(4))
    assert stop.waits == [pytest.approx(30.0), pytest.approx(30.0)]  # the burst of 2, then one per 30 s
    assert seen == [1.0, 1.0]
    assert len(setup.webhook.posts) == 4
    assert setup.value("ces_feed_webhook_waiting_records", state="rate_limited") == 0


def test_a_stop_during_a_retry_wait_leaves_the_record_undone():
    setup = make(Response(500))
    stop = FakeStop(setup.clock, stop_after=2)
    assert not setup.delivery.deliver(record(), stop)
    assert len(setup.webhook.posts) == 2
    assert setup.producer.sent == []
    assert setup.value("ces_feed_webhook_delivered_total", goal=GOAL) == 0
    assert setup.value("ces_feed_webhook_waiting_records", state="retrying") == 0


def test_a_stop_during_the_rate_limit_wait_leaves_the_record_undone_and_unposted():
    setup = make(per_minute=1)
    assert setup.delivery.deliver(record(offset=1), FakeStop(setup.clock))
    assert not setup.delivery.deliver(record(offset=2), FakeStop(setup.clock, stop_after=1))
    assert len(setup.webhook.posts) == 1


def test_a_dead_letter_the_broker_does_not_take_is_tried_again_until_it_does():
    setup = make(Response(404), producer_failures=2)
    stop = FakeStop(setup.clock)
    assert setup.delivery.deliver(record(), stop)
    assert stop.waits == [DEAD_LETTER_RETRY_S, DEAD_LETTER_RETRY_S]
    assert len(setup.producer.letters()) == 1
    assert setup.value("ces_feed_webhook_dead_letters_total", goal=GOAL, reason="undeliverable") == 1


def test_a_stop_while_the_dead_letter_waits_for_the_broker_leaves_the_record_undone():
    setup = make(Response(404), producer_failures=100)
    assert not setup.delivery.deliver(record(), FakeStop(setup.clock, stop_after=3))
    assert setup.value("ces_feed_webhook_dead_letters_total", goal=GOAL, reason="undeliverable") == 0


def test_a_bug_in_the_message_dead_letters_the_record_as_a_processing_error(monkeypatch):
    def broken(*args: Any) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(delivery_module, "request_body", broken)
    setup = make()
    assert setup.delivery.deliver(record(), FakeStop(setup.clock))
    (letter,) = setup.producer.letters()
    assert letter.reason is DeadLetterReason.processing_error and "boom" in letter.detail
    assert setup.webhook.posts == []
