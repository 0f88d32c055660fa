"""The generated monitoring files: current, valid for promtool and amtool, with a runbook section per alert.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages (CI
installs them); the tests that need them skip only where they are missing.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from stream.ces.registry.loader import load_registry
from stream.errors import SettingsError
from stream.observability.alertmanager import PAGE, TICKET, team_page, team_ticket
from stream.observability.feed_rules import FEED_JOB
from stream.observability.gateway_rules import GATEWAY_JOB
from stream.observability.monitoring import (
    ALERTMANAGER,
    RULE_TESTS,
    RULES,
    WEEK_RULE_TESTS,
    differences,
    monitoring_files,
)
from stream.observability.registry_rules import GOAL_TEAM
from stream.observability.rules import JOB, AlertPlan, rule_file
from stream.settings import Settings
from tests.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
DEPLOY = ROOT / "deploy"
needs_promtool = pytest.mark.external("promtool")
needs_amtool = pytest.mark.external("amtool")


@pytest.fixture
def default_settings(monkeypatch) -> Settings:
    """The defaults the committed files are generated with, whatever CES_* this shell has."""
    import os

    for name in [n for n in os.environ if n.startswith("CES_")]:
        monkeypatch.delenv(name)
    return Settings()


def committed_alerts() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / RULES).read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_committed_files_are_what_the_generator_writes(default_settings):
    files = monitoring_files(default_settings, load_registry(DEPLOY / "goals.yaml"), registry_name="deploy/goals.yaml")
    assert differences(files, DEPLOY) == [], "stale monitoring files: run `ces-stream monitoring`"


@needs_promtool
def test_promtool_checks_the_rules():
    result = subprocess.run(["promtool", "check", "rules", str(DEPLOY / RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_pass_with_a_boundary_test_per_alert():
    command = ["promtool", "test", "rules", RULE_TESTS, WEEK_RULE_TESTS]
    result = subprocess.run(command, cwd=DEPLOY, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = [
        test for path in (RULE_TESTS, WEEK_RULE_TESTS) for test in yaml.safe_load((DEPLOY / path).read_text())["tests"]
    ]
    tested = {(t["alertname"], t["eval_time"]) for test in tests for t in test.get("alert_rule_test", [])}
    for rule in committed_alerts():
        times = [eval_time for name, eval_time in tested if name == rule["alert"]]
        assert len(times) >= 2, f"{rule['alert']}: needs a silent and a firing evaluation"


@needs_promtool
def test_a_broken_rule_file_fails_promtool(tmp_path):
    """The promtool tests mean something: a rule whose threshold moved makes them fail."""
    (tmp_path / "ces-stream.test.yml").write_text((DEPLOY / RULE_TESTS).read_text())
    rules = (DEPLOY / RULES).read_text().replace("== 0", "== 1", 1)
    (tmp_path / "ces-stream.rules.yml").write_text(rules)
    result = subprocess.run(
        ["promtool", "test", "rules", "ces-stream.test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0


@needs_amtool
def test_amtool_accepts_the_alertmanager_config():
    result = subprocess.run(["amtool", "check-config", str(DEPLOY / ALERTMANAGER)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "goal=complete-purchase", "alertname=CesBelowTarget"], PAGE),
        (["severity=warning", "goal=complete-purchase", "alertname=CesEffortAtExits"], TICKET),
        (["severity=critical", "goal=download-invoice", "alertname=CesGoalNotExported"], PAGE),
        (["severity=critical", "alertname=CesWorkerDown"], PAGE),
        (["alertname=CesSomethingNew"], TICKET),
        # A team the registry does not name has no route: its alerts are not lost, the defaults get them.
        (["severity=critical", "goal=x", "team=not-in-the-registry", "alertname=CesBelowTarget"], PAGE),
        # The teams of deploy/goals.yaml: self-service and claims own goals, customer-insights the NPS alerts.
        (["severity=critical", "goal=download-invoice", "team=self-service", "alertname=CesBelowTarget"],
         team_page("self-service")),
        (["severity=warning", "goal=download-invoice", "team=self-service", "alertname=CesEffortAtExits"],
         team_ticket("self-service")),
        (["severity=critical", "goal=file-claim", "team=claims", "alertname=CesAnswersStopped"], team_page("claims")),
        (["goal=file-claim", "team=claims", "alertname=CesSomethingNew"], team_ticket("claims")),
        (["severity=warning", "goal=complete-purchase", "team=customer-insights", "alertname=NpsDroppedBelowBaseline"],
         team_ticket("customer-insights")),
    ],
)  # fmt: skip
def test_routes_send_critical_to_the_page_and_the_rest_to_the_ticket_receiver_of_the_team(labels, receiver):
    result = subprocess.run(
        [
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={DEPLOY / ALERTMANAGER}",
            f"--verify.receivers={receiver}",
            *labels,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_critical_inhibits_warning_of_the_same_goal_and_team_and_alerts_group_by_goal():
    """The same team too: a goal's page does not hide the ticket the NPS team gets about that goal."""
    config = yaml.safe_load((DEPLOY / ALERTMANAGER).read_text())
    assert config["route"]["group_by"] == ["alertname", "goal", "team"]
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["goal", "team"],
        }
    ]


