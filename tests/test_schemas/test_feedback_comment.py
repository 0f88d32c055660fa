"""FeedbackComment: field constraints; the pseudonymous user_ref keeps raw user ids out."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import MAX_COMMENT_CHARS, FeedbackComment, PromptOutcome

# (dotted path, bad value, the JSON Schema rejects it too)
VIOLATIONS = [
    pytest.param("answer_id", "a-1", True, id="answer_id-text"),
    pytest.param("prompt_id", 1, True, id="prompt_id-number"),
    pytest.param("goal", "", True, id="goal-empty"),
    pytest.param("outcome", "started", True, id="outcome-started"),
    pytest.param("score", "two", True, id="score-text"),
    pytest.param("score", 2.5, True, id="score-fraction"),
    pytest.param("user_ref", "customer-4711", True, id="user_ref-raw-user-id"),
    pytest.param("user_ref", "3F2A9C41D07B6E58A1C4F09E2B7D3A61", True, id="user_ref-uppercase"),
    pytest.param("user_ref", "3f2a9c41d07b6e58a1c4f09e2b7d3a6", True, id="user_ref-31-chars"),
    pytest.param("user_ref", "3f2a9c41d07b6e58a1c4f09e2b7d3a61" + "0" * 32, True, id="user_ref-64-chars"),
    pytest.param("comment", "", True, id="comment-empty"),
    pytest.param("comment", "c" * (MAX_COMMENT_CHARS + 1), True, id="comment-too-long"),
    pytest.param("answered_at", "2025-01-31T08:31:02", False, id="answered_at-naive"),
    pytest.param("channel", "fax", True, id="channel-unknown"),
    pytest.param("locale", "nl_NL", True, id="locale-underscore"),
]


def test_example_reads_as_expected(payload) -> None:
    comment = FeedbackComment.model_validate_json(json.dumps(payload(FeedbackComment)))
    assert comment.outcome is PromptOutcome.completed
    assert comment.user_ref == "3f2a9c41d07b6e58a1c4f09e2b7d3a61"


def test_locale_is_optional(payload) -> None:
    comment = FeedbackComment.model_validate_json(json.dumps(payload(FeedbackComment, drop=["locale"])))
    assert comment.locale is None
    assert json.loads(comment.model_dump_json())["locale"] is None


def test_has_no_raw_user_id_field() -> None:
    assert "user_id" not in FeedbackComment.model_fields


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        FeedbackComment.model_validate_json(json.dumps(payload(FeedbackComment, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(FeedbackComment).is_valid(payload(FeedbackComment, {path: value}))


def test_kafka_key_is_the_goal(payload) -> None:
    assert FeedbackComment.model_validate(payload(FeedbackComment)).kafka_key() == "download-invoice"


def test_a_version_1_comment_still_loads_as_a_ces_comment(payload) -> None:
    comment = FeedbackComment.model_validate_json(
        json.dumps(payload(FeedbackComment, {"schema_version": 1}, drop=["survey"]))
    )
    assert comment.schema_version == 1 and comment.survey == "ces"
    with pytest.raises(ValidationError, match="from schema_version 2 on"):
        FeedbackComment.model_validate_json(
            json.dumps(payload(FeedbackComment, {"schema_version": 1, "survey": "nps"}))
        )
