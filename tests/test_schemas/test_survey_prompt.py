"""SurveyPrompt, ScaleSpec and ScaleLabel: field constraints, cross-field rules, the Kafka key."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import PromptOutcome, ScaleKind, ScaleLabel, ScaleSpec, SurveyPrompt
from schemas.survey_prompt import AnswerBand, SurveyKind

# (dotted path, bad value, the JSON Schema rejects it too)
VIOLATIONS = [
    pytest.param("prompt_id", "p-1", True, id="prompt_id-text"),
    pytest.param("user_id", "", True, id="user_id-empty"),
    pytest.param("goal", "view policy", True, id="goal-not-slug"),
    pytest.param("outcome", "started", True, id="outcome-started"),
    pytest.param("locale", "Dutch", True, id="locale-word"),
    pytest.param("question", "", True, id="question-empty"),
    pytest.param("follow_up_question", "", True, id="follow_up_question-empty"),
    pytest.param("scale", "five_point", True, id="scale-not-object"),
    pytest.param("scale.kind", "three_point", True, id="scale-kind-unknown"),
    pytest.param("scale.min_score", "one", True, id="scale-min-text"),
    pytest.param("scale.inverted", "maybe", True, id="scale-inverted-text"),
    pytest.param("scale.labels.0.label", "", True, id="label-empty"),
    pytest.param("scale.labels.0.value", None, True, id="label-value-null"),
    pytest.param("created_at", "2025-01-31T09:30:13", False, id="created_at-naive"),
    pytest.param("expires_at", "2025-01-31T10:00:13", False, id="expires_at-naive"),
    pytest.param("event_id", "e-1", True, id="event_id-text"),
    pytest.param("survey", "ces2", True, id="survey-unknown"),
    pytest.param("follow_ups.0.band", "bad", True, id="follow-up-band-unknown"),
    pytest.param("follow_ups.0.question", "", True, id="follow-up-question-empty"),
]

# Rules across fields: pydantic only (JSON Schema cannot express them).
RULE_VIOLATIONS = [
    pytest.param({"expires_at": "2025-01-31T09:30:13Z"}, "expires_at must be after created_at", id="expires-at-start"),
    pytest.param({"expires_at": "2025-01-31T09:00:00Z"}, "expires_at must be after created_at", id="expires-before"),
    pytest.param({"scale.min_score": 5}, "min_score 5 must be below max_score 5", id="scale-empty-range"),
    pytest.param({"scale.min_score": 6}, "must be below", id="scale-reversed"),
    pytest.param({"scale.labels.1.value": 6}, r"label values \[6\] outside 1..5", id="label-above-range"),
    pytest.param({"scale.labels.0.value": 0}, r"label values \[0\] outside 1..5", id="label-below-range"),
    pytest.param({"scale.labels.1.value": 1}, "repeat a point", id="label-repeated"),
    pytest.param({"follow_ups.0.scores": [1, 3]}, "not distinct points", id="follow-up-bands-overlap"),
    pytest.param({"follow_ups.0.scores": [0, 1]}, "not distinct points", id="follow-up-score-outside"),
    pytest.param({"follow_ups.0.scores": []}, "not distinct points", id="follow-up-no-scores"),
    pytest.param({"schema_version": 1}, "from schema_version 2 on", id="v1-with-follow-ups"),
]


def test_example_reads_as_expected(payload) -> None:
    prompt = SurveyPrompt.model_validate_json(json.dumps(payload(SurveyPrompt)))
    assert prompt.outcome is PromptOutcome.completed
    assert prompt.scale == ScaleSpec(
        kind=ScaleKind.five_point,
        min_score=1,
        max_score=5,
        inverted=False,
        labels=[ScaleLabel(value=1, label="Zeer moeilijk"), ScaleLabel(value=5, label="Zeer gemakkelijk")],
    )


def test_enum_values() -> None:
    assert [o.value for o in PromptOutcome] == ["completed", "abandoned", "abandoned_inferred"]
    assert [k.value for k in ScaleKind] == [
        "five_point",
        "seven_point",
        "five_point_inverted",
        "ten_point",
        "emoticon",
        "zero_to_ten",
        "yes_no",
    ]
    assert [k.value for k in SurveyKind] == ["ces", "csat", "nps"]
    assert [b.value for b in AnswerBand] == ["negative", "neutral", "positive"]


def test_a_version_1_prompt_still_loads_as_a_ces_prompt(payload) -> None:
    prompt = SurveyPrompt.model_validate_json(
        json.dumps(payload(SurveyPrompt, {"schema_version": 1}, drop=["survey", "follow_ups"]))
    )
    assert prompt.schema_version == 1 and prompt.survey is SurveyKind.ces and prompt.follow_ups == []
    with pytest.raises(ValidationError, match="from schema_version 2 on"):
        SurveyPrompt.model_validate_json(
            json.dumps(payload(SurveyPrompt, {"schema_version": 1, "survey": "nps"}, drop=["follow_ups"]))
        )


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        SurveyPrompt.model_validate_json(json.dumps(payload(SurveyPrompt, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(SurveyPrompt).is_valid(payload(SurveyPrompt, {path: value}))


@pytest.mark.parametrize(("changes", "message"), RULE_VIOLATIONS)
def test_rule_violation_is_rejected(changes, message, payload) -> None:
    with pytest.raises(ValidationError, match=message):
        SurveyPrompt.model_validate_json(json.dumps(payload(SurveyPrompt, changes)))


@pytest.mark.parametrize(
    ("kind", "min_score", "max_score", "inverted"),
    [
        (ScaleKind.five_point, 1, 5, False),
        (ScaleKind.seven_point, 1, 7, False),
        (ScaleKind.five_point_inverted, 1, 5, True),
        (ScaleKind.ten_point, 1, 10, False),
        (ScaleKind.emoticon, 1, 3, False),
    ],
)
def test_every_scale_kind_builds_with_labels_on_all_points(kind, min_score, max_score, inverted) -> None:
    labels = [ScaleLabel(value=v, label=f"point {v}") for v in range(min_score, max_score + 1)]
    spec = ScaleSpec(kind=kind, min_score=min_score, max_score=max_score, inverted=inverted, labels=labels)
    assert ScaleSpec.model_validate_json(spec.model_dump_json()) == spec


def test_scale_labels_may_be_absent() -> None:
    spec = ScaleSpec(kind=ScaleKind.emoticon, min_score=1, max_score=3, inverted=False)
    assert spec.labels == []
    assert json.loads(spec.model_dump_json())["labels"] == []


def test_kafka_key_is_the_user_id(payload) -> None:
    prompt = SurveyPrompt.model_validate_json(json.dumps(payload(SurveyPrompt, {"user_id": "Jos\u00e9"})))
    assert prompt.kafka_key() == "Jos\u00e9"
