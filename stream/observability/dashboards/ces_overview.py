"""The ``ces-overview`` dashboard: all goals at a glance."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common
from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from stream.ces.registry import GoalRegistry
from stream.observability.dashboards.builders import (
    Section,
    bar_panel,
    dashboard,
    field,
    red_from,
    release_verdict_annotations,
    series_panel,
    stat_panel,
    table_panel,
    window_variable,
)
from stream.observability.rules import ANSWERS_RATE, BELOW_TARGET, PROMPTS_RATE, TARGET
from stream.settings import Settings

WINDOW = 'window="$window"'


def overview(settings: Settings, registry: GoalRegistry) -> dict:
    """All goals at a glance: overall figures, one table row per goal, CES per goal over time."""
    stats = [
        stat_panel(
            "CES, all goals",
            "Positive answers over all answers of every goal in the selected window.",
            units.PercentUnit,
            f"sum(max by (goal) (ces_goal_positive_answers{{{WINDOW}}}))"
            f" / (sum(max by (goal) (ces_goal_answers{{{WINDOW}}})) > 0)",
        ),
        stat_panel(
            "Answers per hour",
            "Survey answers per hour, at the rate of the last 5 minutes.",
            units.Short,
            f"sum({ANSWERS_RATE}) * 3600",
        ),
        stat_panel(
            "Prompts per hour",
            "Survey prompts sent per hour, at the rate of the last 5 minutes.",
            units.Short,
            f"sum({PROMPTS_RATE}) * 3600",
        ),
        stat_panel(
            "Goals reporting",
            "Goals a worker exports CES figures for in the selected window.",
            units.Short,
            f"count(max by (goal) (ces_goal_answers{{{WINDOW}}}))",
        ),
        stat_panel(
            "Goals below target",
            "Goals whose upper Wilson bound of CES is below target in the selected window.",
            units.Short,
            f"count({BELOW_TARGET}{{{WINDOW}}}) or vector(0)",
            alert_at=1,
        ),
        stat_panel(
            "Firing alerts",
            "ces-stream alerts firing now (CES, CSAT and NPS), goal and pipeline alerts together.",
            units.Short,
            'count(ALERTS{alertstate="firing", alertname=~"(Ces|Csat|Nps).*"}) or vector(0)',
            alert_at=1,
        ),
    ]
    lowest = bar_panel(
        "Lowest CES",
        "The ten goals with the lowest CES in the selected window.",
        units.PercentUnit,
        [(f"bottomk(10, max by (goal) (ces_goal_ces_ratio{{{WINDOW}}}))", "{{goal}}")],
        (8, 14),
    )
    # The overview's one time axis: the release verdicts of every goal are marked on it.
    over_time = (
        series_panel(
            "CES per goal over time",
            "CES of every goal in the selected window over time, with the release verdicts of every goal marked "
            "(red: a new app version found worse, green: better).",
            units.PercentUnit,
            [(f"max by (goal) (ces_goal_ces_ratio{{{WINDOW}}})", "{{goal}}")],
            (24, 9),
        )
        .min(0)
        .max(1)
    )
    sections: list[Section] = [
        (None, False, stats),
        ("Goals", False, [_goals_table(registry), lowest, over_time]),
    ]
    return dashboard(
        "ces-overview",
        "CES overview",
        "Customer Effort Score of every goal.",
        [window_variable(settings)],
        sections,
        release_verdict_annotations(settings, ""),  # the overview has no goal variable: every goal
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
    if registry.nps_enabled is not None:  # NPS in points (-100..+100), for the goals that ask it
        queries.append((f"max by (goal) (ces_goal_nps{{{WINDOW}}}) * 100", ""))
    columns = {
        "goal": "Goal",
        "Value #A": "CES / CSAT" if any(goal.survey == "csat" for goal in registry.goals) else "CES",
        "Value #E": "Target",
        "Value #B": "Answers",
        "Value #C": "Wilson lower",
        "Value #D": "Wilson upper",
        "Value #F": "Firing alerts",
        "Value #G": "NPS",
    }
    # A CSAT goal's share is its CSAT: the name says so.
    names = {
        goal.slug: models.ValueMappingResult(
            text=goal.display_name["en"] + (" (CSAT)" if goal.survey == "csat" else "")
        )
        for goal in registry.goals
    }
    link = grafana.DashboardLink("Open the goal dashboard").url(
        "/d/ces-goal/ces-goal?var-goal=${__value.raw}&${window:queryparam}&${datasource:queryparam}&${__url_time_range}"
    )
    panel = table_panel(
        "Goals",
        "Per goal: CES (CSAT for the goals marked so) and its 99 % Wilson interval in the selected window, "
        "target, firing alerts, and the NPS (points) of the goals that ask it; click a goal for its dashboard.",
        units.PercentUnit,
        queries,
        columns,
        (16, 14),
    )
    panel.sort_by([common.TableSortByFieldState().display_name(columns["Value #A"]).desc(False)])
    panel.override_by_name(
        "Goal", [field("mappings", [models.ValueMap(options=names)]), field("links", [link.build()])]
    )
    panel.override_by_name("Answers", [field("unit", units.Short)])
    panel.override_by_name("NPS", [field("unit", units.Short), field("decimals", 0)])
    return panel.override_by_name(
        "Firing alerts",
        [
            field("unit", units.Short),
            field("thresholds", red_from(1).build()),
            field("custom.cellOptions", {"type": "color-text"}),
        ],
    )
