"""Owners of goals in the generated monitoring: the team per goal in the rules, the alerts that carry it, and
Alertmanager's route per team.

promtool proves the labels on a registry with a default team, a goal that opts out of it and an NPS owner
(the committed files prove those of deploy/goals.yaml: test_monitoring.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stream.ces.registry import GoalRegistry, teams
from stream.ces.registry.loader import load_registry
from stream.observability.alertmanager import (
    PAGE,
    TICKET,
    alertmanager_config,
    alertmanager_yaml,
    team_page,
    team_ticket,
)
from stream.observability.monitoring import ALERTMANAGER, RULE_TESTS, monitoring_files
from stream.observability.registry_rules import GOAL_TEAM, NPS_TEAM
from stream.observability.rule_tests import rule_tests
from stream.observability.rules import AlertPlan, pipeline_alerts, rule_file
from stream.settings import Settings
from tests.harness import write_registry
from tests.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


@pytest.fixture
def settings(monkeypatch) -> Settings:
    import os

    for name in [n for n in os.environ if n.startswith("CES_")]:
        monkeypatch.delenv(name)
    return Settings()


def _registry(tmp_path: Path, *, nps_team: str | None) -> GoalRegistry:
    """A default team (web), a goal of its own team, one that opts out, and NPS at the first goal's completions."""
    nps = {"team": nps_team} if nps_team is not None else {}
    goals = [
        {"slug": "pay", "scale": {"kind": "five_point"}, "nps_moment": True},
        {"slug": "claim", "scale": {"kind": "five_point"}, "team": "claims"},
        {"slug": "browse", "scale": {"kind": "five_point"}, "team": None},
    ]
    return load_registry(write_registry(tmp_path / "goals.yaml", goals, nps=nps, team="web"))


def _info(rules: dict, record: str) -> dict[str, str | None]:
    """goal -> team of the static info rule ``record``."""
    return {
        rule["labels"]["goal"]: rule["labels"].get("team")
        for rule in rules["groups"][0]["rules"]
        if rule.get("record") == record
    }


@pytest.mark.parametrize(
    ("nps_team", "nps_owners"),
    [
        ("insights", {"pay": "insights", "claim": "insights", "browse": "insights"}),
        (None, {"pay": "web", "claim": "claims", "browse": None}),
    ],
)
def test_every_goal_has_its_team_and_its_nps_owner_as_a_static_info_series(settings, tmp_path, nps_team, nps_owners):
    rules = rule_file(settings, _registry(tmp_path, nps_team=nps_team))
    assert _info(rules, GOAL_TEAM) == {"pay": "web", "claim": "claims", "browse": None}
    assert _info(rules, NPS_TEAM) == nps_owners
    for rule in rules["groups"][0]["rules"]:
        if rule["record"] in (GOAL_TEAM, NPS_TEAM):
            assert rule["expr"] == "vector(1)"  # joined by multiplication: the alert keeps its value


def test_every_goal_alert_joins_its_owner_and_the_pipeline_alerts_none(settings, tmp_path):
    rules = rule_file(settings, _registry(tmp_path, nps_team="insights"))
    groups = {group["name"]: group["rules"] for group in rules["groups"]}
    goal_alerts = groups["ces-stream-goals"]
    assert goal_alerts and all("alert" in rule for rule in goal_alerts)
    for rule in goal_alerts:
        owner = NPS_TEAM if rule["alert"].startswith("Nps") else GOAL_TEAM
        # Once, on the whole condition (CesAnswersStopped's exception comes after it).
        assert rule["expr"].count("group_left (team)") == 1, rule["alert"]
        assert f"\n)\n* on (goal) group_left (team) {owner}" in rule["expr"], rule["alert"]
    # The pipeline's alerts (CesGoalNotExported too: an unowned partition is the platform's) are unchanged.
    assert groups["ces-stream-pipeline"] == pipeline_alerts(AlertPlan(settings))["rules"]
    assert not any("team" in rule["expr"] for rule in groups["ces-stream-pipeline"])


