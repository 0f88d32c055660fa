"""One record of ``ces.high-effort-answers`` taken all the way: delivered (2xx) or dead-lettered.

:meth:`Delivery.deliver` returns True only then, and the caller commits the record's offset only
after that; it returns False when a stop came first (the record is read again by the next run).
Every wait (a goal's next token, the next attempt, the dead-letter topic coming back) is a wait on
the stop event, so a stop ends it at once and no wait spins.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka.errors import KafkaError

from schemas import DeadLetterReason
from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.feed import (
    NO_GOAL,
    Delivered,
    FeedFormat,
    GiveUp,
    GoalRateLimits,
    Response,
    RetryLater,
    RetryPolicy,
    goal_label,
    read_answer,
    request_body,
    request_headers,
)
from stream.ces.intake import Rejection, dead_letter
from stream.observability.metrics import FeedWebhookMetrics

log = logging.getLogger(__name__)
# Wait between two attempts to write a dead letter while the broker does not take it.
DEAD_LETTER_RETRY_S = 2.0
DEAD_LETTER_TIMEOUT_S = 10.0


class Record(Protocol):
    """What a delivery uses of a kafka-python ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class Poster(Protocol):
    def post(self, body: bytes, headers: dict[str, str]) -> Response: ...


class Producer(Protocol):
    """What a delivery uses of a kafka-python KafkaProducer."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...


class SharedRateLimits:
    """:class:`GoalRateLimits` for the delivery threads of all partitions (a goal's records may move between them)."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = GoalRateLimits(per_minute)
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, goal: str) -> float:
        with self._lock:
            return self._limits.take(goal, self._clock())


class Delivery:
    """Delivers records one at a time; one instance serves every partition's thread.

    :param registry_goals: slug -> display name of every goal in the registry.
    """

    def __init__(
        self,
        *,
        poster: Poster,
        producer: Producer,
        dead_letter_topic: str,
        feed_format: FeedFormat,
        policy: RetryPolicy,
        limits: SharedRateLimits,
        metrics: FeedWebhookMetrics,
        registry_goals: Mapping[str, str],
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.poster = poster
        self.producer = producer
        self.dead_letter_topic = dead_letter_topic
        self.feed_format = feed_format
        self.policy = policy
        self.limits = limits
        self.metrics = metrics
        self.registry_goals = registry_goals
        self.max_bytes = max_bytes
        self.clock = clock
        self.rng = rng

    def deliver(self, record: Record, stop: threading.Event) -> bool:
        """Deliver or dead-letter ``record``: True when done, False when ``stop`` came first."""
        answer = read_answer(record.value, self.max_bytes)
        if isinstance(answer, Rejection):
            return self.send_dead_letter(record, answer, NO_GOAL, stop)
        label = goal_label(answer.goal, self.registry_goals)
        try:
            body = request_body(answer, self.feed_format, self.registry_goals.get(answer.goal))
        except Exception as exc:  # a bug in the message: keep the record, not the process
            log.exception("feed webhook: could not build the message of %s", position(record))
            return self.send_dead_letter(record, Rejection(DeadLetterReason.processing_error, repr(exc)), label, stop)
        if not self.wait_for_token(answer.goal, stop):
            return False
        return self.post_until_done(record, answer, body, label, stop)

    def wait_for_token(self, goal: str, stop: threading.Event) -> bool:
        """Wait until ``goal`` may send (its token bucket): False when stopped first."""
        wait_s = self.limits.take(goal)
        if wait_s <= 0:
            return True
        gauge = self.metrics.waiting.labels("rate_limited")
        gauge.inc()
        try:
            while wait_s > 0:
                if stop.wait(wait_s):
                    return False
                wait_s = self.limits.take(goal)
            return True
        finally:
            gauge.dec()

    def post_until_done(
        self, record: Record, answer: HighEffortAnswer, body: bytes, label: str, stop: threading.Event
    ) -> bool:
        """POST until the webhook takes it or the policy gives up (then dead-letter): False when stopped first."""
        headers = request_headers(answer)
        first_attempt = self.clock()
        attempts = 0
        while not stop.is_set():
            response = self.poster.post(body, headers)
            attempts += 1
            decision = self.policy.decide(
                response,
                failures=attempts,
                elapsed_s=self.clock() - first_attempt,
                now=datetime.now(UTC),
                jitter=self.rng(),
            )
            if isinstance(decision, Delivered):
                self.metrics.delivered.labels(label).inc()
                if record.timestamp > 0:  # -1: the record has no time
                    self.metrics.delivery_latency.observe(max(0.0, time.time() - record.timestamp / 1000))
                return True
            if isinstance(decision, GiveUp):
                log.warning(
                    "feed webhook: %s of goal %s dead-lettered as %s: %s",
                    position(record),
                    answer.goal,
                    decision.reason.value,
                    decision.detail,
                )
                return self.send_dead_letter(record, Rejection(decision.reason, decision.detail), label, stop)
            if not self.wait_to_retry(decision, label, stop):
                return False
        return False

    def wait_to_retry(self, decision: RetryLater, label: str, stop: threading.Event) -> bool:
        self.metrics.retries.labels(label).inc()
        # One line per kind and CES_LOG_REPEAT_SECONDS (RepeatLimit): an outage does not flood the log.
        log.warning("feed webhook: a POST failed (%s); trying again", decision.cause)
        gauge = self.metrics.waiting.labels("retrying")
        gauge.inc()
        try:
            return not stop.wait(decision.delay_s)
        finally:
            gauge.dec()

    def send_dead_letter(self, record: Record, rejection: Rejection, label: str, stop: threading.Event) -> bool:
        """Write the record's dead letter and wait until Kafka has it (retried while it does not): False when stopped."""
        letter = dead_letter(
            rejection,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            received_at_s=time.time(),
        )
        while not stop.is_set():
            try:
                future = self.producer.send(
                    self.dead_letter_topic, key=letter.kafka_key().encode(), value=letter.model_dump_json().encode()
                )
                future.get(timeout=DEAD_LETTER_TIMEOUT_S)
            except KafkaError as exc:
                log.warning("feed webhook: the dead letter could not be written (%s); trying again", type(exc).__name__)
                stop.wait(DEAD_LETTER_RETRY_S)
                continue
            self.metrics.dead_letters.labels(label, rejection.reason.value).inc()
            return True
        return False


def position(record: Record) -> str:
    """``topic:partition@offset`` of a record, for the log (never its content)."""
    return f"{record.topic}:{record.partition}@{record.offset}"
