"""POST bodies judged as the intake judges Kafka records: same reasons, same dead letters, exact bytes per item."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas import DeadLetter, DeadLetterReason, GoalEvent, PromptEvent, SurveyAnswer
from schemas.examples import example_payload
from stream.ces.gateway import (
    GATEWAY_DETAIL,
    Body,
    BodyProblem,
    InputKind,
    gateway_dead_letter,
    lenient_user_id,
    read_body,
    split_array,
)
from stream.ces.intake import Limits, Rejection, validate_goal_event

NOW = datetime(2025, 1, 31, 9, 30, tzinfo=UTC)
NOW_S = NOW.timestamp()
GOALS = frozenset({"download-invoice"})
LIMITS = Limits(max_event_bytes=4096, future_skew_s=300, late_grace_s=3600)


def goal_event(**fields: object) -> bytes:
    payload = {**example_payload(GoalEvent), "occurred_at": NOW.isoformat(), **fields}
    return json.dumps(payload).encode()


def read(body: bytes, kind: InputKind = InputKind.goal_events, max_items: int = 10) -> Body | BodyProblem:
    return read_body(body, kind, GOALS, LIMITS, NOW_S, max_items)


def only(body: Body | BodyProblem):
    assert isinstance(body, Body) and not body.batch and len(body.items) == 1
    return body.items[0]


def reason(result: object) -> DeadLetterReason:
    assert isinstance(result, Rejection), result
    return result.reason


def test_one_valid_object_is_one_record_with_its_id():
    item = only(read(goal_event()))
    assert isinstance(item.result, GoalEvent)
    assert item.raw == goal_event()
    assert item.record_id == example_payload(GoalEvent)["event_id"]


def test_an_answer_is_identified_by_its_answer_id():
    payload = {**example_payload(SurveyAnswer), "answered_at": NOW.isoformat()}
    item = only(read(json.dumps(payload).encode(), InputKind.answers))
    assert isinstance(item.result, SurveyAnswer)
    assert item.record_id == payload["answer_id"]


def test_a_prompt_event_is_identified_by_its_event_id():
    payload = {**example_payload(PromptEvent), "occurred_at": NOW.isoformat()}
    item = only(read(json.dumps(payload).encode(), InputKind.prompt_events))
    assert isinstance(item.result, PromptEvent)
    assert item.record_id == payload["event_id"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", DeadLetterReason.not_json),
        (b"", DeadLetterReason.not_json),
        (b"\xff\xfe{}", DeadLetterReason.not_json),
        (b'{"event_id": 1}', DeadLetterReason.schema_violation),
        (b"42", DeadLetterReason.schema_violation),
        (goal_event(goal="no-such-goal"), DeadLetterReason.unknown_goal),
        (goal_event(occurred_at=(NOW + timedelta(hours=1)).isoformat()), DeadLetterReason.future_timestamp),
        (goal_event(occurred_at=(NOW - timedelta(hours=2)).isoformat()), DeadLetterReason.too_late),
        (goal_event(attributes={"pad": "x" * 5000}), DeadLetterReason.oversize),
        (goal_event(schema_version=99), DeadLetterReason.schema_violation),
    ],
)
def test_a_bad_object_has_the_reason_the_intake_gives_the_same_bytes(body, expected):
    item = only(read(body))
    assert reason(item.result) is expected
    assert item.result == validate_goal_event(body, NOW_S, GOALS, LIMITS)
    assert item.record_id is None


def test_an_array_is_a_batch_whose_items_keep_their_exact_bytes():
    first, second = goal_event(), b'{ "event_id" : "x",\n "note": "a, [b] {c} \\" ]" }'
    body = b"  [ " + first + b" ,\n" + second + b"\t]\n"
    parsed = read(body)
    assert isinstance(parsed, Body) and parsed.batch
    assert [item.raw for item in parsed.items] == [first, second]
    assert isinstance(parsed.items[0].result, GoalEvent)
    assert reason(parsed.items[1].result) is DeadLetterReason.schema_violation
    assert [item.index for item in parsed.items] == [0, 1]


@pytest.mark.parametrize(
    "items",
    [
        [1, "two", None, True, [3, [4]], {"a": {"b": [5, "]"]}}],
        ['\\"', "a,b", {"k": "}"}],
        [{}],
    ],
)
def test_split_array_gives_each_element_as_written(items):
    body = json.dumps(items, indent=2).encode()
    assert [json.loads(raw) for raw in split_array(body)] == items


def test_an_array_that_is_not_json_is_refused_whole_for_the_dead_letter():
    problem = read(b'[{"a": 1}, {')
    assert isinstance(problem, BodyProblem)
    assert (problem.status, problem.error) == (400, "not_json")
    assert problem.rejection is not None and problem.rejection.reason is DeadLetterReason.not_json


def test_an_empty_array_is_refused_without_a_dead_letter():
    problem = read(b"[ ]")
    assert isinstance(problem, BodyProblem)
    assert (problem.status, problem.error, problem.rejection) == (400, "empty_batch", None)


def test_too_many_items_are_refused_without_a_dead_letter():
    problem = read(b"[" + b",".join([goal_event()] * 3) + b"]", max_items=2)
    assert isinstance(problem, BodyProblem)
    assert (problem.status, problem.error, problem.rejection) == (413, "too_many_items", None)


def test_the_dead_letter_is_the_intakes_from_the_input_topic_with_the_original_bytes():
    raw = b'{"event_id": "not-a-uuid", "user_id": "customer-4711"}'
    rejection = only(read(raw)).result
    assert isinstance(rejection, Rejection)
    letter = gateway_dead_letter(rejection, topic="ces.goal-events", key=b"customer-4711", value=raw, now_s=NOW_S)
    assert isinstance(letter, DeadLetter)
    assert letter.reason is DeadLetterReason.schema_violation
    assert letter.source_topic == "ces.goal-events" and letter.kafka_key() == "ces.goal-events"
    assert (letter.source_partition, letter.source_offset) == (0, 0)
    assert letter.original_bytes() == raw
    assert letter.source_key == base64.b64encode(b"customer-4711").decode()
    assert letter.detail == rejection.detail + GATEWAY_DETAIL
    assert letter.received_at == NOW


def test_the_user_of_a_broken_record_is_read_where_it_can_be():
    assert lenient_user_id(b'{"user_id": "u-1", "event_id": 3}') == "u-1"
    assert lenient_user_id(b'{"user_id": 3}') is None
    assert lenient_user_id(b"[]") is None
    assert lenient_user_id(b"nope") is None