def test_every_alert_has_its_runbook_section_and_mixin_annotations():
    runbook = (DEPLOY / "runbook.md").read_text()
    sections = set(re.findall(r"^## ((?:Ces|Csat|Nps)\w+)$", runbook, flags=re.M))
    alerts = committed_alerts()
    assert {rule["alert"] for rule in alerts} == sections
    for rule in alerts:
        assert re.fullmatch(r"(Ces|Csat|Nps)[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["for"]
        annotations = rule["annotations"]
        assert "{{" not in annotations["summary"], "the summary is a static sentence"
        assert annotations["runbook_url"].endswith(f"runbook.md#{rule['alert'].lower()}")
        assert "{{" in annotations["description"]


def test_every_alert_is_in_the_catalogue_of_docs_alerting():
    catalogue = (ROOT / "docs" / "alerting.md").read_text()
    missing = sorted(
        {rule["alert"] for rule in committed_alerts()} - set(re.findall(r"^\| `(\w+)` \|", catalogue, re.M))
    )
    assert not missing, f"alerts missing from the table of docs/alerting.md: {missing}"


def test_the_feed_webhooks_alerts_are_the_platforms_without_goal_or_team():
    """Tickets for the platform: no goal, no team (routed to the default receivers), a wrong URL being every goal's."""
    (group,) = [
        g for g in yaml.safe_load((DEPLOY / RULES).read_text())["groups"] if g["name"] == "ces-stream-feed-webhook"
    ]
    assert [rule["alert"] for rule in group["rules"]] == [
        "CesFeedWebhookDown",
        "CesFeedWebhookRefusing",
        "CesFeedWebhookStuck",
    ]
    for rule in group["rules"]:
        assert rule["labels"] == {"severity": "warning"}
        assert " by (" not in rule["expr"] and "team" not in rule["expr"], rule["alert"]


def test_thresholds_come_from_the_registry_and_the_settings(default_settings, tmp_path):
    from tests.harness import write_registry

    registry = load_registry(
        write_registry(
            tmp_path / "goals.yaml",
            [{"slug": "strict", "scale": {"kind": "five_point"}, "alerting": {"min_answers": 80}}],
        )
    )
    settings = Settings(alert_windows=("30m", "3h"), alert_lag_messages=123)
    text = yaml.safe_dump(rule_file(settings, registry))
    assert "vector(80)" in text and 'window=~"30m|3h"' in text and "> 123" in text


@pytest.mark.parametrize("field", ["alert_windows", "alert_baseline_window"])
def test_an_alert_window_that_is_not_a_window_is_refused(field):
    value = ("15m",) if field == "alert_windows" else "15m"
    with pytest.raises(SettingsError, match="not one of CES_WINDOWS"):
        AlertPlan(Settings(**{field: value}))


SURVEY_ALERTS = ("CesAnswersStopped", "CesPromptsNotShown", "CesPromptsStopped")


def test_the_survey_alerts_take_their_lookback_and_for_from_the_settings(default_settings):
    """A PromQL range, not a worker window: 1m is not one of CES_WINDOWS and is taken as it is."""
    settings = Settings(alert_survey_window="1m", alert_survey_for="10s")
    rules = {
        rule["alert"]: rule
        for group in rule_file(settings, load_registry(DEPLOY / "goals.yaml"))["groups"]
        for rule in group["rules"]
        if rule.get("alert") in SURVEY_ALERTS
    }
    assert sorted(rules) == sorted(SURVEY_ALERTS)
    for rule in rules.values():
        assert rule["for"] == "10s"
        ranges = re.findall(r"\[(\w+)\]", rule["expr"])
        assert ranges and set(ranges) == {"1m"}, rule["expr"]
        assert "in the last 1m," in rule["annotations"]["description"]


@pytest.mark.parametrize(
    ("field", "variable"),
    [("alert_survey_window", "CES_ALERT_SURVEY_WINDOW"), ("alert_survey_for", "CES_ALERT_SURVEY_FOR")],
)
def test_a_survey_alert_duration_that_is_not_a_duration_is_refused(field, variable):
    with pytest.raises(SettingsError, match=f"{variable}: invalid duration"):
        AlertPlan(Settings(**{field: "1 hour"}))


def test_every_path_docker_compose_mounts_exists():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert mounts, "compose mounts nothing from the repository?"
    missing = [path for path in mounts if not (ROOT / path).exists()]
    assert not missing
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/ces-stream.rules.yml"]
    assert (DEPLOY / RULES).is_file()


def test_prometheus_scrapes_every_job_an_alert_reads_and_the_feed_webhook_and_gateway_at_their_compose_services():
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus["scrape_configs"]}
    read = {job for rule in committed_alerts() for job in re.findall(r'up\{job="([^"]+)"\}', rule["expr"])}
    assert read == {JOB, FEED_JOB, GATEWAY_JOB} and read <= set(targets)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for job, command, port_variable in (
        (FEED_JOB, "feed-webhook", "CES_FEED_WEBHOOK_METRICS_PORT"),
        (GATEWAY_JOB, "gateway", "CES_GATEWAY_METRICS_PORT"),
    ):
        (service,) = [name for name, spec in compose.items() if spec.get("command") == [command]]
        port = compose[service]["environment"][port_variable]
        assert targets[job] == [f"{service}:{port}"]
        assert f"{port}:{port}" in compose[service]["ports"]


