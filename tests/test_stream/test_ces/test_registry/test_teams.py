"""Owners in the registry: a team per goal (or from the defaults), the NPS block's team, and what a team may be."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.ces.registry import GoalRegistry, nps_team, teams
from stream.ces.registry.loader import load_registry
from tests.test_stream.test_ces.test_registry.test_model import EXAMPLE, _goal, _registry
from tests.test_stream.test_ces.test_registry.test_surveys import NPS, _load, _problem


def test_a_goal_has_the_team_it_names_else_the_defaults_else_none(tmp_path: Path) -> None:
    goals = [_goal("pay", team="checkout"), _goal("browse"), _goal("legacy", team=None)]
    registry = _load(tmp_path, _registry(defaults={"team": "web"}, goals=goals))
    assert [goal.team for goal in registry.goals] == ["checkout", "web", None]  # null opts out of the default
    without = _load(tmp_path, _registry(goals=[_goal("pay")]))
    assert without.goals[0].team is None and teams(without) == ()


def test_the_nps_team_owns_the_nps_alerts_of_every_goal_else_each_goal_its_own(tmp_path: Path) -> None:
    goals = [_goal("pay", team="checkout", nps_moment=True), _goal("browse")]
    owned = _load(tmp_path, _registry(nps={**NPS, "team": "insights"}, goals=goals))
    assert [nps_team(owned, goal) for goal in owned.goals] == ["insights", "insights"]
    assert teams(owned) == ("checkout", "insights")
    unowned = _load(tmp_path, _registry(nps=NPS, goals=goals))
    assert [nps_team(unowned, goal) for goal in unowned.goals] == ["checkout", None]
    assert teams(unowned) == ("checkout",)


def test_teams_are_sorted_and_each_named_once(tmp_path: Path) -> None:
    goals = [_goal("a", team="web"), _goal("b", team="claims"), _goal("c", team="web"), _goal("d")]
    assert teams(_load(tmp_path, _registry(goals=goals))) == ("claims", "web")


@pytest.mark.parametrize("team", ["web", "self-service", "team-42", "7", "a" * 63])
def test_a_team_is_a_slug(tmp_path: Path, team: str) -> None:
    assert _load(tmp_path, _registry(goals=[_goal("pay", team=team)])).goals[0].team == team


@pytest.mark.parametrize(
    "team", ["Web", "self_service", "-web", "web-", "web team", "", "team/page", "é", "a" * 64, 'x"}']
)
def test_a_team_that_is_not_a_slug_is_refused_naming_the_goal_and_the_rule(tmp_path: Path, team: str) -> None:
    message = _problem(tmp_path, _registry(goals=[_goal("pay", team=team)]))
    assert f"goal 'pay': team: {team!r} is not a team slug: 1 to 63 lower-case letters, digits and dashes" in message


def test_a_bad_team_in_the_defaults_or_the_nps_block_is_refused_once_where_it_is(tmp_path: Path) -> None:
    message = _problem(tmp_path, _registry(defaults={"team": "Web"}, goals=[_goal("a"), _goal("b")]))
    assert message.count("is not a team slug") == 1 and "defaults.team: 'Web'" in message
    nps = _registry(nps={**NPS, "team": "NPS"}, goals=[_goal("a", nps_moment=True)])
    assert "nps.team: 'NPS' is not a team slug" in _problem(tmp_path, nps)
    number = _problem(tmp_path, _registry(goals=[_goal("a", team=42)]))
    assert "goal 'a': team: Input should be a valid string (got 42)" in number


def test_the_example_has_goals_with_teams_one_without_and_an_nps_owner() -> None:
    example: GoalRegistry = load_registry(EXAMPLE)
    owned = {goal.slug: goal.team for goal in example.goals if goal.team is not None}
    assert set(owned.values()) == {"self-service", "claims"}
    assert len(owned) < len(example.goals)
    assert example.nps is not None and example.nps.team == "customer-insights"
