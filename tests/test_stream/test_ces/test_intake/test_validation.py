"""Tests for stream.ces.intake.validation: every rejection reason, its boundaries, and the dead letter it becomes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import DeadLetter, DeadLetterReason, GoalEvent, PromptEvent, SurveyAnswer
from stream.ces.intake.validation import (
    MAX_DETAIL_ERRORS,
    Limits,
    Rejection,
    check_event_time,
    dead_letter,
    parse,
    validate_answer,
    validate_goal_event,
    validate_prompt_event,
)

LIMITS = Limits(max_event_bytes=4096, future_skew_s=300.0, late_grace_s=3600.0)
GOALS = frozenset({"download-invoice", "view-policy"})
# A whole second, so the event time below is exactly representable.
RECORD_S = 1_750_000_000.0
RECORD_TIME = datetime.fromtimestamp(RECORD_S, tz=UTC)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def goal_event_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": "0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f",
        "type": "completed",
        "goal": "download-invoice",
        "user_id": "customer-4711",
        "occurred_at": _iso(RECORD_TIME),
        "channel": "web",
        "locale": "nl-NL",
    }
    doc.update(overrides)
    return doc


def answer_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "answer_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "score": 4,
        "answered_at": _iso(RECORD_TIME),
        "channel": "web",
    }
    doc.update(overrides)
    return doc


def prompt_event_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "type": "shown",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "occurred_at": _iso(RECORD_TIME),
        "channel": "web",
    }
    doc.update(overrides)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


VALIDATORS = {
    "goal_event": (validate_goal_event, goal_event_doc, "occurred_at", GoalEvent),
    "answer": (validate_answer, answer_doc, "answered_at", SurveyAnswer),
    "prompt_event": (validate_prompt_event, prompt_event_doc, "occurred_at", PromptEvent),
}
KINDS = sorted(VALIDATORS)


# -- valid input --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_input_passes_as_its_model(kind):
    validate, make_doc, time_field, model = VALIDATORS[kind]
    doc = make_doc()
    result = validate(raw(doc), RECORD_S, GOALS, LIMITS)
    assert isinstance(result, model)
    assert result.goal == "download-invoice"
    assert result.user_id == "customer-4711"
    assert getattr(result, time_field) == RECORD_TIME


# -- not_json -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("value", "detail_part"),
    [
        (None, "empty record value"),
        (b"", "empty record value"),
        (b"{", "not JSON"),
        (b"{'goal': 'x'}", "not JSON"),
        (b"   ", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"goal=download-invoice", "not JSON"),
    ],
    ids=["none", "empty", "truncated", "single-quotes", "whitespace", "not-utf8", "form-encoded"],
)
def test_not_json(kind, value, detail_part):
    validate = VALIDATORS[kind][0]
    result = validate(value, RECORD_S, GOALS, LIMITS)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.not_json
    assert detail_part in result.detail


# -- schema_violation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (goal_event_doc(type="opened"), "type"),
        (goal_event_doc(goal="Download Invoice"), "goal"),
        (goal_event_doc(occurred_at="1750000000"), "occurred_at"),
        (goal_event_doc(occurred_at="2025-01-31T09:30:00"), "occurred_at"),  # no offset
        (goal_event_doc(channel="fax"), "channel"),
        (goal_event_doc(attributes={"invoice_kind": 5}), "attributes.invoice_kind"),
        (goal_event_doc(schema_version=99), "schema_version"),
        ({k: v for k, v in goal_event_doc().items() if k != "user_id"}, "user_id"),
        ([goal_event_doc()], "(document)"),
    ],
    ids=[
        "type",
        "goal-slug",
        "unix-time",
        "naive-time",
        "channel",
        "nested-attribute",
        "newer-version",
        "missing-user",
        "array",
    ],
)
def test_goal_event_schema_violation_names_the_field(doc, path):
    result = validate_goal_event(raw(doc), RECORD_S, GOALS, LIMITS)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.schema_violation
    assert result.detail.startswith(f"{path}: "), result.detail


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (answer_doc(score="4"), "score"),
        (answer_doc(score=4.0), "score"),
        (answer_doc(prompt_id="not-a-uuid"), "prompt_id"),
        (answer_doc(comment="x" * 100_000), "comment"),
        ({k: v for k, v in answer_doc().items() if k != "answered_at"}, "answered_at"),
        ("an answer", "(document)"),
    ],
    ids=["score-text", "score-float", "prompt-id", "long-comment", "missing-time", "string"],
)
def test_answer_schema_violation_names_the_field(doc, path):
    limits = Limits(max_event_bytes=1_000_000, future_skew_s=300.0, late_grace_s=3600.0)
    result = validate_answer(raw(doc), RECORD_S, GOALS, limits)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.schema_violation
    assert result.detail.startswith(f"{path}: "), result.detail


def test_schema_detail_lists_at_most_three_errors_and_counts_the_rest():
    # {} misses all seven required GoalEvent fields.
    result = parse(b"{}", GoalEvent, LIMITS)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.schema_violation
    parts = result.detail.split("; ")
    assert MAX_DETAIL_ERRORS == 3
    assert parts == [
        "event_id: Field required",
        "type: Field required",
        "goal: Field required",
        "and 4 more",
    ]


@pytest.mark.parametrize(
    ("missing", "expect_more"),
    [(("event_id", "type", "goal"), None), (("event_id", "type", "goal", "user_id"), "and 1 more")],
    ids=["exactly-three", "four"],
)
def test_schema_detail_says_and_n_more_only_beyond_three(missing, expect_more):
    doc = {k: v for k, v in goal_event_doc().items() if k not in missing}
    result = parse(raw(doc), GoalEvent, LIMITS)
    assert isinstance(result, Rejection)
    parts = result.detail.split("; ")
    assert [p.split(":")[0] for p in parts[:3]] == list(missing[:3])
    if expect_more is None:
        assert len(parts) == 3
        assert "more" not in result.detail
    else:
        assert parts[3:] == [expect_more]


# -- unknown_goal -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_goal(kind):
    validate, make_doc, _, _ = VALIDATORS[kind]
    result = validate(raw(make_doc(goal="cancel-contract")), RECORD_S, GOALS, LIMITS)
    assert result == Rejection(DeadLetterReason.unknown_goal, "goal 'cancel-contract' is not in the goal registry")


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_goal_wins_over_a_bad_time(kind):
    validate, make_doc, time_field, _ = VALIDATORS[kind]
    late = _iso(RECORD_TIME - timedelta(days=30))
    result = validate(raw(make_doc(goal="cancel-contract", **{time_field: late})), RECORD_S, GOALS, LIMITS)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.unknown_goal


# -- oversize --------------------------------------------------------------------------


def _padded(doc: dict[str, Any], size: int) -> bytes:
    """The document followed by whitespace (still valid JSON), exactly ``size`` bytes long."""
    body = raw(doc)
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("kind", KINDS)
def test_oversize_boundary(kind):
    validate, make_doc, _, model = VALIDATORS[kind]
    limits = Limits(max_event_bytes=512, future_skew_s=300.0, late_grace_s=3600.0)
    at_limit = validate(_padded(make_doc(), 512), RECORD_S, GOALS, limits)
    assert isinstance(at_limit, model)
    over = validate(_padded(make_doc(), 513), RECORD_S, GOALS, limits)
    assert over == Rejection(DeadLetterReason.oversize, "513 bytes > limit of 512")


def test_oversize_is_checked_before_json():
    limits = Limits(max_event_bytes=256, future_skew_s=0.0, late_grace_s=0.0)
    result = parse(b"\xff" * 257, GoalEvent, limits)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.oversize


# -- future_timestamp and too_late ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("offset_s", "reason"),
    [
        (0.0, None),
        (300.0, None),  # exactly the allowed skew
        (300.001, DeadLetterReason.future_timestamp),
        (301.0, DeadLetterReason.future_timestamp),
        (86400.0, DeadLetterReason.future_timestamp),
        (-3600.0, None),  # exactly the grace period
        (-3600.001, DeadLetterReason.too_late),
        (-3601.0, DeadLetterReason.too_late),
        (-86400.0 * 30, DeadLetterReason.too_late),
    ],
)
def test_event_time_boundaries_relative_to_the_record_time(kind, offset_s, reason):
    validate, make_doc, time_field, model = VALIDATORS[kind]
    at = RECORD_TIME + timedelta(seconds=offset_s)
    result = validate(raw(make_doc(**{time_field: _iso(at)})), RECORD_S, GOALS, LIMITS)
    if reason is None:
        assert isinstance(result, model)
    else:
        assert isinstance(result, Rejection)
        assert result.reason is reason


def test_lateness_is_judged_against_the_record_time_not_the_wall_clock():
    # An event from 2020, produced (record time) one minute later: fine, however old it is today.
    record_s = datetime(2020, 6, 1, 12, 1, tzinfo=UTC).timestamp()
    doc = goal_event_doc(occurred_at="2020-06-01T12:00:00Z")
    assert isinstance(validate_goal_event(raw(doc), record_s, GOALS, LIMITS), GoalEvent)
    # The same bytes judged against a record time a day later: too late.
    result = validate_goal_event(raw(doc), record_s + 86400, GOALS, LIMITS)
    assert isinstance(result, Rejection)
    assert result.reason is DeadLetterReason.too_late


def test_check_event_time_details_name_the_difference_and_allowance():
    future = check_event_time(RECORD_TIME + timedelta(seconds=400), RECORD_S, LIMITS)
    assert future is not None and future.reason is DeadLetterReason.future_timestamp
    assert "400 s after the record time" in future.detail
    assert "allowed skew 300 s" in future.detail
    late = check_event_time(RECORD_TIME - timedelta(seconds=4000), RECORD_S, LIMITS)
    assert late is not None and late.reason is DeadLetterReason.too_late
    assert "4000 s before the record time" in late.detail
    assert "grace 3600 s" in late.detail


def test_zero_allowances_accept_only_the_record_time_itself():
    limits = Limits(max_event_bytes=4096, future_skew_s=0.0, late_grace_s=0.0)
    assert check_event_time(RECORD_TIME, RECORD_S, limits) is None
    assert (
        check_event_time(RECORD_TIME + timedelta(seconds=1), RECORD_S, limits).reason
        is DeadLetterReason.future_timestamp
    )
    assert check_event_time(RECORD_TIME - timedelta(seconds=1), RECORD_S, limits).reason is DeadLetterReason.too_late


# -- dead_letter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"customer-4711", b'{"goal": "x"'),
        (None, b"\xff\xfe\x00\x80 not utf-8 \n\r"),
        (b"\x00\xffkey", bytes(range(256))),
        (b"", b"{}"),
    ],
    ids=["text", "no-key", "binary-key", "empty-key"],
)
def test_dead_letter_keeps_the_original_bytes_and_key(key, value):
    rejection = Rejection(DeadLetterReason.not_json, "not JSON: whatever")
    letter = dead_letter(
        rejection, topic="ces.goal-events", partition=3, offset=41, key=key, value=value, received_at_s=RECORD_S
    )
    assert letter.original_bytes() == value
    assert letter.source_key_bytes() == key
    assert letter.reason is DeadLetterReason.not_json
    assert letter.detail == "not JSON: whatever"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("ces.goal-events", 3, 41)
    assert letter.received_at == RECORD_TIME
    # Survives the wire: the JSON on the dead-letter topic decodes to the same bytes.
    again = DeadLetter.model_validate_json(letter.model_dump_json())
    assert again.original_bytes() == value
    assert again.source_key_bytes() == key
    if key is None:
        assert json.loads(letter.model_dump_json())["source_key"] is None


def test_dead_letter_of_a_missing_value_holds_empty_bytes():
    rejection = validate_goal_event(None, RECORD_S, GOALS, LIMITS)
    assert isinstance(rejection, Rejection)
    letter = dead_letter(
        rejection, topic="ces.goal-events", partition=0, offset=0, key=b"k", value=None, received_at_s=RECORD_S
    )
    assert letter.original == ""
    assert letter.original_bytes() == b""
    assert letter.reason is DeadLetterReason.not_json


def test_dead_letter_of_a_real_rejection_round_trips():
    value = _padded(goal_event_doc(), 600)
    limits = Limits(max_event_bytes=512, future_skew_s=300.0, late_grace_s=3600.0)
    rejection = validate_goal_event(value, RECORD_S, GOALS, limits)
    assert isinstance(rejection, Rejection)
    letter = dead_letter(
        rejection, topic="ces.goal-events", partition=1, offset=7, key=b"u", value=value, received_at_s=RECORD_S + 5
    )
    assert letter.reason is DeadLetterReason.oversize
    assert base64.b64decode(letter.original) == value
    assert letter.received_at == RECORD_TIME + timedelta(seconds=5)