def test_the_gateways_alerts_are_the_platforms_and_read_its_job_only():
    (group,) = [g for g in yaml.safe_load((DEPLOY / RULES).read_text())["groups"] if g["name"] == "ces-stream-gateway"]
    assert [rule["alert"] for rule in group["rules"]] == [
        "CesGatewayDown",
        "CesGatewayUnavailable",
        "CesGatewayDeliveryLagHigh",
        "CesGatewayStreamsNearLimit",
    ]
    for rule in group["rules"]:
        assert rule["labels"] == {"severity": "warning"}
        assert "team" not in rule["expr"] and "by (goal" not in rule["expr"], rule["alert"]
        assert set(re.findall(r'job="([^"]+)"', rule["expr"])) == {GATEWAY_JOB}, rule["alert"]


def test_the_stream_limit_alert_follows_the_setting(default_settings):
    registry = load_registry(DEPLOY / "goals.yaml")
    (rule,) = [
        rule
        for group in rule_file(Settings(gateway_max_streams=1000), registry)["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "CesGatewayStreamsNearLimit"
    ]
    assert rule["expr"].endswith("> 900") and "of at most 1000 " in rule["annotations"]["description"]


@pytest.mark.external("docker-compose")
def test_docker_compose_file_is_valid():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_csat_goal_gets_the_csat_alerts_and_never_the_ces_ones_on_its_own_figures(default_settings):
    """Every alert on the top-box share of the goal's own question has a CES and a CSAT name, told apart by the
    worker's ces_goal_survey_info; the other alerts (the survey, drop-off, the pipeline) are the same for both."""
    alerts = {rule["alert"]: rule["expr"] for rule in committed_alerts()}
    csat = 'ces_goal_survey_info{survey="csat"}'
    for ces_name, csat_name in [
        ("CesBelowTarget", "CsatBelowTarget"),
        ("CesBelowTargetSequential", "CsatBelowTargetSequential"),
        ("CesDroppedBelowBaseline", "CsatDroppedBelowBaseline"),
        ("CesEffortAtExits", "CsatLowerAtExits"),
    ]:
        # The condition, then its owner joined in (tests/test_stream/test_observability/test_owners.py).
        assert alerts[ces_name].endswith(f"unless on (goal) {csat}\n)\n* on (goal) group_left (team) {GOAL_TEAM}")
        assert alerts[csat_name].endswith(f"and on (goal) {csat}\n)\n* on (goal) group_left (team) {GOAL_TEAM}")
    assert "ces_goal_nps_baseline_gap_upper" in alerts["NpsDroppedBelowBaseline"]
    assert "> 0.12" in alerts["NpsDroppedBelowBaseline"]  # twice CES_ALERT_BASELINE_DROP_TOLERANCE: the NPS scale
