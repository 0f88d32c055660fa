"""The generated Grafana dashboards: complete panels, only known metrics, queries Prometheus can parse.

The end-to-end test runs every panel query against a real Prometheus (the release verdict annotations
are run on one in ``test_release_annotations_on_prometheus``); these tests catch the mistakes that
need none: a panel without unit or description, a misspelt metric or rule name, a variable left in a
query, PromQL that does not parse (with promtool, where installed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from stream.ces.registry.loader import load_registry
from stream.observability import rules
from stream.observability.dashboards import annotation_queries, dashboards, panel_queries, provisioning
from stream.observability.nps_exposition import NPS_FAMILY_DOCS
from stream.observability.window_exposition import (
    DURATION_GAUGE,
    EXIT_GAP_GAUGES,
    NON_RESPONSE_GAUGES,
    WINDOW_GAUGES,
    split_metric_names,
)
from stream.settings import Settings

UIDS = {"ces-overview.json": "ces-overview", "ces-goal.json": "ces-goal", "ces-pipeline.json": "ces-pipeline"}
VARIABLES = {"goal": "download-invoice", "window": "1h", "split_window": "7d", "datasource": "prometheus"}
needs_promtool = pytest.mark.external("promtool")

KNOWN_NAMES = {
    *split_metric_names(),
    *(name for name, _, _ in WINDOW_GAUGES),
    *(name for name, _, _ in EXIT_GAP_GAUGES),
    *(name for name, _, _ in NON_RESPONSE_GAUGES),
    "ces_goal_answers_by_score",
    *NPS_FAMILY_DOCS,
    "ces_goal_outcomes",
    DURATION_GAUGE,
    "ces_goal_target_ces_ratio",
    "ces_goal_events_total",
    "ces_events_invalid_total",
    "ces_survey_prompts_total",
    "ces_survey_prompts_suppressed_total",
    "ces_survey_answers_total",
    "ces_feedback_comments_total",
    "ces_offset_gaps_total",
    "ces_last_event_processed_timestamp_seconds",
    "ces_consumer_lag_messages",
    "ces_worker_ready",
    "ces_broker_reachable",
    "ces_stalled_partitions",
    "ces_release_verdict_timestamp_seconds",
    *(f"ces_prompt_decision_latency_seconds{suffix}" for suffix in ("_bucket", "_sum", "_count")),
    # Every recording rule name of the rules module (level:metric:operations).
    *(value for name, value in vars(rules).items() if name.isupper() and isinstance(value, str) and ":" in value),
    "ALERTS",
    "up",
}
PROMQL_FUNCTIONS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "bottomk",
    "topk",
    "rate",
    "increase",
    "time",
    "vector",
    "histogram_quantile",
    "clamp_min",
    "clamp_max",
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def default_settings(**fields) -> Settings:
    """The default settings (and ``fields``), whatever CES_* this shell has."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CES_")]:
            patch.delenv(name)
        return Settings(**fields)


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    """The dashboards of the default settings and the example registry."""
    return dashboards(default_settings(), load_registry("deploy/goals.yaml"))


def all_panels(panels: list[dict]) -> list[dict]:
    """Every panel, the ones inside rows included."""
    return [found for panel in panels for found in [panel, *all_panels(panel.get("panels") or [])]]


