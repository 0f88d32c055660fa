"""SurveyAnswer: every field constraint, the strict score, the comment limit."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import MAX_COMMENT_CHARS, Channel, SurveyAnswer

# (dotted path, bad value, the JSON Schema rejects it too)
VIOLATIONS = [
    pytest.param("answer_id", "answer-1", True, id="answer_id-text"),
    pytest.param("prompt_id", None, True, id="prompt_id-null"),
    pytest.param("user_id", "", True, id="user_id-empty"),
    pytest.param("goal", "Download Invoice", True, id="goal-not-slug"),
    pytest.param("score", "5", True, id="score-string"),
    pytest.param("score", True, True, id="score-bool"),
    pytest.param("score", 4.5, True, id="score-fraction"),
    # JSON Schema counts 5.0 as an integer; the strict model does not.
    pytest.param("score", 5.0, False, id="score-float-whole"),
    pytest.param("comment", "c" * (MAX_COMMENT_CHARS + 1), True, id="comment-too-long"),
    pytest.param("comment", 42, True, id="comment-number"),
    pytest.param("answered_at", "2025-01-31T09:31:02", False, id="answered_at-naive"),
    pytest.param("channel", "sms", True, id="channel-unknown"),
    pytest.param("survey", "ces-v2", True, id="survey-unknown"),
]

EDGES = [
    pytest.param("comment", "c" * MAX_COMMENT_CHARS, id="comment-max"),
    pytest.param("comment", "\U0001f600" * MAX_COMMENT_CHARS, id="comment-max-astral-code-points"),
    pytest.param("comment", None, id="comment-null"),
    pytest.param("comment", "", id="comment-empty"),
    pytest.param("score", 0, id="score-zero"),
    pytest.param("score", -3, id="score-negative-range-checked-elsewhere"),
    pytest.param("score", 10, id="score-ten"),
]


def test_example_reads_as_expected(payload) -> None:
    answer = SurveyAnswer.model_validate_json(json.dumps(payload(SurveyAnswer)))
    assert answer.score == 2 and type(answer.score) is int
    assert answer.channel is Channel.web
    assert answer.comment.startswith("Ik moest")


def test_max_comment_chars_is_2000() -> None:
    assert MAX_COMMENT_CHARS == 2000


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        SurveyAnswer.model_validate_json(json.dumps(payload(SurveyAnswer, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(SurveyAnswer).is_valid(payload(SurveyAnswer, {path: value}))


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_edge_values_are_accepted(path, value, payload, schema_validator) -> None:
    data = payload(SurveyAnswer, {path: value})
    answer = SurveyAnswer.model_validate_json(json.dumps(data))
    assert getattr(answer, path) == value
    schema_validator(SurveyAnswer).validate(data)


# (changes to the example, accepted): a score is required before version 2; from 2 on a record may
# bring only the comment (sent after the score), never neither.
WITHOUT_SCORE = [
    pytest.param({"schema_version": 1, "score": None}, False, id="v1-null"),
    pytest.param({"schema_version": 1, "score": "drop"}, False, id="v1-absent"),
    pytest.param({"score": "drop", "schema_version": "drop"}, False, id="no-version-absent"),
    pytest.param({"score": None}, True, id="v2-comment-only"),
    pytest.param({"score": "drop"}, True, id="v2-comment-only-absent"),
    pytest.param({"score": None, "comment": None}, False, id="v2-neither"),
    pytest.param({"score": None, "comment": " \n"}, False, id="v2-blank-comment"),
    pytest.param({"score": "drop", "comment": "drop"}, False, id="v2-neither-absent"),
]


@pytest.mark.parametrize(("changes", "accepted"), WITHOUT_SCORE)
def test_a_record_without_a_score_needs_version_2_and_a_comment(changes, accepted, payload, schema_validator) -> None:
    drop = [name for name, value in changes.items() if value == "drop"]
    data = payload(SurveyAnswer, {k: v for k, v in changes.items() if v != "drop"}, drop=drop)
    assert schema_validator(SurveyAnswer).is_valid(data) is accepted
    if accepted:
        answer = SurveyAnswer.model_validate_json(json.dumps(data))
        assert answer.score is None and answer.comment
    else:
        with pytest.raises(ValidationError) as info:
            SurveyAnswer.model_validate_json(json.dumps(data))
        assert "score" in str(info.value)


def test_a_version_1_answer_still_loads_without_a_survey(payload) -> None:
    data = payload(SurveyAnswer, {"schema_version": 1}, drop=["survey"])
    answer = SurveyAnswer.model_validate_json(json.dumps(data))
    assert answer.schema_version == 1 and answer.survey is None and answer.score == 2
