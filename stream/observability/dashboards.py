"""Grafana dashboards and provisioning, generated like the rules from the goal registry and the settings.

So a new window or goal needs no hand editing. Built with Grafana's typed builders (grafana-foundation-sdk,
Grafana 11.6), returned as plain JSON dicts; every panel reads the ``datasource`` variable. Per-goal gauges
are read as ``max by (goal, ...)``: in a rebalance two workers may briefly export one goal.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from grafana_foundation_sdk.builders import bargauge, common, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from stream.ces.goals import parse_duration
from stream.ces.registry import GoalRegistry
from stream.observability.rules import (
    ANSWERS_RATE,
    BELOW_TARGET,
    COMPLETION_LOWER,
    COMPLETION_UPPER,
    DEAD_LETTER_RATIO,
    EXIT_RATIO,
    GOAL_EVENTS_RATE,
    INVALID_RATE,
    JOB,
    LAG,
    LATENCY_P99,
    PROMPTS_RATE,
    TARGET,
)
from stream.settings import Settings

TAG = "ces-stream"
DATASOURCE_UID = "prometheus"  # the provisioned datasource, default of the datasource variable
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"  # where docker compose mounts deploy/grafana/dashboards
PROMETHEUS_URL = "http://prometheus:9090"
SCRAPE_INTERVAL = "15s"  # deploy/prometheus/prometheus.yml: Grafana derives $__rate_interval from it
DEFAULT_WINDOW = "1h"
# What Grafana's own macros become when panel_queries hands a query to Prometheus directly.
MACRO_VALUES = {"__rate_interval": "5m", "__interval": "5m", "__range": "1h"}
WINDOW = 'window="$window"'
GOAL = 'goal="$goal", window="$window"'
SPLIT = 'goal="$goal", window="$split_window"'
_LAST = common.ReduceDataOptions().calcs(["lastNotNull"])  # stats and bars show the latest value

Query = tuple[str, str]  # (PromQL, legend)
Size = tuple[int, int]  # (width of 24, height)
Section = tuple[str | None, bool, list[Any]]  # (row title, or None for no row; collapsed; panels)


def _targets(queries: list[Query], *, instant: bool, table_format: bool = False) -> list[Any]:
    """One Prometheus query per (expr, legend), refIds A, B, C..., on the datasource variable."""
    targets = []
    for index, (expr, legend) in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .expr(expr)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
            .legend_format(legend or "__auto")
            .format(PromQueryFormat.TABLE if table_format else PromQueryFormat.TIME_SERIES)
        )
        targets.append(target.instant() if instant else target.range())
    return targets


def _common(panel: Any, title: str, description: str, unit: str, size: Size) -> Any:
    """What every panel has: title, description, unit, datasource and size."""
    return panel.title(title).description(description).unit(unit).datasource(DATASOURCE).span(size[0]).height(size[1])


def _series(title: str, description: str, unit: str, queries: list[Query], size: Size = (12, 8)) -> Any:
    return _common(timeseries.Panel(), title, description, unit, size).targets(_targets(queries, instant=False))


def _stat(title: str, description: str, unit: str, expr: str, alert_at: float | None = None) -> Any:
    """One current figure: red from ``alert_at`` on, uncoloured without it (no meaningless green/red)."""
    panel = _common(stat.Panel(), title, description, unit, (4, 4)).targets(_targets([(expr, "")], instant=True))
    panel.graph_mode(common_models.BigValueGraphMode.NONE).reduce_options(_LAST)
    if alert_at is None:
        return panel.color_mode(common_models.BigValueColorMode.NONE)
    return panel.color_mode(common_models.BigValueColorMode.VALUE).thresholds(_red_from(alert_at))


def _red_from(value: float) -> Any:
    steps = [models.Threshold(value=None, color="green"), models.Threshold(value=value, color="red")]
    return grafana.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)


def _bars(title: str, description: str, unit: str, queries: list[Query], size: Size = (12, 8)) -> Any:
    panel = _common(bargauge.Panel(), title, description, unit, size).targets(_targets(queries, instant=True))
    panel.orientation(common_models.VizOrientation.HORIZONTAL).reduce_options(_LAST)
    return panel.color_scheme(grafana.FieldColor().mode(models.FieldColorModeId.PALETTE_CLASSIC))


def _table(title: str, description: str, unit: str, queries: list[Query], columns: dict[str, str], size: Size) -> Any:
    """Instant queries merged into one row per label set; ``columns`` names and orders the columns shown."""
    panel = _common(table.Panel(), title, description, unit, size)
    panel.targets(_targets(queries, instant=True, table_format=True))
    values = [f"Value #{chr(ord('A') + index)}" for index in range(len(queries))] if len(queries) > 1 else ["Value"]
    hidden = {"Time": True, **{name: True for name in values if name not in columns}}
    order = {name: index for index, name in enumerate(columns)}
    panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
    return panel.with_transformation(
        models.DataTransformerConfig(
            id_val="organize", options={"excludeByName": hidden, "renameByName": columns, "indexByName": order}
        )
    )


def _field(name: str, value: object) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val=name, value=value)


def _dashboard(uid: str, title: str, description: str, variables: list[Any], sections: list[Section]) -> dict:
    """Lays the sections out top to bottom, numbers the panels and returns the JSON model."""
    board = grafana.Dashboard(title).uid(uid).description(description).tags([TAG]).refresh("30s")
    board.time("now-24h", "now").tooltip(models.DashboardCursorSync.CROSSHAIR)
    current = models.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID)
    datasource = grafana.DatasourceVariable("datasource").label("Data source").type("prometheus").current(current)
    board.variables([datasource, *variables])
    ids = itertools.count(1)  # unique panel ids: Grafana keys links and the panel editor on them
    for row_title, collapsed, panels in sections:
        panels = [panel.id(next(ids)) for panel in panels]
        if row_title is not None:
            row = grafana.Row(row_title).id(next(ids))
            if collapsed:  # a collapsed row holds its panels; an open row is a marker its panels follow
                for panel in panels:
                    row.with_panel(panel)
                panels = []
            board.with_row(row)
        for panel in panels:
            board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def _choice(name: str, label: str, values: list[str], default: str, description: str) -> Any:
    """A fixed list of windows, so the dropdown offers only windows the workers export."""
    options = [models.VariableOption(selected=value == default, text=value, value=value) for value in values]
    current = models.VariableOption(selected=True, text=default, value=default)
    return (
        grafana.CustomVariable(name)
        .label(label)
        .description(description)
        .values(",".join(values))
        .options(options)
        .current(current)
        .allow_custom_value(False)
    )


def _window_variable(settings: Settings) -> Any:
    names = [spec.name for spec in settings.window_specs()]
    default = DEFAULT_WINDOW if DEFAULT_WINDOW in names else names[0]
    return _choice("window", "Window", names, default, "Sliding window the CES figures are computed over.")


def overview(settings: Settings, registry: GoalRegistry) -> dict:
    """All goals at a glance: overall figures, then one table row per goal."""
    stats = [
        _stat(
            "CES, all goals",
            "Positive answers over all answers of every goal in the selected window.",
            units.PercentUnit,
            f"sum(max by (goal) (ces_goal_positive_answers{{{WINDOW}}}))"
            f" / (sum(max by (goal) (ces_goal_answers{{{WINDOW}}})) > 0)",
        ),
        _stat(
            "Answers per hour",
            "Survey answers per hour, at the rate of the last 5 minutes.",
            units.Short,
            f"sum({ANSWERS_RATE}) * 3600",
        ),
        _stat(
            "Prompts per hour",
            "Survey prompts shown per hour, at the rate of the last 5 minutes.",
            units.Short,
            f"sum({PROMPTS_RATE}) * 3600",
        ),
        _stat(
            "Goals reporting",
            "Goals a worker exports CES figures for in the selected window.",
            units.Short,
            f"count(max by (goal) (ces_goal_answers{{{WINDOW}}}))",
        ),
        _stat(
            "Goals below target",
            "Goals whose upper Wilson bound of CES is below target in the selected window.",
            units.Short,
            f"count({BELOW_TARGET}{{{WINDOW}}}) or vector(0)",
            alert_at=1,
        ),
        _stat(
            "Firing alerts",
            "ces-stream alerts firing now, goal and pipeline alerts together.",
            units.Short,
            'count(ALERTS{alertstate="firing", alertname=~"Ces.*"}) or vector(0)',
            alert_at=1,
        ),
    ]
    lowest = _bars(
        "Lowest CES",
        "The ten goals with the lowest CES in the selected window.",
        units.PercentUnit,
        [(f"bottomk(10, max by (goal) (ces_goal_ces_ratio{{{WINDOW}}}))", "{{goal}}")],
        (8, 14),
    )
    sections: list[Section] = [(None, False, stats), ("Goals", False, [_goals_table(registry), lowest])]
    return _dashboard(
        "ces-overview", "CES overview", "Customer Effort Score of every goal.", [_window_variable(settings)], sections
    )


def _goals_table(registry: GoalRegistry) -> Any:
    """One row per goal; the goal column shows the registry's English name and links to the goal dashboard."""
    queries = [
        (f"max by (goal) ({metric}{{{WINDOW}}})", "")
        for metric in (
            "ces_goal_ces_ratio",
            "ces_goal_answers",
            "ces_goal_ces_ratio_wilson_lower",
            "ces_goal_ces_ratio_wilson_upper",
        )
    ]
    queries += [
        (f"max by (goal) ({TARGET})", ""),
        (
            'count by (goal) (ALERTS{alertstate="firing", goal!=""})'
            f" or max by (goal) (ces_goal_answers{{{WINDOW}}}) * 0",
            "",
        ),
    ]
    columns = {
        "goal": "Goal",
        "Value #A": "CES",
        "Value #E": "Target",
        "Value #B": "Answers",
        "Value #C": "Wilson lower",
        "Value #D": "Wilson upper",
        "Value #F": "Firing alerts",
    }
    names = {goal.slug: models.ValueMappingResult(text=goal.display_name["en"]) for goal in registry.goals}
    link = grafana.DashboardLink("Open the goal dashboard").url(
        "/d/ces-goal/ces-goal?var-goal=${__value.raw}&${window:queryparam}&${datasource:queryparam}&${__url_time_range}"
    )
    panel = _table(
        "Goals",
        "Per goal: CES and its 99 % Wilson interval in the selected window, target, firing "
        "alerts; click a goal for its dashboard.",
        units.PercentUnit,
        queries,
        columns,
        (16, 14),
    )
    panel.sort_by([common.TableSortByFieldState().display_name("CES").desc(False)])
    panel.override_by_name(
        "Goal", [_field("mappings", [models.ValueMap(options=names)]), _field("links", [link.build()])]
    )
    panel.override_by_name("Answers", [_field("unit", units.Short)])
    return panel.override_by_name(
        "Firing alerts",
        [
            _field("unit", units.Short),
            _field("thresholds", _red_from(1).build()),
            _field("custom.cellOptions", {"type": "color-text"}),
        ],
    )


