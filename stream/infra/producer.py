"""A small producer helper for Python apps: the right key, serialisation and topic.

Example::

    from kafka import KafkaProducer
    from stream.infra.producer import emit_goal_event, make_producer

    producer = make_producer("127.0.0.1:29092")
    emit_goal_event(producer, GoalEvent(...))
    producer.flush()
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from schemas import GoalEvent, PromptEvent, SurveyAnswer

DEFAULT_GOAL_EVENTS_TOPIC = "ces.goal-events"
DEFAULT_ANSWERS_TOPIC = "ces.survey-answers"
DEFAULT_PROMPT_EVENTS_TOPIC = "ces.prompt-events"


def make_producer(bootstrap: str | list[str], **options: Any) -> KafkaProducer:
    """A kafka-python producer with safe defaults (idempotent, acks=all, lz4)."""
    options.setdefault("compression_type", "lz4")
    options.setdefault("linger_ms", 5)
    return KafkaProducer(bootstrap_servers=bootstrap, **options)


def _send(producer: KafkaProducer, topic: str, user_id: str, value: bytes) -> Any:
    # Keyed by the user id: ces-stream re-keys by its own pseudonymous id anyway,
    # but a key keeps one user's events in order within the input topic.
    return producer.send(topic, key=user_id.encode(), value=value)


def emit_goal_event(producer: KafkaProducer, event: GoalEvent, topic: str = DEFAULT_GOAL_EVENTS_TOPIC) -> Any:
    """Send one goal event; returns kafka-python's send future."""
    return _send(producer, topic, event.user_id, event.model_dump_json().encode())


def emit_answer(producer: KafkaProducer, answer: SurveyAnswer, topic: str = DEFAULT_ANSWERS_TOPIC) -> Any:
    """Send one survey answer; returns kafka-python's send future."""
    return _send(producer, topic, answer.user_id, answer.model_dump_json().encode())


def emit_prompt_event(producer: KafkaProducer, event: PromptEvent, topic: str = DEFAULT_PROMPT_EVENTS_TOPIC) -> Any:
    """Send one prompt event (a prompt shown or dismissed); returns kafka-python's send future."""
    return _send(producer, topic, event.user_id, event.model_dump_json().encode())