@pytest.mark.external("promtool")
@pytest.mark.parametrize("nps_team", ["insights", None])
def test_promtool_proves_the_team_labels_of_a_default_team_an_opt_out_and_the_nps_owner(settings, tmp_path, nps_team):
    registry = _registry(tmp_path, nps_team=nps_team)
    tests = rule_tests(settings, registry, "ces-stream.rules.yml")
    (tmp_path / "ces-stream.rules.yml").write_text(yaml.safe_dump(rule_file(settings, registry), sort_keys=False))
    (tmp_path / "ces-stream.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    expected = {
        (check["alertname"], alert["exp_labels"]["goal"], alert["exp_labels"].get("team"))
        for test in tests["tests"]
        for check in test["alert_rule_test"]
        for alert in check["exp_alerts"]
        if "goal" in alert["exp_labels"]
    }
    # pay (the default team web) drops; browse opted out of it; the NPS alert's owner is the NPS team, else pay's.
    assert ("CesBelowTarget", "pay", "web") in expected
    assert ("CesBelowTargetSequential", "browse", None) in expected
    assert ("NpsDroppedBelowBaseline", "pay", nps_team or "web") in expected
    assert ("CesGoalNotExported", "pay", None) in expected
    result = subprocess.run(
        ["promtool", "test", "rules", "ces-stream.test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_rule_tests_prove_a_goal_with_a_team_and_one_without():
    """deploy/goals.yaml keeps a goal with a team and one without, so the committed tests prove both."""
    tests = yaml.safe_load((DEPLOY / RULE_TESTS).read_text())["tests"]
    (owners,) = [test for test in tests if test["name"].startswith("Owners:")]
    fired = [alert["exp_labels"] for check in owners["alert_rule_test"] for alert in check["exp_alerts"]]
    assert sorted(labels.get("team", "") for labels in fired) == ["", "self-service"]


# --- Alertmanager ---------------------------------------------------------------------------------------------


def test_each_team_gets_a_route_with_its_own_page_and_ticket_before_the_default_routes():
    config = alertmanager_config("http://hooks.example/ces/", teams=["claims", "web"])
    routes = config["route"]["routes"]
    assert [route["matchers"] for route in routes] == [
        ['team="claims"'],
        ['team="web"'],
        ['severity="critical"'],
        ['severity="warning"'],
    ]
    for route, team in zip(routes, ["claims", "web"], strict=False):
        assert route["receiver"] == team_ticket(team)  # neither critical nor warning: a ticket, as by default
        assert [(r["matchers"], r["receiver"]) for r in route["routes"]] == [
            (['severity="critical"'], team_page(team)),
            (['severity="warning"'], team_ticket(team)),
        ]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {
        PAGE: "http://hooks.example/ces/page",
        TICKET: "http://hooks.example/ces/ticket",
        "ces-stream-claims-page": "http://hooks.example/ces/claims/page",
        "ces-stream-claims-ticket": "http://hooks.example/ces/claims/ticket",
        "ces-stream-web-page": "http://hooks.example/ces/web/page",
        "ces-stream-web-ticket": "http://hooks.example/ces/web/ticket",
    }


def test_without_teams_every_alert_goes_to_the_default_receivers():
    config = alertmanager_config()
    assert [route["receiver"] for route in config["route"]["routes"]] == [PAGE, TICKET]
    assert [receiver["name"] for receiver in config["receivers"]] == [PAGE, TICKET]


def test_the_committed_config_routes_exactly_the_teams_of_the_registry(settings):
    registry = load_registry(DEPLOY / "goals.yaml")
    assert teams(registry) == ("claims", "customer-insights", "self-service")
    config = yaml.safe_load(monitoring_files(settings, registry)[ALERTMANAGER])
    routed = [route["matchers"] for route in config["route"]["routes"] if "routes" in route]
    assert routed == [[f'team="{team}"'] for team in teams(registry)]


@pytest.mark.external("amtool")
def test_amtool_routes_a_team_alert_to_its_team_and_one_without_a_team_to_the_defaults(tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager_yaml("http://hooks.example/ces", teams=["web", "claims"]))
    assert subprocess.run(["amtool", "check-config", str(path)], capture_output=True).returncode == 0
    for labels, receiver in [
        (["severity=critical", "goal=pay", "team=web"], team_page("web")),
        (["severity=warning", "goal=pay", "team=web"], team_ticket("web")),
        (["severity=critical", "goal=claim", "team=claims"], team_page("claims")),
        (["severity=critical", "goal=browse"], PAGE),
        (["severity=warning", "goal=browse"], TICKET),
    ]:
        command = ["amtool", "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receiver}"]
        result = subprocess.run([*command, *labels], capture_output=True, text=True)
        assert result.returncode == 0, f"{labels}: {result.stdout}{result.stderr}"
