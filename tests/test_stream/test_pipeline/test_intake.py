"""Tests for stream.pipeline.intake.IntakeStage, broker-free: valid inputs are re-keyed and forwarded, the rest dead-lettered."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from schemas import DeadLetter, DeadLetterReason
from stream.ces.intake import Envelope, EnvelopeKind, Limits, partition_for, pseudonymise
from stream.infra.topics import user_events_topic
from stream.observability.metrics import CesMetrics
from stream.pipeline.intake import IntakeStage
from stream.settings import Settings
from tests.test_stream.test_pipeline.stage_fakes import FakeApp, FakeMessage, FakeTopic, RecordingSender, stand_in

NOW_S = 1_750_000_000.0
GOALS = frozenset({"download-invoice"})
SETTINGS = Settings(topic_partitions=6)
GOAL_TOPIC = SETTINGS.topic_goal_events
ANSWER_TOPIC = SETTINGS.topic_survey_answers
PROMPT_EVENT_TOPIC = SETTINGS.topic_prompt_events
USER_EVENTS = user_events_topic(SETTINGS)


def goal_event_bytes(user_id: str = "customer-4711", goal: str = "download-invoice") -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "completed",
            "goal": goal,
            "user_id": user_id,
            "occurred_at": datetime.fromtimestamp(NOW_S - 5, tz=UTC).isoformat(),
            "channel": "web",
            "locale": "nl",
        }
    ).encode()


def answer_bytes(user_id: str = "customer-4711") -> bytes:
    return json.dumps(
        {
            "answer_id": str(uuid.uuid4()),
            "prompt_id": str(uuid.uuid4()),
            "user_id": user_id,
            "goal": "download-invoice",
            "score": 4,
            "answered_at": datetime.fromtimestamp(NOW_S - 1, tz=UTC).isoformat(),
            "channel": "ios",
        }
    ).encode()


def prompt_event_bytes(user_id: str = "customer-4711") -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "dismissed",
            "prompt_id": str(uuid.uuid4()),
            "user_id": user_id,
            "goal": "download-invoice",
            "occurred_at": datetime.fromtimestamp(NOW_S - 1, tz=UTC).isoformat(),
            "channel": "web",
        }
    ).encode()


@pytest.fixture
def stage() -> IntakeStage:
    metrics = CesMetrics(goals=sorted(GOALS), input_topics=[GOAL_TOPIC, ANSWER_TOPIC], consumed_topics=[], targets={})
    limits = Limits(SETTINGS.max_event_bytes, SETTINGS.future_skew_seconds, SETTINGS.late_grace_seconds)
    app, inputs, guard = stand_in(FakeApp()), stand_in(FakeTopic(f"{GOAL_TOPIC}|{ANSWER_TOPIC}")), stand_in(None)
    return IntakeStage(app, SETTINGS, metrics, inputs, USER_EVENTS, guard, known_goals=GOALS, limits=limits)


def sample(metrics: CesMetrics, name: str, **labels: str) -> float:
    return metrics.sample_value(name, labels) or 0.0


def test_the_stage_registers_its_agent(stage: IntakeStage) -> None:
    assert list(stand_in(stage.app).agents) == [f"{SETTINGS.app_id}.intake"]


@pytest.mark.parametrize(
    ("topic", "value", "kind"),
    [
        (GOAL_TOPIC, goal_event_bytes(), EnvelopeKind.goal_event),
        (ANSWER_TOPIC, answer_bytes(), EnvelopeKind.answer),
        (PROMPT_EVENT_TOPIC, prompt_event_bytes(), EnvelopeKind.prompt_event),
    ],
    ids=["goal-event", "answer", "prompt-event"],
)
def test_a_valid_record_is_forwarded_unchanged_keyed_by_the_pseudonymous_user(
    stage: IntakeStage, topic: str, value: bytes, kind: EnvelopeKind
) -> None:
    out = RecordingSender()
    stage.take(out, FakeMessage(topic, 2, 41, NOW_S, b"app-chosen-key", value), NOW_S)

    assert out.topics() == {USER_EVENTS}
    [forwarded] = out.sent[USER_EVENTS]
    user_ref = pseudonymise("customer-4711", SETTINGS.pseudonym_key.get_secret_value().encode())
    assert forwarded.key == user_ref.encode()
    assert forwarded.partition == partition_for(user_ref, SETTINGS.topic_partitions)
    assert forwarded.value is not None
    assert Envelope.decode(forwarded.value) == Envelope(kind, topic, 2, 41, b"app-chosen-key", value, NOW_S)


def test_every_users_records_go_to_one_partition_and_other_users_spread(stage: IntakeStage) -> None:
    out = RecordingSender()
    for offset, user in enumerate(["a", "b", "a", "c", "a", "d", "e", "f"]):
        stage.take(out, FakeMessage(GOAL_TOPIC, 0, offset, NOW_S, None, goal_event_bytes(user)), NOW_S)
    by_user: dict[bytes | None, set[int | None]] = {}
    for sent in out.sent[USER_EVENTS]:
        by_user.setdefault(sent.key, set()).add(sent.partition)
    assert len(by_user) == 6 and all(len(partitions) == 1 for partitions in by_user.values())
    assert len({p for partitions in by_user.values() for p in partitions}) > 1


def test_a_valid_goal_event_is_counted(stage: IntakeStage) -> None:
    stage.take(RecordingSender(), FakeMessage(GOAL_TOPIC, 0, 1, NOW_S, None, goal_event_bytes()), NOW_S)
    assert sample(stage.metrics, "ces_goal_events_total", goal="download-invoice", type="completed") == 1


@pytest.mark.parametrize(
    ("topic", "value", "reason"),
    [
        (GOAL_TOPIC, b"{not json", DeadLetterReason.not_json),
        (GOAL_TOPIC, goal_event_bytes(goal="no-such-goal"), DeadLetterReason.unknown_goal),
        (ANSWER_TOPIC, b'{"score": 4}', DeadLetterReason.schema_violation),
    ],
    ids=["not-json", "unknown-goal", "answer-missing-fields"],
)
def test_an_invalid_record_is_dead_lettered_with_its_reason_and_original_bytes(
    stage: IntakeStage, topic: str, value: bytes, reason: DeadLetterReason
) -> None:
    out = RecordingSender()
    stage.take(out, FakeMessage(topic, 3, 77, NOW_S, b"k-1", value), NOW_S)

    assert out.topics() == {SETTINGS.topic_dead_letter}  # nothing forwarded
    [sent] = out.sent[SETTINGS.topic_dead_letter]
    assert sent.key == topic.encode()
    assert sent.value is not None
    letter = DeadLetter.model_validate_json(sent.value)
    assert letter.reason is reason
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (topic, 3, 77)
    assert base64.b64decode(letter.original) == value
    assert letter.source_key is not None and base64.b64decode(letter.source_key) == b"k-1"
    assert sample(stage.metrics, "ces_events_invalid_total", topic=topic, reason=reason.value) == 1


def test_a_bug_on_one_record_dead_letters_it_as_a_processing_error(
    stage: IntakeStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("stream.pipeline.intake.validate_goal_event", broken)
    out = RecordingSender()
    stage.take(out, FakeMessage(GOAL_TOPIC, 0, 5, NOW_S, None, goal_event_bytes()), NOW_S)
    [sent] = out.sent[SETTINGS.topic_dead_letter]
    assert sent.value is not None
    letter = DeadLetter.model_validate_json(sent.value)
    assert letter.reason is DeadLetterReason.processing_error and "boom" in letter.detail


ERASURE_TOPIC = SETTINGS.topic_erasure_requests


def test_an_erasure_request_goes_on_keyed_by_pseudonym_without_the_raw_user_id(stage: IntakeStage) -> None:
    request_id = str(uuid.uuid4())
    value = json.dumps(
        {"request_id": request_id, "user_id": "customer-4711", "requested_at": "2025-02-03T10:00:00Z"}
    ).encode()
    out = RecordingSender()
    stage.take(out, FakeMessage(ERASURE_TOPIC, 2, 9, NOW_S, b"customer-4711", value), NOW_S)

    ref = pseudonymise("customer-4711", SETTINGS.pseudonym_key.get_secret_value().encode())
    [sent] = out.sent[USER_EVENTS]
    assert sent.key == ref.encode() and sent.partition == partition_for(ref, SETTINGS.topic_partitions)
    envelope = Envelope.decode(sent.value or b"")
    assert (envelope.kind, envelope.source_topic, envelope.source_offset) == (EnvelopeKind.erasure, ERASURE_TOPIC, 9)
    assert envelope.source_key is None
    assert json.loads(envelope.payload)["request_id"] == request_id
    assert b"customer-4711" not in (sent.value or b"")
    assert out.sent[SETTINGS.topic_dead_letter] == []


def test_a_bad_erasure_request_is_dead_lettered_with_its_reason(stage: IntakeStage) -> None:
    out = RecordingSender()
    stage.take(out, FakeMessage(ERASURE_TOPIC, 0, 3, NOW_S, b"k", b'{"user_id": ""}'), NOW_S)
    assert out.sent[USER_EVENTS] == []
    [sent] = out.sent[SETTINGS.topic_dead_letter]
    letter = DeadLetter.model_validate_json(sent.value or b"")
    assert (letter.reason, letter.source_topic, letter.source_offset) == (
        DeadLetterReason.schema_violation,
        ERASURE_TOPIC,
        3,
    )
