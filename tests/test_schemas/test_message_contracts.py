"""Rules every message model shares: examples, round trips, required fields, timestamps, versions, extras."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pydantic import AwareDatetime, BaseModel, ValidationError

from schemas import (
    SCHEMA_VERSION,
    DeadLetter,
    ErasureRequest,
    FeedbackComment,
    GoalEvent,
    GoalSummary,
    HighEffortAnswer,
    InputModel,
    OutputModel,
    PromptEvent,
    ReleaseVerdict,
    SurveyAnswer,
    SurveyPrompt,
)
from schemas.generate import MESSAGE_MODELS
from schemas.goal_summary import OLDEST_GOAL_SUMMARY_SCHEMA_VERSION
from schemas.summary_example import NPS_EXAMPLE

INPUTS = [GoalEvent, SurveyAnswer, ErasureRequest, PromptEvent]
OUTPUTS = [SurveyPrompt, GoalSummary, FeedbackComment, HighEffortAnswer, ReleaseVerdict, DeadLetter]
ALL = INPUTS + OUTPUTS

REQUIRED_FIELDS: dict[type[BaseModel], set[str]] = {
    GoalEvent: {"event_id", "type", "goal", "user_id", "occurred_at", "channel", "locale"},
    SurveyAnswer: {"answer_id", "prompt_id", "user_id", "goal", "answered_at", "channel"},
    ErasureRequest: {"request_id", "user_id", "requested_at"},
    PromptEvent: {"event_id", "type", "prompt_id", "user_id", "goal", "occurred_at", "channel"},
    SurveyPrompt: {
        "prompt_id",
        "user_id",
        "goal",
        "outcome",
        "locale",
        "question",
        "follow_up_question",
        "scale",
        "created_at",
        "expires_at",
        "event_id",
    },
    GoalSummary: {
        "goal",
        "window",
        "window_seconds",
        "window_start",
        "window_end",
        "answers",
        "positive",
        "neutral",
        "negative",
        "distribution",
        "mean_score",
        "ces_ratio",
        "net_effort",
        "most_negative_ratio",
        "wilson_lower",
        "wilson_upper",
        "confidence",
        "prompts",
        "response_ratio",
        "outcomes",
        "completion_ratio",
        "by_outcome",
        "by_channel",
        "at_exits",
        "exit_gap",
        "completion_vs_all",
        "target_ces_ratio",
        "emitted_at",
    },
    FeedbackComment: {
        "answer_id",
        "prompt_id",
        "goal",
        "outcome",
        "score",
        "user_ref",
        "comment",
        "answered_at",
        "channel",
    },
    HighEffortAnswer: {
        "answer_id",
        "prompt_id",
        "goal",
        "survey",
        "outcome",
        "score",
        "user_ref",
        "comment",
        "answered_at",
        "channel",
    },
    ReleaseVerdict: {
        "goal",
        "survey",
        "channel",
        "version",
        "previous_version",
        "direction",
        "difference",
        "lower",
        "upper",
        "answers",
        "previous_answers",
        "error_rate",
        "window",
        "first_seen",
        "decided_at",
        "text",
    },
    DeadLetter: {
        "reason",
        "detail",
        "source_topic",
        "source_partition",
        "source_offset",
        "source_key",
        "original",
        "received_at",
    },
}


def version_of(model) -> int:
    """The contract version a message has without one: what an output writes (SCHEMA_VERSION, or its own
    once it moved on: GoalSummary 6, SurveyPrompt 2), and 1 for an input (absent means 1)."""
    return model.model_fields["schema_version"].default


def newest_version_of(model) -> int:
    """The newest contract version a model reads (SurveyAnswer reads 1 and 2, writes none)."""
    (bound,) = [m.le for m in model.model_fields["schema_version"].metadata if getattr(m, "le", None) is not None]
    return bound


def oldest_version_of(model) -> int:
    """The oldest contract version a model reads (GoalSummary reads 2 to 6; the others from 1)."""
    return OLDEST_GOAL_SUMMARY_SCHEMA_VERSION if model is GoalSummary else 1


CURRENT_VERSIONS = {GoalSummary: 6, SurveyPrompt: 2, FeedbackComment: 2}
"""The contracts that moved past SCHEMA_VERSION, at the version they write."""


DATETIME_FIELDS: dict[type[BaseModel], list[str]] = {
    GoalEvent: ["occurred_at"],
    SurveyAnswer: ["answered_at"],
    ErasureRequest: ["requested_at"],
    PromptEvent: ["occurred_at"],
    SurveyPrompt: ["created_at", "expires_at"],
    GoalSummary: ["window_start", "window_end", "emitted_at"],
    FeedbackComment: ["answered_at"],
    HighEffortAnswer: ["answered_at"],
    ReleaseVerdict: ["first_seen", "decided_at"],
    DeadLetter: ["received_at"],
}

MODEL_FIELD = [
    pytest.param(model, field, id=f"{model.__name__}.{field}")
    for model in ALL
    for field in sorted(REQUIRED_FIELDS[model])
]
MODEL_DATETIME = [
    pytest.param(model, field, id=f"{model.__name__}.{field}") for model in ALL for field in DATETIME_FIELDS[model]
]


def _ids(model: type[BaseModel]) -> str:
    return model.__name__


def test_every_message_model_is_covered() -> None:
    assert set(MESSAGE_MODELS.values()) == set(ALL)
    assert all(issubclass(model, InputModel) for model in INPUTS)
    assert all(issubclass(model, OutputModel) for model in OUTPUTS)


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_example_validates_from_json_bytes(model, payload) -> None:
    message = model.model_validate_json(json.dumps(payload(model)).encode("utf-8"))
    assert message.schema_version == newest_version_of(model)


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_round_trip_model_json_model(model, payload) -> None:
    message = model.model_validate_json(json.dumps(payload(model)))
    text = message.model_dump_json()
    again = model.model_validate_json(text)
    assert again == message
    assert again.model_dump_json() == text


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_required_fields_are_exactly_the_contracts(model) -> None:
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert required == REQUIRED_FIELDS[model]


@pytest.mark.parametrize(("model", "field"), MODEL_FIELD)
def test_missing_required_field_is_rejected(model, field, payload) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(payload(model, drop=[field])))
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [("missing", (field,))]


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_datetime_field_table_is_complete(model) -> None:
    # The tests below run over this table, so a datetime field missing from it would go untested.
    found = {name: f.annotation for name, f in model.model_fields.items() if f.annotation in (datetime, AwareDatetime)}
    assert set(found) == set(DATETIME_FIELDS[model])
    assert set(found.values()) == {AwareDatetime}


@pytest.mark.parametrize(("model", "field"), MODEL_DATETIME)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2025-01-31T09:30:00", id="naive"),
        pytest.param("2025-01-31", id="date-only"),
        pytest.param("1738315800", id="digits-string"),
        pytest.param(1738315800, id="epoch-number"),
        pytest.param(True, id="bool"),
        pytest.param("31-01-2025 09:30", id="not-rfc3339"),
    ],
)
def test_datetime_must_be_rfc3339_with_offset(model, field, value, payload) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(payload(model, {field: value})))
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


@pytest.mark.parametrize(("model", "field"), MODEL_DATETIME)
def test_naive_datetime_object_is_rejected(model, field, payload) -> None:
    data = model.model_validate_json(json.dumps(payload(model))).model_dump()
    data[field] = data[field].replace(tzinfo=None)
    with pytest.raises(ValidationError, match="timezone"):
        model.model_validate(data)


@pytest.mark.parametrize(
    ("text", "offset_s"),
    [
        pytest.param("2025-01-31T09:31:02+01:00", 3600, id="plus-one"),
        pytest.param("2025-01-31T08:31:02Z", 0, id="zulu"),
        pytest.param("2025-01-31T08:31:02.123456-05:30", -19800, id="fraction-negative-offset"),
    ],
)
def test_datetime_offsets_are_accepted_and_kept(text, offset_s, payload) -> None:
    answer = SurveyAnswer.model_validate_json(json.dumps(payload(SurveyAnswer, {"answered_at": text})))
    assert answer.answered_at.utcoffset().total_seconds() == offset_s
    assert SurveyAnswer.model_validate_json(answer.model_dump_json()).answered_at == answer.answered_at


def test_python_callers_may_pass_datetime_objects_or_rfc3339_text(payload) -> None:
    as_text = GoalEvent.model_validate(payload(GoalEvent))
    as_object = GoalEvent.model_validate({**payload(GoalEvent), "occurred_at": as_text.occurred_at})
    assert as_text == as_object


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_schema_version_defaults_to_the_current_one(model, payload) -> None:
    message = model.model_validate_json(json.dumps(payload(model, drop=["schema_version"])))
    assert message.schema_version == version_of(model)
    assert version_of(model) == CURRENT_VERSIONS.get(model, SCHEMA_VERSION)
    assert SCHEMA_VERSION == 1


@pytest.mark.parametrize("model", ALL, ids=_ids)
@pytest.mark.parametrize(
    "version",
    [
        pytest.param("newer", id="newer-major"),
        pytest.param("older", id="older-major"),
        pytest.param(0, id="zero"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="null"),
    ],
)
def test_unsupported_schema_version_is_rejected(model, version, payload) -> None:
    if version in ("newer", "older"):
        version = newest_version_of(model) + 1 if version == "newer" else oldest_version_of(model) - 1
        if version < 1:
            pytest.skip("version 1 has no older major")
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(payload(model, {"schema_version": version})))
    assert [e["loc"] for e in info.value.errors()] == [("schema_version",)]


def test_a_version_2_goal_summary_still_loads_without_measured_effort(payload) -> None:
    version_2 = payload(
        GoalSummary, {"schema_version": 2}, drop=["measured_effort", "non_response", "funnel", "releases"]
    )
    summary = GoalSummary.model_validate_json(json.dumps(version_2))
    assert summary.schema_version == 2 and summary.measured_effort is None and summary.non_response is None
    # Version 3 on always carries measured effort, version 2 never does.
    for wrong in (
        payload(GoalSummary, drop=["measured_effort"]),
        payload(GoalSummary, {"schema_version": 2}, drop=["non_response", "funnel"]),
    ):
        with pytest.raises(ValidationError, match="measured_effort"):
            GoalSummary.model_validate_json(json.dumps(wrong))


def test_a_version_3_goal_summary_still_loads_without_the_non_response_correction_and_funnel(payload) -> None:
    version_3 = payload(GoalSummary, {"schema_version": 3}, drop=["non_response", "funnel", "releases"])
    summary = GoalSummary.model_validate_json(json.dumps(version_3))
    assert summary.schema_version == 3 and summary.non_response is None and summary.funnel is None
    assert summary.measured_effort is not None
    # Version 4 always carries both, version 3 never does.
    for part in ("non_response", "funnel"):
        for wrong in (
            payload(GoalSummary, drop=[part]),
            payload(GoalSummary, {"schema_version": 3}, drop=["funnel" if part == "non_response" else "non_response"]),
        ):
            with pytest.raises(ValidationError, match=part):
                GoalSummary.model_validate_json(json.dumps(wrong))


def test_a_version_4_goal_summary_still_loads_without_survey_and_nps(payload) -> None:
    version_4 = payload(GoalSummary, {"schema_version": 4}, drop=["survey", "nps", "releases"])
    summary = GoalSummary.model_validate_json(json.dumps(version_4))
    assert summary.schema_version == 4 and summary.survey == "ces" and summary.nps is None
    assert summary.non_response is not None and summary.funnel is not None
    # Only version 5 on may name another question than CES or carry NPS figures.
    for wrong in (
        payload(GoalSummary, {"schema_version": 4, "survey": "csat"}),
        payload(GoalSummary, {"schema_version": 4, "nps": NPS_EXAMPLE}, drop=["releases"]),
    ):
        with pytest.raises(ValidationError, match="from schema_version 5 on"):
            GoalSummary.model_validate_json(json.dumps(wrong))


def test_a_version_5_goal_summary_still_loads_without_releases(payload) -> None:
    summary = GoalSummary.model_validate_json(
        json.dumps(payload(GoalSummary, {"schema_version": 5}, drop=["releases"]))
    )
    assert summary.schema_version == 5 and summary.releases == []
    with pytest.raises(ValidationError, match="from schema_version 6 on"):
        GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, {"schema_version": 5})))


def test_a_release_verdict_says_worse_only_below_zero_and_better_only_above(payload) -> None:
    for wrong in (
        {"direction": "better"},  # the example's interval is below zero
        {"lower": -0.08},  # the difference outside its bounds
        {"upper": 0.01},  # a worse verdict whose interval holds zero
    ):
        with pytest.raises(ValidationError):
            ReleaseVerdict.model_validate_json(json.dumps(payload(ReleaseVerdict, wrong)))
    verdict = ReleaseVerdict.model_validate_json(json.dumps(payload(ReleaseVerdict)))
    assert verdict.kafka_key() == "download-invoice|web|web-2025.01.4"


def test_input_schema_version_as_string_is_rejected(payload) -> None:
    # Inputs are strict; "1" would pass a lax int.
    for model in INPUTS:
        with pytest.raises(ValidationError, match="schema_version"):
            model.model_validate_json(json.dumps(payload(model, {"schema_version": "1"})))


@pytest.mark.parametrize("model", INPUTS, ids=_ids)
def test_input_ignores_unknown_fields(model, payload) -> None:
    extended = payload(model, {"added_by_an_app_team": {"nested": [1, 2]}, "experiment": "b"})
    message = model.model_validate_json(json.dumps(extended))
    assert message == model.model_validate_json(json.dumps(payload(model)))
    assert "added_by_an_app_team" not in message.model_dump()


@pytest.mark.parametrize("model", OUTPUTS, ids=_ids)
def test_output_forbids_unknown_fields(model, payload) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(payload(model, {"added_by_mistake": 1})))
    assert [(e["type"], e["loc"]) for e in info.value.errors()] == [("extra_forbidden", ("added_by_mistake",))]


@pytest.mark.parametrize(
    "path",
    [pytest.param("scale.extra", id="ScaleSpec"), pytest.param("scale.labels.0.extra", id="ScaleLabel")],
)
def test_nested_output_parts_forbid_unknown_fields(path, payload) -> None:
    with pytest.raises(ValidationError, match="extra"):
        SurveyPrompt.model_validate_json(json.dumps(payload(SurveyPrompt, {path: 1})))


@pytest.mark.parametrize("model", ALL, ids=_ids)
def test_messages_are_frozen(model, payload) -> None:
    message = model.model_validate_json(json.dumps(payload(model)))
    with pytest.raises(ValidationError, match="frozen"):
        message.schema_version = 2  # type: ignore[misc]


@pytest.mark.parametrize("model", INPUTS, ids=_ids)
def test_inputs_do_not_accept_python_lax_conversions_of_ints(model, payload) -> None:
    # Strict in Python mode too: a float or bool for an int field is rejected.
    data = model.model_validate_json(json.dumps(payload(model))).model_dump()
    for bad in (1.0, True):
        data["schema_version"] = bad
        with pytest.raises(ValidationError):
            model.model_validate(data)
