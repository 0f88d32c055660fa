"""Foundation: kafka-python produces goal events to the real broker; /metrics counts them exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas import Channel, GoalEvent, GoalEventType
from stream.infra.producer import emit_goal_event, make_producer
from stream.infra.topics import create_topics
from stream.settings import load_settings
from tests.harness import wait_until

pytestmark = pytest.mark.integration


def goal_event(goal: str, event_type: GoalEventType, user: str) -> GoalEvent:
    return GoalEvent(
        event_id=uuid.uuid4(),
        type=event_type,
        goal=goal,
        user_id=user,
        occurred_at=datetime.now(UTC),
        channel=Channel.web,
        locale="en",
    )


def test_goal_events_are_counted_per_goal_and_type(unique_env, start_worker):
    settings = load_settings(**{k[4:].lower(): v for k, v in unique_env.items()})
    assert set(create_topics(settings).values()) == {"created"}
    worker = start_worker(unique_env)
    assert worker.health()[1]["ready"] is True
    assert worker.metric("ces_goal_events_total", goal="file-claim", type="completed") == 0.0

    sent = {
        ("file-claim", GoalEventType.completed): 37,
        ("file-claim", GoalEventType.started): 12,
        ("view-policy", GoalEventType.abandoned): 5,
    }
    producer = make_producer(settings.kafka_bootstrap)
    for (goal, event_type), count in sent.items():
        for i in range(count):
            emit_goal_event(producer, goal_event(goal, event_type, f"user-{i}"), topic=settings.topic_goal_events)
    producer.flush()
    producer.close()

    for (goal, event_type), count in sent.items():
        wait_until(
            lambda: worker.metric("ces_goal_events_total", goal=goal, type=event_type.value) == count,
            timeout_s=60,
            what=f"{goal}/{event_type.value} to reach {count}",
        )
    # Nothing else was counted, and nothing went to the dead-letter topic.
    assert worker.metric("ces_goal_events_total", goal="download-invoice", type="completed") == 0.0
    assert worker.metric("ces_events_invalid_total", topic=settings.topic_goal_events, reason="not_json") == 0.0