def goal(settings: Settings, registry: GoalRegistry) -> dict:
    """One goal in depth: CES over time, answers, drop-off, exits vs completion, channels, alerts."""
    first = registry.goals[0].slug if registry.goals else ""
    goal_variable = (
        grafana.QueryVariable("goal")
        .label("Goal")
        .description("Goal slug, as in the goal registry.")
        .datasource(DATASOURCE)
        .query("label_values(ces_goal_answers, goal)")
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .current(models.VariableOption(selected=True, text=first, value=first))
    )
    variables = [goal_variable, _window_variable(settings)]
    sections: list[Section] = [(None, False, _goal_stats()), ("CES and drop-off ($window)", False, _goal_ces())]
    split = sorted(settings.split_window_names(), key=parse_duration)
    if split:  # the split by outcome and channel is only exported on the split windows
        variables.append(
            _choice(
                "split_window",
                "Split window",
                split,
                split[-1],
                "Window of the split by outcome and channel (CES_SPLIT_WINDOWS).",
            )
        )
        sections.append(("Completion vs exits, channels ($split_window)", False, _goal_split()))
    alerts = _table(
        "Firing alerts",
        "Alerts firing now for this goal, per alert, severity and window.",
        units.Short,
        [('max by (alertname, severity, window) (ALERTS{alertstate="firing", goal="$goal"})', "")],
        {"alertname": "Alert", "severity": "Severity", "window": "Window"},
        (24, 6),
    )
    sections += [("Alerts", False, [alerts]), ("More figures ($window)", True, _goal_more())]
    return _dashboard("ces-goal", "CES goal", "Customer Effort Score of one goal.", variables, sections)


