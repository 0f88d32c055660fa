"""Intake stage: validate every input record, dead-letter the bad ones, re-key the good ones.

Goal events and answers arrive keyed by whatever the producing app chose, with
whatever partitioner its client uses. Valid records are forwarded, unchanged,
to ``<app_id>-user-events`` keyed by the pseudonymous user and partitioned by
our own function, so the user stage sees each user's events in order on one
partition whatever client produced them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from schemas import DeadLetterReason, GoalEvent
from stream.agents.glue import BatchSender, ContinuityGuard, ack, batches
from stream.envelope import Envelope, EnvelopeKind
from stream.pseudonym import partition_for, pseudonymise
from stream.validation import Rejection, dead_letter, validate_answer, validate_goal_event

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)


def register(p: "Pipeline") -> None:
    s = p.settings
    key = s.pseudonym_key.get_secret_value().encode()
    partitions = s.topic_partitions
    goal_topic = s.topic_goal_events
    metrics = p.metrics

    dead_letter_topic = s.topic_dead_letter
    user_events = p.user_events_topic.get_topic_name()

    def reject(out: BatchSender, message: Any, rejection: Rejection, now_s: float) -> None:
        letter = dead_letter(
            rejection, topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key, value=message.value, received_at_s=now_s,
        )
        out.add(dead_letter_topic, message.topic.encode(), letter.model_dump_json().encode())
        metrics.events_invalid.labels(message.topic, rejection.reason.value).inc()

    def forward(out: BatchSender, message: Any, kind: EnvelopeKind, user_id: str) -> None:
        user_ref = pseudonymise(user_id, key)
        envelope = Envelope(kind, message.topic, message.partition, message.offset, message.key, message.value)
        out.add(user_events, user_ref.encode(), envelope.encode(), partition_for(user_ref, partitions))

    guard = ContinuityGuard(p.app, p.record_reader, metrics)

    @p.app.agent(p.inputs_topic, name=f"{s.app_id}.intake")
    async def intake(stream: Any) -> None:
        async for events in batches(stream, s.batch_max_events, s.batch_linger_seconds, guard=guard):
            now_s = time.time()
            out = BatchSender(p.app)
            for event in events:
                message = event.message
                try:
                    if message.topic == goal_topic:
                        result: Any = validate_goal_event(message.value, message.timestamp, p.known_goals, p.limits)
                        kind = EnvelopeKind.goal_event
                    else:
                        result = validate_answer(message.value, message.timestamp, p.known_goals, p.limits)
                        kind = EnvelopeKind.answer
                    if isinstance(result, Rejection):
                        reject(out, message, result, now_s)
                        continue
                    forward(out, message, kind, result.user_id)
                    if isinstance(result, GoalEvent):
                        metrics.goal_events.labels(result.goal, result.type.value).inc()
                except Exception as exc:  # never let one record stop the worker
                    log.exception("intake failed on %s:%s@%s", message.topic, message.partition, message.offset)
                    reject(out, message, Rejection(DeadLetterReason.processing_error, f"internal error: {exc!r}"), now_s)
                metrics.last_event.labels(message.topic).set(now_s)
            # The batch is acked after this body: only once its records are in Kafka.
            await out.send()
            ack(events)
