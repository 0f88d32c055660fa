"""The registry's survey kinds: CSAT goals, follow-up questions by band, the survey budget and NPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.survey_prompt import AnswerBand, ScaleKind, SurveyKind
from stream.ces.registry.loader import load_registry
from stream.ces.registry.model import GoalRegistry
from stream.errors import RegistryError
from tests.test_stream.test_ces.test_registry.test_model import _goal, _registry

NPS: dict[str, Any] = {
    "question": {"en": "How likely are you to recommend us?", "nl": "Hoe waarschijnlijk beveelt u ons aan?"},
    "follow_up_question": {"en": "Why that score?", "nl": "Waarom dat cijfer?"},
}
HARD = {"en": "What made it hard?", "nl": "Wat maakte het moeilijk?"}


def _load(tmp_path: Path, data: dict[str, Any]) -> GoalRegistry:
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_registry(path)


def _problem(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(RegistryError) as caught:
        _load(tmp_path, data)
    return str(caught.value)


def test_a_goal_asks_ces_unless_it_says_csat(tmp_path: Path) -> None:
    goals = [_goal("download-invoice"), _goal("contact-support", survey="csat")]
    registry = _load(tmp_path, _registry(goals=goals))
    assert registry.get("download-invoice").survey_kind is SurveyKind.ces
    csat = registry.get("contact-support")
    assert csat.survey_kind is SurveyKind.csat
    # CSAT's built-in labels are about satisfaction, not ease.
    labels = {label.value: label.label for label in csat.scale_spec_for("en").labels}
    assert labels[1] == "Very dissatisfied" and labels[5] == "Very satisfied"
    assert "nps" in _problem(tmp_path, _registry(goals=[_goal("a", survey="nps")]))


def test_a_csat_goal_may_ask_yes_or_no(tmp_path: Path) -> None:
    registry = _load(tmp_path, _registry(goals=[_goal("a", survey="csat", scale={"kind": "yes_no"})]))
    scale = registry.get("a").scale_obj()
    assert scale.kind is ScaleKind.yes_no and scale.points == (0, 1) and scale.positive == {1}


def test_follow_ups_by_band_name_a_question_none_or_the_general_one(tmp_path: Path) -> None:
    goal = _goal("a", follow_up_by_band={"negative": HARD, "positive": None})
    registry = _load(tmp_path, _registry(goals=[goal]))
    follow_ups = registry.get("a").follow_ups_for("nl-NL")
    assert [(f.band, f.scores, f.question) for f in follow_ups] == [
        (AnswerBand.negative, [1, 2], "Wat maakte het moeilijk?"),
        (AnswerBand.neutral, [3], "Wat kunnen we doen om dit makkelijker te maken?"),
    ]
    plain = _load(tmp_path, _registry(goals=[_goal("a")]))
    assert plain.get("a").follow_ups_for("nl") == []
    assert "nl" in _problem(tmp_path, _registry(goals=[_goal("a", follow_up_by_band={"negative": {"en": "x"}})]))


def test_the_budget_is_merged_from_the_defaults_and_a_goal_may_override_it(tmp_path: Path) -> None:
    data = _registry(
        defaults={"budget": {"max_prompts": 3, "period_seconds": 86400}},
        goals=[_goal("a"), _goal("b", budget={"max_prompts": 5, "period_seconds": 3600})],
    )
    registry = _load(tmp_path, data)
    assert (registry.get("a").budget.max_prompts, registry.get("a").budget.period_seconds) == (3, 86400)
    assert (registry.get("b").budget.max_prompts, registry.get("b").budget.period_seconds) == (5, 3600)
    assert _load(tmp_path, _registry()).get("download-invoice").budget is None
    assert "max_prompts" in _problem(tmp_path, _registry(defaults={"budget": {"max_prompts": 0}}))


def test_nps_is_asked_at_the_goals_marked_as_its_moment(tmp_path: Path) -> None:
    data = _registry(nps=NPS, goals=[_goal("a", nps_moment=True), _goal("b")])
    registry = _load(tmp_path, data)
    nps = registry.nps_enabled
    assert nps is not None and nps.period_seconds == 90 * 86400 and nps.priority == "nps"
    assert nps.sampling.rate == 1.0 and nps.high_effort.min_answers == 30
    assert registry.get("a").nps_moment and not registry.get("b").nps_moment
    spec = nps.scale_spec_for("nl")
    assert (spec.kind, spec.min_score, spec.max_score) == (ScaleKind.zero_to_ten, 0, 10)
    assert nps.follow_ups_for("en") == []  # one question after any score, as configured
    off = _load(tmp_path, _registry(nps={**NPS, "enabled": False}, goals=[_goal("a")]))
    assert off.nps_enabled is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(_registry(nps=NPS), "no goal is marked nps_moment", id="nps-without-moment"),
        pytest.param(_registry(goals=[_goal("a", nps_moment=True)]), "no nps question", id="moment-without-nps"),
        pytest.param(
            _registry(nps={**NPS, "sampling": {"target_answers_per_day": 10}}, goals=[_goal("a", nps_moment=True)]),
            "fixed rate",
            id="nps-adaptive-sampling",
        ),
        pytest.param(
            _registry(goals=[_goal("a", scale={"kind": "zero_to_ten", "positive": [8, 9, 10]})]),
            "fixed",
            id="nps-scale-positive-set",
        ),
        pytest.param(
            _registry(nps={**NPS, "labels": {"en": {11: "x"}, "nl": {0: "y"}}}, goals=[_goal("a", nps_moment=True)]),
            "11 is not a point",
            id="nps-label-outside",
        ),
    ],
)
def test_a_bad_nps_setup_is_refused_with_its_reason(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    assert expected in _problem(tmp_path, data)