def _goal_stats() -> list[Any]:
    return [
        _stat(
            "CES",
            "Share of positive (low-effort) answers in the selected window.",
            units.PercentUnit,
            f"max(ces_goal_ces_ratio{{{GOAL}}})",
        ),
        _stat(
            "Target",
            "The goal's CES target from the goal registry.",
            units.PercentUnit,
            f'max({TARGET}{{goal="$goal"}})',
        ),
        _stat("Answers", "Survey answers in the selected window.", units.Short, f"max(ces_goal_answers{{{GOAL}}})"),
        _stat(
            "Response ratio",
            "Answers over prompts shown in the selected window.",
            units.PercentUnit,
            f"max(ces_goal_response_ratio{{{GOAL}}})",
        ),
        _stat(
            "Completion ratio",
            "Completed attempts over all outcomes in the selected window.",
            units.PercentUnit,
            f"max(ces_goal_completion_ratio{{{GOAL}}})",
        ),
        _stat(
            "Firing alerts",
            "Alerts firing now for this goal.",
            units.Short,
            'count(ALERTS{alertstate="firing", goal="$goal"}) or vector(0)',
            alert_at=1,
        ),
    ]


def _goal_ces() -> list[Any]:
    band = _series(
        "CES over time",
        "CES in the selected window with its 99 % Wilson interval (shaded) and the goal's "
        "target: it is significantly below target only when the whole band is.",
        units.PercentUnit,
        [
            (f"max(ces_goal_ces_ratio{{{GOAL}}})", "CES"),
            (f"max(ces_goal_ces_ratio_wilson_lower{{{GOAL}}})", "Wilson lower"),
            (f"max(ces_goal_ces_ratio_wilson_upper{{{GOAL}}})", "Wilson upper"),
            (f'max({TARGET}{{goal="$goal"}})', "Target"),
        ],
        (16, 9),
    )
    band.override_by_name(
        "Wilson upper",
        [_field("custom.fillBelowTo", "Wilson lower"), _field("custom.lineWidth", 0), _field("custom.fillOpacity", 20)],
    )
    band.override_by_name("Wilson lower", [_field("custom.lineWidth", 0)])
    band.override_by_name("Target", [_field("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])
    return [
        band.min(0).max(1),
        _bars(
            "Score distribution",
            "Answers per scale point in the selected window.",
            units.Short,
            [(f"max by (score) (ces_goal_answers_by_score{{{GOAL}}})", "score {{score}}")],
            (8, 9),
        ),
        _series(
            "CES in every window",
            "CES in each sliding window: short windows react fast, long ones are the baseline.",
            units.PercentUnit,
            [('max by (window) (ces_goal_ces_ratio{goal="$goal"})', "{{window}}")],
        ),
        _series(
            "Answers and prompts",
            "Survey answers and prompts shown in the selected window.",
            units.Short,
            [(f"max(ces_goal_answers{{{GOAL}}})", "answers"), (f"max(ces_goal_prompts{{{GOAL}}})", "prompts")],
        ),
        _series(
            "Response ratio",
            "Share of prompts shown that got an answer in the selected window.",
            units.PercentUnit,
            [(f"max(ces_goal_response_ratio{{{GOAL}}})", "response ratio")],
        ),
        _series(
            "Completion and drop-off",
            "Completed attempts over all outcomes, its complement (drop-off) and "
            "the 99 % Wilson interval of the completion ratio.",
            units.PercentUnit,
            [
                (f"max(ces_goal_completion_ratio{{{GOAL}}})", "completion"),
                (f"1 - max(ces_goal_completion_ratio{{{GOAL}}})", "drop-off"),
                (f"max({COMPLETION_LOWER}{{{GOAL}}})", "completion, Wilson lower"),
                (f"max({COMPLETION_UPPER}{{{GOAL}}})", "completion, Wilson upper"),
            ],
        ),
    ]


def _goal_split() -> list[Any]:
    return [
        _series(
            "CES at completion vs at exits",
            "CES of answers prompted at completion against those prompted at "
            "an exit (abandoned or inferred abandoned).",
            units.PercentUnit,
            [
                (f'max(ces_goal_ces_ratio_by_outcome{{{SPLIT}, outcome="completed"}})', "at completion"),
                (f"max({EXIT_RATIO}{{{SPLIT}}})", "at exits"),
            ],
        ),
        _series(
            "Exit CES gap",
            "CES at exits minus CES at completion, with its interval; exported only when both "
            "sides have enough answers.",
            units.PercentUnit,
            [
                (f"max(ces_goal_exit_ces_gap{{{SPLIT}}})", "gap"),
                (f"max(ces_goal_exit_ces_gap_lower{{{SPLIT}}})", "lower"),
                (f"max(ces_goal_exit_ces_gap_upper{{{SPLIT}}})", "upper"),
            ],
        ),
        _series(
            "CES per channel",
            "CES per channel of the goal attempt.",
            units.PercentUnit,
            [(f"max by (channel) (ces_goal_ces_ratio_by_channel{{{SPLIT}}})", "{{channel}}")],
        ),
        _bars(
            "Answers per outcome and channel",
            "Answers per outcome that triggered the prompt and per channel.",
            units.Short,
            [
                (f"max by (outcome) (ces_goal_answers_by_outcome{{{SPLIT}}})", "{{outcome}}"),
                (f"max by (channel) (ces_goal_answers_by_channel{{{SPLIT}}})", "{{channel}}"),
            ],
        ),
    ]


def _goal_more() -> list[Any]:
    return [
        _series(
            "Mean score",
            "Mean answer on the goal's own scale.",
            units.Short,
            [(f"max(ces_goal_mean_score{{{GOAL}}})", "mean score")],
            (8, 8),
        ),
        _series(
            "Net effort and most negative share",
            "Share positive minus share negative answers, and the share of answers on the most negative scale point.",
            units.PercentUnit,
            [
                (f"max(ces_goal_net_effort{{{GOAL}}})", "net effort"),
                (f"max(ces_goal_most_negative_ratio{{{GOAL}}})", "most negative"),
            ],
            (8, 8),
        ),
        _series(
            "Outcomes",
            "Goal outcomes in the selected window, prompted or not.",
            units.Short,
            [(f"max by (outcome) (ces_goal_outcomes{{{GOAL}}})", "{{outcome}}")],
            (8, 8),
        ),
    ]


def pipeline(settings: Settings, registry: GoalRegistry) -> dict:
    """The workers themselves: throughput, lag, dead letters, latency, gaps, freshness."""
    up = f'up{{job="{JOB}"}}'
    stats = [
        _stat("Workers up", "Workers Prometheus can scrape.", units.Short, f"sum({up})"),
        _stat(
            "Goal events per second",
            "Valid goal events consumed per second (5 minute rate).",
            units.OpsPerSecond,
            f"sum({GOAL_EVENTS_RATE})",
        ),
        _stat(
            "Dead-letter share",
            "Share of input records sent to the dead-letter topic (5 minute rate).",
            units.PercentUnit,
            DEAD_LETTER_RATIO,
            alert_at=settings.alert_dead_letter_ratio,
        ),
        _stat(
            "Decision latency p99",
            "99th percentile of the time from goal event to survey prompt (5 minutes).",
            units.Seconds,
            LATENCY_P99,
            alert_at=settings.alert_decision_latency_seconds,
        ),
        _stat("Consumer lag", "Records not yet processed, all topics together.", units.Short, f"sum({LAG})"),
        _stat(
            "Last event age",
            "Time since the most recent event was processed, any topic.",
            units.Seconds,
            "time() - max(ces_last_event_processed_timestamp_seconds)",
        ),
    ]
    throughput = [
        _series(
            "Throughput",
            "Goal events consumed, survey prompts produced and answers counted, per second.",
            units.OpsPerSecond,
            [
                (f"sum({GOAL_EVENTS_RATE})", "goal events"),
                (f"sum({PROMPTS_RATE})", "prompts"),
                (f"sum({ANSWERS_RATE})", "answers"),
            ],
        ),
        _series(
            "Suppressed prompts",
            "Goal events that did not lead to a prompt, per second and reason.",
            units.OpsPerSecond,
            [("sum by (reason) (rate(ces_survey_prompts_suppressed_total[$__rate_interval]))", "{{reason}}")],
        ),
    ]
    return _dashboard(
        "ces-pipeline",
        "CES pipeline",
        "Health and throughput of the ces-stream workers.",
        [],
        [(None, False, stats), ("Throughput", False, throughput), ("Health", False, _health(up))],
    )


def _health(up: str) -> list[Any]:
    latency = "sum by (le) (rate(ces_prompt_decision_latency_seconds_bucket[$__rate_interval]))"
    return [
        _series(
            "Consumer lag", "Records not yet processed and committed, per topic.", units.Short, [(LAG, "{{topic}}")]
        ),
        _series(
            "Last event age",
            "Time since the last event of each topic was processed.",
            units.Seconds,
            [("time() - max by (topic) (ces_last_event_processed_timestamp_seconds)", "{{topic}}")],
        ),
        _series(
            "Dead letters",
            "Input records sent to the dead-letter topic per second, per topic and reason.",
            units.OpsPerSecond,
            [(INVALID_RATE, "{{topic}} {{reason}}")],
        ),
        _series(
            "Dead-letter share",
            "Share of input records sent to the dead-letter topic.",
            units.PercentUnit,
            [(DEAD_LETTER_RATIO, "dead-letter share")],
        ),
        _series(
            "Prompt decision latency",
            "Median and 99th percentile of the time from goal event to survey prompt.",
            units.Seconds,
            [(f"histogram_quantile(0.5, {latency})", "p50"), (f"histogram_quantile(0.99, {latency})", "p99")],
        ),
        _series(
            "Offset gaps",
            "Holes in the consumed offsets over the last hour, per topic and verdict (unreadable "
            "means a worker stopped).",
            units.Short,
            [("sum by (topic, verdict) (increase(ces_offset_gaps_total[1h]))", "{{topic}} {{verdict}}")],
        ),
        _series(
            "Workers up and ready",
            "Per worker, 1 or 0: up (Prometheus scrapes it), ready (/health: the broker "
            "answers it, nothing stalled), broker reachable; and its stalled partitions.",
            units.Short,
            [
                (up, "{{instance}} up"),
                ("ces_worker_ready", "{{instance}} ready"),
                ("ces_broker_reachable", "{{instance}} broker"),
                ("sum by (instance) (ces_stalled_partitions)", "{{instance}} stalled"),
            ],
            (24, 6),
        ),
    ]


def dashboards(settings: Settings, registry: GoalRegistry) -> dict[str, dict]:
    """File name (e.g. "ces-overview.json") -> dashboard JSON model (a plain dict, json-serialisable, stable order)."""
    builders = {"ces-overview.json": overview, "ces-goal.json": goal, "ces-pipeline.json": pipeline}
    return {name: build(settings, registry) for name, build in builders.items()}


def provisioning() -> dict[str, str]:
    """Relative path under deploy/grafana/ -> file text: the Prometheus datasource and the dashboard provider."""
    header = "# Generated by `ces-stream monitoring` from stream/observability/dashboards.py: do not edit.\n"
    datasource = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": SCRAPE_INTERVAL},
            }
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "ces-stream",
                "orgId": 1,
                "folder": "CES",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_PATH},
            }
        ],
    }
    return {
        "provisioning/datasources/prometheus.yml": header + yaml.safe_dump(datasource, sort_keys=False),
        "provisioning/dashboards/ces-stream.yml": header + yaml.safe_dump(provider, sort_keys=False),
    }


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")  # $name, ${name}, ${name:format}


