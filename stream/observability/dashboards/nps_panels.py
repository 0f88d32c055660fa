"""What the ``ces-goal`` dashboard shows of CSAT and NPS, from the goal registry.

A CSAT goal's own figures are in the CES families (``ces_goal_ces_ratio`` is its CSAT share): the
``survey`` variable names them from ``ces_goal_survey_info`` of the selected goal ("CES" or "CSAT"),
so the panel titles say which. The NPS row (only when the registry asks NPS) plots the NPS gauges of
the goals marked ``nps_moment``; for other goals its panels stay empty ("No data").
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from stream.ces.registry import GoalRegistry
from stream.observability.dashboards.builders import DATASOURCE, bar_panel, field, series_panel

GOAL = 'goal="$goal", window="$window"'
SPLIT = 'goal="$goal", window="$split_window"'
SURVEY_KIND_QUERY = (
    "query_result(max by (kind) (label_replace(label_replace("
    'ces_goal_survey_info{goal="$goal"}, "kind", "CSAT", "survey", "csat"), "kind", "CES", "survey", "ces")))'
)
"""The selected goal's kind as Grafana reads it: ``query_result`` of the survey info gauge, relabelled upper case."""


def asks_csat(registry: GoalRegistry) -> bool:
    return any(goal.survey == "csat" for goal in registry.goals)


def asks_nps(registry: GoalRegistry) -> bool:
    return registry.nps_enabled is not None and any(goal.nps_moment for goal in registry.goals)


def survey_variable() -> Any:
    """Hidden: "CES" or "CSAT", the name of the selected goal's own figure (panel titles read ``$survey``)."""
    return (
        grafana.QueryVariable("survey")
        .label("Survey")
        .description("The selected goal's own question: CES, or CSAT (the share of satisfied answers).")
        .datasource(DATASOURCE)
        .query(SURVEY_KIND_QUERY)
        .regex('/kind="(?<text>CES|CSAT)"/')
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .hide(models.VariableHide.HIDE_VARIABLE)
        .current(models.VariableOption(selected=True, text="CES", value="CES"))
    )


def _band(panel: Any, upper: str, lower: str) -> Any:
    panel.override_by_name(
        upper, [field("custom.fillBelowTo", lower), field("custom.lineWidth", 0), field("custom.fillOpacity", 20)]
    )
    panel.override_by_name(lower, [field("custom.lineWidth", 0)])
    return panel.min(-1).max(1)


def nps_panels() -> list[Any]:
    """NPS (-100..+100 shown as -100 %..100 %) with its interval, the bands and the response ratio."""
    nps = series_panel(
        "NPS over time",
        "Net Promoter Score of the answers to the NPS question asked after a completion of this goal (goals marked "
        "nps_moment only), with its adjusted-Wald interval (shaded): % promoters (9-10) minus % detractors (0-6).",
        units.PercentUnit,
        [
            (f"max(ces_goal_nps{{{GOAL}}})", "NPS"),
            (f"max(ces_goal_nps_lower{{{GOAL}}})", "NPS lower"),
            (f"max(ces_goal_nps_upper{{{GOAL}}})", "NPS upper"),
        ],
        (12, 8),
    )
    return [
        _band(nps, "NPS upper", "NPS lower"),
        bar_panel(
            "NPS answers per band",
            "NPS answers in the selected window: promoters (9-10), passives (7-8) and detractors (0-6).",
            units.Short,
            [(f"max by (band) (ces_goal_nps_answers_by_band{{{GOAL}}})", "{{band}}")],
            (6, 8),
        ),
        series_panel(
            "NPS response ratio",
            "NPS answers over NPS prompts sent in the selected window (apart from the goal's own question).",
            units.PercentUnit,
            [(f"max(ces_goal_nps_response_ratio{{{GOAL}}})", "response ratio")],
            (6, 8),
        ).min(0),
    ]


def nps_split_panels() -> list[Any]:
    """The NPS of users with a recent high-effort CES answer against the rest, and their difference."""
    groups = series_panel(
        "NPS: high effort vs rest",
        "NPS of the users with a high-effort CES answer shortly before their NPS answer, and of the others, once "
        "each group holds the registry's minimum of answers (nps.high_effort.min_answers).",
        units.PercentUnit,
        [(f"max by (group) (ces_goal_nps_by_effort{{{SPLIT}}})", "{{group}}")],
        (12, 8),
    )
    gap = series_panel(
        "NPS gap: high effort minus rest",
        "The difference with its interval (shaded): wholly below 0, the users a goal made work hard recommend us "
        "less, beyond sampling noise.",
        units.PercentUnit,
        [
            (f"max(ces_goal_nps_high_effort_gap{{{SPLIT}}})", "gap"),
            (f"max(ces_goal_nps_high_effort_gap_lower{{{SPLIT}}})", "gap lower"),
            (f"max(ces_goal_nps_high_effort_gap_upper{{{SPLIT}}})", "gap upper"),
        ],
        (12, 8),
    )
    gap.override_by_name(
        "gap upper",
        [field("custom.fillBelowTo", "gap lower"), field("custom.lineWidth", 0), field("custom.fillOpacity", 20)],
    )
    gap.override_by_name("gap lower", [field("custom.lineWidth", 0)])
    return [groups.min(-1).max(1), gap.min(-2).max(2)]