def metric_names(expr: str) -> set[str]:
    """Metric and recording-rule names of a PromQL expression; function names must be known ones."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*(\s*\()?", text):
        name, is_call = match.group(0).rstrip(" (").strip(), match.group(1) is not None
        if is_call:
            assert name in PROMQL_FUNCTIONS, f"unexpected PromQL function {name!r} in {expr!r}"
        elif name not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def test_the_three_dashboards_with_their_uids_tag_refresh_and_time(built):
    assert {name: board["uid"] for name, board in built.items()} == UIDS
    for board in built.values():
        assert board["tags"] == ["ces-stream"] and board["refresh"] == "30s"
        assert board["time"] == {"from": "now-24h", "to": "now"}
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"


def test_json_serialisable_and_deterministic(built):
    again = dashboards(default_settings(), load_registry("deploy/goals.yaml"))
    assert json.dumps(built, sort_keys=False) == json.dumps(again, sort_keys=False)
    assert json.loads(json.dumps(built)) == built


def test_every_panel_has_description_unit_grid_position_and_the_datasource_variable(built):
    assert any(panel["type"] == "row" and panel["panels"] for panel in built["ces-goal.json"]["panels"])
    for name, board in built.items():
        panels = all_panels(board["panels"])
        assert len({panel["id"] for panel in panels}) == len(panels), f"{name}: panel ids are not unique"
        for panel in panels:
            where = f"{name}: {panel.get('title')!r}"
            assert set(panel["gridPos"]) >= {"h", "w", "x", "y"}, where
            if panel["type"] == "row":
                continue
            assert panel.get("description", "").strip(), where
            assert panel["fieldConfig"]["defaults"].get("unit"), where
            assert panel["datasource"]["uid"] == "${datasource}", where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["refId"] and target["datasource"]["uid"] == "${datasource}", where
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids), where


def test_ratios_are_percentunit_counts_short_rates_per_second(built):
    def units(name: str) -> dict[str, str]:
        return {
            panel["title"]: panel["fieldConfig"]["defaults"]["unit"]
            for panel in all_panels(built[name]["panels"])
            if panel["type"] != "row"
        }

    goal, pipeline = units("ces-goal.json"), units("ces-pipeline.json")
    assert goal["$survey over time"] == goal["Completion and drop-off"] == goal["CES per channel"] == "percentunit"
    assert goal["CES corrected for non-response"] == "percentunit"
    assert goal["Answers"] == goal["Score distribution"] == pipeline["Consumer lag"] == "short"
    assert pipeline["Throughput"] == pipeline["Dead letters"] == "ops"
    assert pipeline["Prompt decision latency"] == pipeline["Last event age"] == "s"


def test_the_goal_dashboard_variables(built):
    variables = {v["name"]: v for v in built["ces-goal.json"]["templating"]["list"]}
    assert variables["goal"]["type"] == "query"
    assert variables["goal"]["query"] == "label_values(ces_goal_answers, goal)"
    assert variables["goal"]["datasource"]["uid"] == "${datasource}"
    windows = [spec.name for spec in default_settings().window_specs()]
    assert [option["value"] for option in variables["window"]["options"]] == windows
    assert variables["window"]["current"]["value"] == "1h"
    assert variables["split_window"]["current"]["value"] == "7d"  # the longest split window
    assert {option["value"] for option in variables["split_window"]["options"]} == set(
        default_settings().split_window_names()
    )


def test_the_overview_names_goals_as_the_registry_does(built):
    registry = load_registry("deploy/goals.yaml")
    table = next(panel for panel in built["ces-overview.json"]["panels"] if panel["type"] == "table")
    goal_column = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Goal")
    mapping = next(p["value"][0]["options"] for p in goal_column["properties"] if p["id"] == "mappings")
    csat = " (CSAT)"
    assert mapping == {
        goal.slug: {"text": goal.display_name["en"] + (csat if goal.survey == "csat" else "")}
        for goal in registry.goals
    }
    assert mapping["chat-with-support"]["text"].endswith(csat)
    # The share column says both kinds, and the goals that ask NPS have it in points.
    organize = next(t["options"] for t in table["transformations"] if t["id"] == "organize")
    assert (organize["renameByName"]["Value #A"], organize["renameByName"]["Value #G"]) == ("CES / CSAT", "NPS")
    nps_query = table["targets"][6]["expr"]  # the G query
    assert "ces_goal_nps{" in nps_query and nps_query.endswith("* 100"), nps_query


def test_without_split_windows_the_goal_dashboard_has_no_split_panels():
    board = dashboards(default_settings(split_windows=("none",)), load_registry("deploy/goals.yaml"))["ces-goal.json"]
    assert "split_window" not in {v["name"] for v in board["templating"]["list"]}
    assert not [query for _, query in panel_queries(board, {"goal": "x"}) if "_by_channel" in query]
    assert not [query for _, query in panel_queries(board, {"goal": "x"}) if "_corrected" in query]


def test_the_non_response_panel_plots_the_blended_corrected_and_silent_bounds_on_the_split_window(built):
    board = built["ces-goal.json"]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert "Non-response ($split_window)" in rows
    queries = [query for title, query in panel_queries(board, VARIABLES) if title == "CES corrected for non-response"]
    plotted = {name for query in queries for name in metric_names(query)}
    assert plotted == {"ces_goal_ces_ratio", *(name for name, _, _ in NON_RESPONSE_GAUGES)}
    assert all('goal="download-invoice", window="7d"' in query for query in queries)  # the split window


def test_the_funnel_row_plots_sent_shown_dismissed_answered_and_their_ratios_on_the_selected_window(built):
    board = built["ces-goal.json"]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows.index("Prompt funnel ($window)") == rows.index("$survey and drop-off ($window)") + 1
    panels = {panel["title"]: panel for panel in all_panels(board["panels"])}
    counts, ratios = panels["Prompt funnel"], panels["Shown, dismissed and answered ratios"]
    assert (counts["type"], counts["fieldConfig"]["defaults"]["unit"]) == ("bargauge", "short")
    assert (ratios["type"], ratios["fieldConfig"]["defaults"]["unit"]) == ("timeseries", "percentunit")
    queries = panel_queries(board, VARIABLES)

    def plotted(title: str) -> list[str]:
        return [name for panel, query in queries if panel == title for name in sorted(metric_names(query))]

    assert plotted("Prompt funnel") == [
        "ces_goal_prompts",
        "ces_goal_prompts_shown",
        "ces_goal_prompts_dismissed",
        "ces_goal_answers",
    ]
    assert [target["legendFormat"] for target in counts["targets"]] == ["sent", "shown", "dismissed", "answered"]
    assert plotted("Shown, dismissed and answered ratios") == [
        "ces_goal_shown_ratio",
        "ces_goal_dismissal_ratio",
        "ces_goal_response_ratio_shown",
    ]
    funnel = [query for panel, query in queries if panel in (counts["title"], ratios["title"])]
    assert len(funnel) == 7 and all('goal="download-invoice", window="1h"' in query for query in funnel)
    for panel in (counts, ratios):  # one sentence each
        assert panel["description"].endswith(".") and panel["description"].count(". ") == 0


def test_panels_of_the_prompts_sent_do_not_call_them_shown(built):
    sent = {"ces_goal_prompts", "ces_goal_response_ratio", rules.PROMPTS_RATE}
    shown = {"ces_goal_prompts_shown", "ces_goal_shown_ratio", "ces_goal_response_ratio_shown"}
    checked: dict[str, list[str]] = {}  # a title can stand on two panels (a stat and a time series)
    for name, board in built.items():
        for panel in all_panels(board["panels"]):
            alone = {"templating": board["templating"], "panels": [{**panel, "panels": []}]}
            names = {metric for _, query in panel_queries(alone, VARIABLES) for metric in metric_names(query)}
            if names & sent and not names & shown:
                checked.setdefault(f"{name}: {panel['title']}", []).append(panel["description"])
    assert len(checked["ces-goal.json: Response ratio"]) == 2
    assert [where for where, texts in checked.items() if any("prompts shown" in t.lower() for t in texts)] == []
    for where in (
        "ces-goal.json: Response ratio",
        "ces-goal.json: Answers and prompts",
        "ces-overview.json: Prompts per hour",
    ):
        assert all("prompts sent" in text for text in checked[where]), where


def all_queries(board: dict) -> list[tuple[str, str]]:
    """(panel title or annotation name, PromQL as Prometheus gets it) of the dashboard's panels and annotations."""
    return panel_queries(board, VARIABLES) + annotation_queries(board, VARIABLES)


