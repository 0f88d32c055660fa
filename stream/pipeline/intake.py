"""Intake stage: validate every input record, dead-letter the bad ones, re-key the good ones.

Goal events, answers and prompt events arrive keyed by whatever the producing app chose, with
whatever partitioner its client uses. Valid records are forwarded, unchanged,
to ``<app_id>-user-events`` keyed by the pseudonymous user and partitioned by
our own function, so the user stage sees each user's events in order on one
partition whatever client produced them. Erasure requests take the same way (without
their raw user id), so an erasure is ordered with the user's own events.
"""

from __future__ import annotations

import logging
import time

from faust.types import AppT, StreamT, TopicT

from schemas import DeadLetterReason, ErasureRequest, GoalEvent, PromptEvent, SurveyAnswer
from stream.ces.intake import (
    Envelope,
    EnvelopeKind,
    Limits,
    Rejection,
    dead_letter,
    erasure_payload,
    partition_for,
    pseudonymise,
    validate_answer,
    validate_erasure_request,
    validate_goal_event,
    validate_prompt_event,
)
from stream.observability.metrics import CesMetrics
from stream.pipeline.faust_internals import BatchSender, ContinuityGuard, ack, batches
from stream.pipeline.stage_helpers import stage_agent
from stream.pipeline.stage_types import Output, Record, required
from stream.settings import Settings

log = logging.getLogger(__name__)


class IntakeStage:
    """Validates every input in batches; forwards valid records re-keyed, dead-letters the rest.

    :param inputs: the Faust topic over every input topic.
    :param user_events_topic: name of ``<app_id>-user-events``.
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        metrics: CesMetrics,
        inputs: TopicT,
        user_events_topic: str,
        guard: ContinuityGuard,
        known_goals: frozenset[str],
        limits: Limits,
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.user_events_topic = user_events_topic
        self.guard = guard
        self.known_goals = known_goals
        self.limits = limits
        self.pseudonym_key = settings.pseudonym_key.get_secret_value().encode()
        self.goal_topic = settings.topic_goal_events
        self.erasure_topic = settings.topic_erasure_requests
        self.prompt_events_topic = settings.topic_prompt_events
        stage_agent(app, inputs, f"{settings.app_id}.intake", self.run)

    async def run(self, stream: StreamT[bytes]) -> None:
        s = self.settings
        async for events in batches(stream, s.batch_max_events, s.batch_linger_seconds, guard=self.guard):
            now_s = time.time()
            out = BatchSender(self.app)
            for event in events:
                self.take(out, event.message, now_s)
            # The batch is acked only once its records are in Kafka.
            await out.send()
            ack(events)

    def take(self, out: Output, message: Record, now_s: float) -> None:
        """Validate one input record and queue what it leads to: a forward or a dead letter."""
        try:
            if message.topic == self.goal_topic:
                result: GoalEvent | SurveyAnswer | PromptEvent | ErasureRequest | Rejection = validate_goal_event(
                    message.value, message.timestamp, self.known_goals, self.limits
                )
                kind = EnvelopeKind.goal_event
            elif message.topic == self.prompt_events_topic:
                result = validate_prompt_event(message.value, message.timestamp, self.known_goals, self.limits)
                kind = EnvelopeKind.prompt_event
            elif message.topic == self.erasure_topic:
                result = validate_erasure_request(message.value, self.limits)
                kind = EnvelopeKind.erasure
            else:
                result = validate_answer(message.value, message.timestamp, self.known_goals, self.limits)
                kind = EnvelopeKind.answer
            if isinstance(result, Rejection):
                self.reject(out, message, result, now_s)
                return  # an invalid record does not count as the topic's last processed event
            payload = erasure_payload(result) if isinstance(result, ErasureRequest) else None
            self.forward(out, message, kind, result.user_id, payload)
            if isinstance(result, GoalEvent):
                self.metrics.goal_events.labels(result.goal, result.type.value).inc()
        except Exception as exc:  # never let one record stop the worker
            log.exception("intake failed on %s:%s@%s", message.topic, message.partition, message.offset)
            self.reject(out, message, Rejection(DeadLetterReason.processing_error, f"internal error: {exc!r}"), now_s)
        self.metrics.last_event.labels(message.topic).set(now_s)

    def reject(self, out: Output, message: Record, rejection: Rejection, now_s: float) -> None:
        letter = dead_letter(
            rejection,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            received_at_s=now_s,
        )
        out.add(self.settings.topic_dead_letter, message.topic.encode(), letter.model_dump_json().encode())
        self.metrics.events_invalid.labels(message.topic, rejection.reason.value).inc()

    def forward(
        self, out: Output, message: Record, kind: EnvelopeKind, user_id: str, payload: bytes | None = None
    ) -> None:
        """Re-key one valid record by pseudonym.

        :param payload: replaces the record's value, and then its key (the raw user id of an erasure request) is
            not carried either.
        """
        user_ref = pseudonymise(user_id, self.pseudonym_key)
        value = payload or required(message.value, "value")  # validation rejects a record without one
        source_key = message.key if payload is None else None
        envelope = Envelope(
            kind, message.topic, message.partition, message.offset, source_key, value, message.timestamp
        )
        partition = partition_for(user_ref, self.settings.topic_partitions)
        out.add(self.user_events_topic, user_ref.encode(), envelope.encode(), partition)