def panel_queries(dashboard: dict, variables: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, PromQL as Prometheus gets it) for every query of every panel, nested ones included.

    Variables not in ``variables`` take the dashboard's default (their ``current`` value), Grafana's
    macros ``MACRO_VALUES``; a single value in a regex matcher (``goal=~"$goal"``) is a valid regex.

    :raises ValueError: for a variable with neither a value nor a default.
    """
    values = {**MACRO_VALUES, **_defaults(dashboard), **variables}
    found = []
    for panel in _walk(dashboard.get("panels", [])):
        title = panel.get("title", "")

        def value(match: re.Match[str], title: str = title) -> str:
            name = match.group(1) or match.group(2)
            if name not in values:
                raise ValueError(f"panel {title!r}: no value for ${name}")
            return str(values[name])

        found += [(title, _VARIABLE.sub(value, target["expr"])) for target in panel.get("targets") or []]
    return found


def _defaults(dashboard: dict) -> dict[str, str]:
    variables = dashboard.get("templating", {}).get("list", [])
    currents = {variable["name"]: (variable.get("current") or {}).get("value") for variable in variables}
    return {name: value for name, value in currents.items() if isinstance(value, str) and value}


def _walk(panels: list[dict]) -> Iterator[dict]:
    """Every panel in order, rows and the panels inside rows included."""
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels") or [])