def test_every_query_uses_only_known_metrics_and_recording_rules(built):
    unknown = {}
    for name, board in built.items():
        for title, query in all_queries(board):
            if names := metric_names(query) - KNOWN_NAMES:
                unknown[f"{name}: {title}"] = names
    assert unknown == {}


def test_the_name_check_sees_a_misspelt_metric():
    assert metric_names('max by (goal) (ces_goal_ces_ratio{window="1h"}) or vector(0)') == {"ces_goal_ces_ratio"}
    assert metric_names("sum(rate(ces_goal_event_total[5m]))") - KNOWN_NAMES == {"ces_goal_event_total"}


def test_panel_queries_replaces_every_variable_and_macro(built):
    queries = [query for board in built.values() for _, query in all_queries(board)]
    assert queries and not [query for query in queries if "$" in query]
    assert any('goal="download-invoice", window="1h"' in query for query in queries)
    assert any("[5m]" in query for query in queries)


def test_panel_queries_reads_nested_panels_regex_matchers_and_defaults():
    board = {
        "templating": {"list": [{"name": "window", "current": {"value": "1h"}}]},
        "panels": [
            {
                "type": "row",
                "title": "r",
                "panels": [
                    {
                        "title": "nested",
                        "targets": [
                            {"expr": 'rate(x{goal=~"$goal", window="${window}"}[$__rate_interval]) * $__range_s'}
                        ],
                    }
                ],
            }
        ],
    }
    with pytest.raises(ValueError, match=r"nested.*\$__range_s"):
        panel_queries(board, {"goal": "a-b"})
    assert panel_queries(board, {"goal": "a-b", "__range_s": "3600"}) == [
        ("nested", 'rate(x{goal=~"a-b", window="1h"}[5m]) * 3600')
    ]


