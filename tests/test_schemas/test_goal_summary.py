"""GoalSummary: ranges of every figure, count consistency, nulls for empty windows, the Kafka key."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from schemas import GoalSummary, PromptOutcome

# (dotted path, bad value, the JSON Schema rejects it too); each keeps the counts consistent.
VIOLATIONS = [
    pytest.param("by_outcome", {"lost": {}}, True, id="by_outcome-unknown-outcome"),
    pytest.param("by_channel", {"fax": {}}, True, id="by_channel-unknown-channel"),
    pytest.param("exit_gap.ces_ratio_gap", -1.5, True, id="exit_gap-below-minus-one"),
    pytest.param("completion_vs_all.completion_only_ces_ratio", 1.2, True, id="completion-only-over-one"),
    pytest.param("goal", "File Claim", True, id="goal-not-slug"),
    pytest.param("window", "1 h", True, id="window-space"),
    pytest.param("window", "0m", True, id="window-zero"),
    pytest.param("window", "60", True, id="window-no-unit"),
    pytest.param("window", "1w", True, id="window-unknown-unit"),
    pytest.param("window_seconds", 0, True, id="window_seconds-zero"),
    pytest.param("window_start", "2025-01-31T08:00:00", False, id="window_start-naive"),
    pytest.param("answers", -1, True, id="answers-negative"),
    pytest.param("distribution", {"one": 20, "2": 15, "3": 5, "4": 20, "5": 40}, True, id="distribution-key-word"),
    pytest.param("distribution", {"01": 20, "2": 15, "3": 5, "4": 20, "5": 40}, True, id="distribution-key-zero-pad"),
    pytest.param("distribution", {"1": -5, "2": 40, "3": 5, "4": 20, "5": 40}, True, id="distribution-negative"),
    pytest.param("mean_score", "high", True, id="mean_score-text"),
    pytest.param("ces_ratio", 1.5, True, id="ces_ratio-above-1"),
    pytest.param("ces_ratio", -0.1, True, id="ces_ratio-below-0"),
    pytest.param("net_effort", -1.01, True, id="net_effort-below-minus-1"),
    pytest.param("net_effort", 1.01, True, id="net_effort-above-1"),
    pytest.param("most_negative_ratio", 2, True, id="most_negative_ratio-2"),
    pytest.param("wilson_lower", -0.01, True, id="wilson_lower-negative"),
    pytest.param("wilson_upper", 1.01, True, id="wilson_upper-above-1"),
    pytest.param("confidence", 1.0, True, id="confidence-1"),
    pytest.param("confidence", 0.0, True, id="confidence-0"),
    pytest.param("confidence", None, True, id="confidence-null"),
    pytest.param("prompts", -1, True, id="prompts-negative"),
    pytest.param("response_ratio", -0.5, True, id="response_ratio-negative"),
    pytest.param("outcomes", {"started": 1}, True, id="outcomes-unknown-key"),
    pytest.param("outcomes", {"completed": -1}, True, id="outcomes-negative"),
    pytest.param("completion_ratio", 1.2, True, id="completion_ratio-above-1"),
    pytest.param("target_ces_ratio", 1.1, True, id="target_ces_ratio-above-1"),
    pytest.param("emitted_at", 1738314030, True, id="emitted_at-epoch"),
]

RULE_VIOLATIONS = [
    pytest.param({"positive": 61}, r"positive \+ neutral \+ negative = 101, answers = 100", id="sentiments-over"),
    pytest.param({"negative": 0}, r"positive \+ neutral \+ negative = 65, answers = 100", id="sentiments-under"),
    pytest.param({"distribution.5": 39}, "distribution sums to 99, answers = 100", id="distribution-sum"),
    pytest.param({"window_end": "2025-01-31T08:00:00Z"}, "window_end must be after window_start", id="window-empty"),
    pytest.param({"window_end": "2025-01-31T07:00:00Z"}, "window_end must be after window_start", id="window-reversed"),
    pytest.param(
        {"by_outcome.completed.positive": 51},
        r"positive \+ neutral \+ negative = 61, answers = 60",
        id="segment-sentiments",
    ),
    pytest.param({"at_exits.distribution.1": 15}, "distribution sums to 39, answers = 40", id="segment-distribution"),
]


def test_example_is_the_domain_worked_example(payload) -> None:
    summary = GoalSummary.model_validate_json(json.dumps(payload(GoalSummary)))
    assert summary.distribution == {"1": 20, "2": 15, "3": 5, "4": 20, "5": 40}
    assert (summary.mean_score, summary.ces_ratio, summary.most_negative_ratio, summary.net_effort) == (
        3.45,
        0.6,
        0.2,
        0.25,
    )
    assert summary.outcomes[PromptOutcome.abandoned_inferred] == 200


def test_empty_window_has_null_ratios(payload) -> None:
    empty = {
        "answers": 0, "positive": 0, "neutral": 0, "negative": 0, "prompts": 0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "outcomes": {"completed": 0, "abandoned": 0, "abandoned_inferred": 0},
    }  # fmt: skip
    nullable = [
        "mean_score", "ces_ratio", "net_effort", "most_negative_ratio", "wilson_lower", "wilson_upper",
        "response_ratio", "completion_ratio", "target_ces_ratio",
    ]  # fmt: skip
    data = payload(GoalSummary, {**empty, **dict.fromkeys(nullable)})
    summary = GoalSummary.model_validate_json(json.dumps(data))
    assert all(getattr(summary, name) is None for name in nullable)
    assert json.loads(summary.model_dump_json())["ces_ratio"] is None


def test_response_ratio_may_exceed_one(payload) -> None:
    # Answers in this window to prompts of the previous one.
    summary = GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, {"prompts": 50, "response_ratio": 2.0})))
    assert summary.response_ratio == 2.0


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(GoalSummary).is_valid(payload(GoalSummary, {path: value}))


@pytest.mark.parametrize(("changes", "message"), RULE_VIOLATIONS)
def test_rule_violation_is_rejected(changes, message, payload) -> None:
    with pytest.raises(ValidationError, match=message):
        GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, changes)))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_figures_are_rejected(value, payload) -> None:
    # JSON cannot carry them; built in Python they must fail before serialisation writes null.
    with pytest.raises(ValidationError) as info:
        GoalSummary.model_validate(payload(GoalSummary, {"mean_score": value}))
    assert {e["loc"][0] for e in info.value.errors()} == {"mean_score"}


@pytest.mark.parametrize(
    ("window_start", "key"),
    [
        pytest.param("2025-01-31T08:00:00Z", "download-invoice|1h|2025-01-31T08:00:00Z", id="utc"),
        pytest.param("2025-01-31T09:00:00+01:00", "download-invoice|1h|2025-01-31T08:00:00Z", id="offset-to-utc"),
    ],
)
def test_kafka_key_names_goal_window_and_utc_start(window_start, key, payload) -> None:
    data = payload(GoalSummary, {"window_start": window_start, "window_end": "2025-01-31T09:00:00Z"})
    assert GoalSummary.model_validate_json(json.dumps(data)).kafka_key() == key
