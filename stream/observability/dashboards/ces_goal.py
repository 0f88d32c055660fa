"""The ``ces-goal`` dashboard: one goal in depth."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import units

from stream.ces.goals import parse_duration
from stream.ces.registry import GoalRegistry
from stream.observability.dashboards.builders import (
    DATASOURCE,
    Section,
    bar_panel,
    choice_variable,
    dashboard,
    field,
    release_verdict_annotations,
    series_panel,
    stat_panel,
    table_panel,
    window_variable,
)
from stream.observability.dashboards.nps_panels import (
    asks_csat,
    asks_nps,
    nps_panels,
    nps_split_panels,
    survey_variable,
)
from stream.observability.rules import COMPLETION_LOWER, COMPLETION_UPPER, EXIT_RATIO, TARGET
from stream.settings import Settings

GOAL = 'goal="$goal", window="$window"'
SPLIT = 'goal="$goal", window="$split_window"'


def goal(settings: Settings, registry: GoalRegistry) -> dict:
    """One goal in depth: CES over time, answers, drop-off, the prompt funnel, measured effort, exits vs completion,
    channels, non-response, alerts."""
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
    variables = [goal_variable, window_variable(settings)]
    kind = "CES"
    if asks_csat(registry):  # the titles name the selected goal's own figure: CES or CSAT
        variables.append(survey_variable())
        kind = "$survey"
    sections: list[Section] = [
        (None, False, _goal_stats(kind)),
        (f"{kind} and drop-off ($window)", False, _goal_ces(kind)),
        ("Prompt funnel ($window)", False, _goal_funnel()),
        ("Measured effort ($window)", False, _goal_effort()),
    ]
    split = sorted(settings.split_window_names(), key=parse_duration)
    if split:  # the split by outcome and channel is only exported on the split windows
        variables.append(
            choice_variable(
                "split_window",
                "Split window",
                split,
                split[-1],
                "Window of the split by outcome and channel (CES_SPLIT_WINDOWS).",
            )
        )
        sections.append(("Completion vs exits, channels ($split_window)", False, _goal_split()))
        sections.append(("Non-response ($split_window)", False, _goal_non_response()))
    if asks_nps(registry):
        sections.append(("NPS ($window): goals marked nps_moment", False, nps_panels()))
        if split:
            sections.append(("NPS by recent effort ($split_window)", False, nps_split_panels()))
    alerts = table_panel(
        "Firing alerts",
        "Alerts firing now for this goal, per alert, severity and window.",
        units.Short,
        [('max by (alertname, severity, window) (ALERTS{alertstate="firing", goal="$goal"})', "")],
        {"alertname": "Alert", "severity": "Severity", "window": "Window"},
        (24, 6),
    )
    sections += [("Alerts", False, [alerts]), ("More figures ($window)", True, _goal_more())]
    releases = release_verdict_annotations(settings, 'goal=~"$goal"')  # a slug is its own regex
    return dashboard("ces-goal", "CES goal", "Customer Effort Score of one goal.", variables, sections, releases)


def _goal_stats(kind: str) -> list[Any]:
    return [
        stat_panel(
            kind,
            "Share of positive answers in the selected window: low-effort (CES), or satisfied (CSAT).",
            units.PercentUnit,
            f"max(ces_goal_ces_ratio{{{GOAL}}})",
        ),
        stat_panel(
            "Target",
            "The goal's CES target from the goal registry.",
            units.PercentUnit,
            f'max({TARGET}{{goal="$goal"}})',
        ),
        stat_panel(
            "Answers", "Survey answers in the selected window.", units.Short, f"max(ces_goal_answers{{{GOAL}}})"
        ),
        stat_panel(
            "Response ratio",
            "Answers over prompts sent in the selected window.",
            units.PercentUnit,
            f"max(ces_goal_response_ratio{{{GOAL}}})",
        ),
        stat_panel(
            "Completion ratio",
            "Completed attempts over all outcomes in the selected window.",
            units.PercentUnit,
            f"max(ces_goal_completion_ratio{{{GOAL}}})",
        ),
        stat_panel(
            "Firing alerts",
            "Alerts firing now for this goal.",
            units.Short,
            'count(ALERTS{alertstate="firing", goal="$goal"}) or vector(0)',
            alert_at=1,
        ),
    ]


def _goal_ces(kind: str) -> list[Any]:
    band = series_panel(
        f"{kind} over time",
        "CES (or a CSAT goal's CSAT share) in the selected window with its 99 % Wilson interval (shaded) and the goal's "
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
        [field("custom.fillBelowTo", "Wilson lower"), field("custom.lineWidth", 0), field("custom.fillOpacity", 20)],
    )
    band.override_by_name("Wilson lower", [field("custom.lineWidth", 0)])
    band.override_by_name("Target", [field("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])
    return [
        band.min(0).max(1),
        bar_panel(
            "Score distribution",
            "Answers per scale point in the selected window.",
            units.Short,
            [(f"max by (score) (ces_goal_answers_by_score{{{GOAL}}})", "score {{score}}")],
            (8, 9),
        ),
        series_panel(
            "CES in every window",
            "CES in each sliding window: short windows react fast, long ones are the baseline.",
            units.PercentUnit,
            [('max by (window) (ces_goal_ces_ratio{goal="$goal"})', "{{window}}")],
        ),
        series_panel(
            "Answers and prompts",
            "Survey answers and prompts sent in the selected window.",
            units.Short,
            [(f"max(ces_goal_answers{{{GOAL}}})", "answers"), (f"max(ces_goal_prompts{{{GOAL}}})", "prompts")],
        ),
        series_panel(
            "Response ratio",
            "Share of prompts sent that got an answer in the selected window.",
            units.PercentUnit,
            [(f"max(ces_goal_response_ratio{{{GOAL}}})", "response ratio")],
        ),
        series_panel(
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


def _goal_funnel() -> list[Any]:
    """Prompts from sent to answered, as apps report them with prompt events (none: shown and dismissed stay 0)."""
    return [
        bar_panel(
            "Prompt funnel",
            "Prompts sent, shown and dismissed as the apps report them, and answered, in the selected window "
            "(shown and dismissed stay 0 for apps that send no prompt events).",
            units.Short,
            [
                (f"max(ces_goal_prompts{{{GOAL}}})", "sent"),
                (f"max(ces_goal_prompts_shown{{{GOAL}}})", "shown"),
                (f"max(ces_goal_prompts_dismissed{{{GOAL}}})", "dismissed"),
                (f"max(ces_goal_answers{{{GOAL}}})", "answered"),
            ],
            (8, 8),
        ),
        series_panel(
            "Shown, dismissed and answered ratios",
            "Prompts shown over sent (0 when an app stopped rendering them), dismissed over shown and answered "
            "over shown in the selected window, absent while no prompt was reported shown.",
            units.PercentUnit,
            [
                (f"max(ces_goal_shown_ratio{{{GOAL}}})", "shown / sent"),
                (f"max(ces_goal_dismissal_ratio{{{GOAL}}})", "dismissed / shown"),
                (f"max(ces_goal_response_ratio_shown{{{GOAL}}})", "answered / shown"),
            ],
            (16, 8),
        ).min(0),
    ]


def _goal_effort() -> list[Any]:
    duration = "ces_goal_completion_duration_seconds"
    return [
        series_panel(
            "Time to complete",
            "Seconds from the first start of an attempt to its completion (median, 90th and 99th percentile, "
            "each within 2 %), of the completions whose start was seen. Read it beside CES: slower but not "
            "rated harder, or rated harder but not slower, says where to look.",
            units.Seconds,
            [
                (f'max({duration}{{{GOAL}, quantile="0.5"}})', "median"),
                (f'max({duration}{{{GOAL}, quantile="0.9"}})', "p90"),
                (f'max({duration}{{{GOAL}, quantile="0.99"}})', "p99"),
            ],
            (8, 8),
        ),
        series_panel(
            "Retried completions",
            "Share of the timed completions that were started more than once before they completed.",
            units.PercentUnit,
            [(f"max(ces_goal_retry_ratio{{{GOAL}}})", "retried")],
            (8, 8),
        ),
        series_panel(
            "Timed completions",
            "Completions whose start was seen (the base of the two panels beside) against all completions: "
            "apps that send no started events have none.",
            units.Short,
            [
                (f"max(ces_goal_timed_completions{{{GOAL}}})", "timed"),
                (f'max(ces_goal_outcomes{{{GOAL}, outcome="completed"}})', "all completions"),
            ],
            (8, 8),
        ),
    ]


def _goal_split() -> list[Any]:
    return [
        series_panel(
            "CES at completion vs at exits",
            "CES of answers prompted at completion against those prompted at "
            "an exit (abandoned or inferred abandoned).",
            units.PercentUnit,
            [
                (f'max(ces_goal_ces_ratio_by_outcome{{{SPLIT}, outcome="completed"}})', "at completion"),
                (f"max({EXIT_RATIO}{{{SPLIT}}})", "at exits"),
            ],
        ),
        series_panel(
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
        series_panel(
            "CES per channel",
            "CES per channel of the goal attempt.",
            units.PercentUnit,
            [(f"max by (channel) (ces_goal_ces_ratio_by_channel{{{SPLIT}}})", "{{channel}}")],
        ),
        bar_panel(
            "Answers per outcome and channel",
            "Answers per outcome that triggered the prompt and per channel.",
            units.Short,
            [
                (f"max by (outcome) (ces_goal_answers_by_outcome{{{SPLIT}}})", "{{outcome}}"),
                (f"max by (channel) (ces_goal_answers_by_channel{{{SPLIT}}})", "{{channel}}"),
            ],
        ),
    ]


def _goal_non_response() -> list[Any]:
    band = series_panel(
        "CES corrected for non-response",
        "The CES weighed by attempts per outcome and channel instead of by answers (users who gave up answer "
        "less often), with its interval (shaded, absent while a stratum has too few answers), beside the CES "
        "of the answers and the bounds that assume every prompted user who stayed silent found it hard, or easy.",
        units.PercentUnit,
        [
            (f"max(ces_goal_ces_ratio{{{SPLIT}}})", "CES of the answers"),
            (f"max(ces_goal_ces_ratio_corrected{{{SPLIT}}})", "corrected"),
            (f"max(ces_goal_ces_ratio_corrected_lower{{{SPLIT}}})", "corrected, lower"),
            (f"max(ces_goal_ces_ratio_corrected_upper{{{SPLIT}}})", "corrected, upper"),
            (f"max(ces_goal_ces_ratio_if_silent_dissatisfied{{{SPLIT}}})", "if the silent found it hard"),
            (f"max(ces_goal_ces_ratio_if_silent_satisfied{{{SPLIT}}})", "if the silent found it easy"),
        ],
        (24, 9),
    )
    band.override_by_name(
        "corrected, upper",
        [
            field("custom.fillBelowTo", "corrected, lower"),
            field("custom.lineWidth", 0),
            field("custom.fillOpacity", 20),
        ],
    )
    band.override_by_name("corrected, lower", [field("custom.lineWidth", 0)])
    for bound in ("if the silent found it hard", "if the silent found it easy"):
        band.override_by_name(bound, [field("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])
    return [band.min(0).max(1)]


def _goal_more() -> list[Any]:
    return [
        series_panel(
            "Mean score",
            "Mean answer on the goal's own scale.",
            units.Short,
            [(f"max(ces_goal_mean_score{{{GOAL}}})", "mean score")],
            (8, 8),
        ),
        series_panel(
            "Net effort and most negative share",
            "Share positive minus share negative answers, and the share of answers on the most negative scale point.",
            units.PercentUnit,
            [
                (f"max(ces_goal_net_effort{{{GOAL}}})", "net effort"),
                (f"max(ces_goal_most_negative_ratio{{{GOAL}}})", "most negative"),
            ],
            (8, 8),
        ),
        series_panel(
            "Outcomes",
            "Goal outcomes in the selected window, prompted or not.",
            units.Short,
            [(f"max by (outcome) (ces_goal_outcomes{{{GOAL}}})", "{{outcome}}")],
            (8, 8),
        ),
    ]