def test_release_verdicts_are_annotations_of_the_goal_and_overview_dashboards_one_colour_per_direction(built):
    """The gauge's value is the verdict's time: Grafana places the event there (ms), titled and tagged by labels."""
    annotations = {name: board["annotations"].get("list", []) for name, board in built.items()}
    assert annotations["ces-pipeline.json"] == []
    for name in ("ces-goal.json", "ces-overview.json"):
        by_name = {annotation["name"]: annotation for annotation in annotations[name]}
        assert list(by_name) == ["Release verdicts: worse", "Release verdicts: better"], name
        for direction, colour in (("worse", "red"), ("better", "green")):
            annotation = by_name[f"Release verdicts: {direction}"]
            assert annotation["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert (annotation["enable"], annotation["hide"], annotation["iconColor"]) == (True, False, colour)
            assert annotation["useValueForTime"] is True and annotation["step"] == "1m"
            assert annotation["titleFormat"] == "{{goal}} · {{channel}}: release {{direction}}"
            assert annotation["textFormat"].startswith("{{goal}} · {{channel}}: the new app version was found")
            assert "ces.release-verdicts" in annotation["textFormat"]
            assert annotation["tagKeys"] == "goal,channel,direction"
            assert annotation["expr"].startswith("max by (goal, channel, direction) (")
            assert annotation["expr"].endswith(") * 1000")
            assert f'direction="{direction}"' in annotation["expr"]
    goal_queries = dict(annotation_queries(built["ces-goal.json"], VARIABLES))
    assert goal_queries["Release verdicts: worse"] == (
        "max by (goal, channel, direction) "
        '(ces_release_verdict_timestamp_seconds{goal=~"download-invoice", direction="worse"}) * 1000'
    )
    overview_queries = dict(annotation_queries(built["ces-overview.json"], VARIABLES))
    assert overview_queries["Release verdicts: better"] == (
        'max by (goal, channel, direction) (ces_release_verdict_timestamp_seconds{direction="better"}) * 1000'
    )
    # Annotations show on time series panels only: the overview has one, every goal's CES.
    series = [p for p in all_panels(built["ces-overview.json"]["panels"]) if p["type"] == "timeseries"]
    assert [panel["title"] for panel in series] == ["CES per goal over time"]
    assert panel_queries({"panels": series}, VARIABLES) == [
        ("CES per goal over time", 'max by (goal) (ces_goal_ces_ratio{window="1h"})')
    ]


def test_provisioning_files():
    files = provisioning()
    assert set(files) == {"provisioning/datasources/prometheus.yml", "provisioning/dashboards/ces-stream.yml"}
    datasource = yaml.safe_load(files["provisioning/datasources/prometheus.yml"])["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090" and datasource["isDefault"] is True
    provider = yaml.safe_load(files["provisioning/dashboards/ces-stream.yml"])["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


@needs_promtool
def test_promtool_parses_every_panel_query(built, tmp_path):
    queries = [(f"{name}: {title}", query) for name, board in built.items() for title, query in all_queries(board)]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard-check",
                        "rules": [
                            {"record": f"ces:dashboard_check_{index}", "expr": query}
                            for index, (_, query) in enumerate(queries)
                        ],
                    }
                ]
            }
        )
    )
    result = subprocess.run(["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
