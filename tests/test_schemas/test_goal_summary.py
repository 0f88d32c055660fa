"""GoalSummary: ranges of every figure, count consistency, nulls for empty windows, the Kafka key, the NPS part."""

from __future__ import annotations

import copy
import json
import math

import pytest
from pydantic import ValidationError

from schemas import Channel, GoalSummary, PromptOutcome
from schemas.summary_example import NPS_EXAMPLE

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


# -- version 5: the goal's own question and the NPS asked at its moments ----------------------------


def with_nps(payload, changes=None):
    """The example summary of a goal that is an NPS moment (the NPS worked example), with ``changes``
    at dotted paths under ``nps``."""
    data = payload(GoalSummary, {"nps": copy.deepcopy(NPS_EXAMPLE)})
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        target = data["nps"]
        for part in parents:
            target = target[part]
        target[last] = value
    return data


def test_a_summary_with_the_nps_worked_example_validates_and_round_trips(payload) -> None:
    summary = GoalSummary.model_validate_json(json.dumps(with_nps(payload)))
    assert summary.schema_version == 6 and summary.survey == "ces"
    nps = summary.nps
    assert nps is not None and (nps.promoters, nps.passives, nps.detractors, nps.nps) == (50, 30, 20, 0.3)
    assert nps.by_channel[Channel.web].answers == 70 and nps.high_effort_gap.upper < 0
    assert json.loads(summary.model_dump_json())["nps"] == NPS_EXAMPLE


def test_a_csat_goals_summary_says_so(payload) -> None:
    summary = GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, {"survey": "csat"})))
    assert summary.survey == "csat" and summary.ces_ratio == 0.6  # the CSAT share of its own question


def test_nps_without_answers_has_null_figures_and_the_effort_split_null(payload) -> None:
    prompted_only = {
        **dict.fromkeys(("answers", "promoters", "passives", "detractors", "shown", "dismissed"), 0),
        **dict.fromkeys(("promoter_share", "passive_share", "detractor_share", "nps", "nps_lower", "nps_upper")),
        "distribution": {str(point): 0 for point in range(11)},
        "prompts": 3,
        "response_ratio": 0.0,
        "by_channel": {},
        "high_effort": None,
        "rest": None,
        "high_effort_gap": None,
    }
    summary = GoalSummary.model_validate_json(json.dumps(payload(GoalSummary, {"nps": prompted_only})))
    assert summary.nps is not None and summary.nps.nps is None and summary.nps.prompts == 3


NPS_VIOLATIONS = [
    pytest.param({"nps": 1.5}, id="nps-above-1"),
    pytest.param({"nps_lower": -1.01}, id="nps_lower-below-minus-1"),
    pytest.param({"promoter_share": 1.2}, id="share-above-1"),
    pytest.param({"distribution.11": 0}, id="distribution-point-11"),
    pytest.param({"prompts": -1}, id="prompts-negative"),
    pytest.param({"by_channel.fax": NPS_EXAMPLE["by_channel"]["ios"]}, id="by_channel-unknown-channel"),
    pytest.param({"high_effort_gap.difference": -2.5}, id="gap-below-minus-2"),
    pytest.param({"rest.extra": 1}, id="group-extra-field"),
]


@pytest.mark.parametrize("changes", NPS_VIOLATIONS)
def test_nps_out_of_range_is_rejected_by_the_model_and_the_json_schema(changes, payload, schema_validator) -> None:
    data = with_nps(payload, changes)
    with pytest.raises(ValidationError) as info:
        GoalSummary.model_validate_json(json.dumps(data))
    assert {e["loc"][0] for e in info.value.errors()} == {"nps"}
    assert not schema_validator(GoalSummary).is_valid(data)


NPS_RULE_VIOLATIONS = [
    pytest.param({"promoters": 51}, r"promoters \+ passives \+ detractors = 101, answers = 100", id="bands-over"),
    pytest.param(
        {"distribution.9": 21, "distribution.8": 19},
        r"distribution gives promoters, passives, detractors = \[49, 31, 20\]",
        id="distribution-bands",
    ),
    pytest.param({"distribution.0": 3, "distribution.1": 0}, None, id="distribution-same-bands-passes"),
    pytest.param(
        {"by_channel.ios.detractors": 9}, r"promoters \+ passives \+ detractors = 31, answers = 30", id="channel-bands"
    ),
    pytest.param({"nps": None}, "nps must be null without answers, and only then", id="nps-null-with-answers"),
    pytest.param({"rest.nps_lower": 0.7}, r"nps_lower 0.7 is above nps_upper 0.6856", id="group-interval-reversed"),
    pytest.param({"rest": None}, "needs both groups", id="effort-gap-without-a-group"),
    pytest.param(
        {"by_channel.web.answers": 71, "by_channel.web.promoters": 39},
        "by_channel must not exceed answers",
        id="channels-over",
    ),
    pytest.param(
        {"rest.answers": 71, "rest.passives": 25}, "high_effort and rest must not exceed answers", id="groups-over"
    ),
]


@pytest.mark.parametrize(("changes", "message"), NPS_RULE_VIOLATIONS)
def test_nps_counts_that_do_not_add_up_are_refused(changes, message, payload) -> None:
    data = with_nps(payload, changes)
    if message is None:  # a change that keeps every count consistent
        assert GoalSummary.model_validate_json(json.dumps(data)).nps is not None
        return
    with pytest.raises(ValidationError, match=message):
        GoalSummary.model_validate_json(json.dumps(data))


def test_every_nps_point_must_be_in_the_distribution(payload) -> None:
    data = with_nps(payload)
    del data["nps"]["distribution"]["10"]
    data["nps"]["distribution"]["9"] += 28
    with pytest.raises(ValidationError, match=r"every point 0\.\.10"):
        GoalSummary.model_validate_json(json.dumps(data))
