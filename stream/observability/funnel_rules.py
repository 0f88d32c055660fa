"""The alerts on the funnel from goal event to answer: the survey alerts and drop-off.

Goal events gone quiet (``CesGoalEventsStopped``), prompts that stop going out
(``CesPromptsStopped``), prompts sent but no longer shown (``CesPromptsNotShown``), answers that
stop coming back (``CesAnswersStopped``), and more users than usual abandoning a goal
(``CesDropOffRising``). They belong to the group of goal alerts :func:`stream.observability.rules.ces_alerts`
writes, with the plan and the helpers of :mod:`stream.observability.rules`.
"""

from __future__ import annotations

from typing import Any

from stream.observability.registry_rules import BUSY_EVENTS, MIN_ANSWERS, owned
from stream.observability.rules import COMPLETION_GAP_UPPER, OUTCOMES_SUM, AlertPlan, _alert, _re


def _prompts_not_shown(plan: AlertPlan) -> str:
    """PromQL of "prompts sent but no longer shown": per goal whose app reports prompts shown, the shown due over
    the survey lookback (its prompts times its usual shown ratio) where at least 10, while none was reported."""
    base, lookback = plan.baseline, plan.survey_window
    # No shown ratio without a prompt shown in the baseline: a goal whose app sends no prompt events never fires.
    return (
        f"sum by (goal) (increase(ces_survey_prompts_total[{lookback}]))\n"
        f'* on (goal) max by (goal) (ces_goal_shown_ratio{{window="{base}"}} > 0) >= 10\n'
        f'and on (goal) sum by (goal) (increase(ces_survey_prompt_events_total{{type="shown"}}[{lookback}])) == 0'
    )


def funnel_alerts(plan: AlertPlan) -> list[dict[str, Any]]:
    """The survey itself broken (answers, prompts shown or prompts stopped), goal events gone quiet, drop-off rising."""
    base, lookback, for_ = plan.baseline, plan.survey_window, plan.survey_for
    return [
        # Users cannot answer what the app does not show: then CesPromptsNotShown names the cause, and this is silent
        # (the exception after the owned condition: the condition stays a query of its own).
        _alert(
            "CesAnswersStopped",
            owned(
                f"sum by (goal) (increase(ces_survey_prompts_total[{lookback}]))\n"
                f'* on (goal) max by (goal) (ces_goal_response_ratio{{window="{base}"}}) >= 10\n'
                f"and on (goal) sum by (goal) (increase(ces_survey_answers_total[{lookback}])) == 0"
            )
            + f"\nunless on (goal) (\n{_prompts_not_shown(plan)}\n)",
            for_,
            "critical",
            "Survey prompts go out but no answers come back.",
            f"Goal {{{{ $labels.goal }}}}: no answer in the last {lookback}, while its prompts and its usual response "
            'ratio would give {{ $value | printf "%.0f" }}: the survey widget or the answers producer is broken.',
        ),
        _alert(
            "CesPromptsNotShown",
            owned(_prompts_not_shown(plan)),
            for_,
            "critical",
            "Survey prompts go out but the app no longer shows them.",
            f"Goal {{{{ $labels.goal }}}}: no prompt reported shown in the last {lookback}, while its prompts and its "
            'usual shown ratio would give {{ $value | printf "%.0f" }}: the app stopped rendering the survey, or its '
            "prompt events producer is broken.",
        ),
        _alert(
            "CesPromptsStopped",
            owned(
                f'sum by (goal) (increase(ces_goal_events_total{{type!="started"}}[{lookback}]))\n'
                f'* on (goal) (max by (goal) (ces_goal_prompts{{window="{base}"}})\n'
                f'  / on (goal) (sum by (goal) (ces_goal_outcomes{{window="{base}"}}) > 0)) >= 10\n'
                f"and on (goal) sum by (goal) (increase(ces_survey_prompts_total[{lookback}])) == 0"
            ),
            for_,
            "critical",
            "Goal events arrive but no survey prompts go out.",
            f"Goal {{{{ $labels.goal }}}}: no prompt in the last {lookback}, while its goal events and its usual prompt "
            'share would give {{ $value | printf "%.0f" }}: sampling, cooldowns or the prompts topic need a look.',
        ),
        # Busy at this hour yesterday and a week ago, not over the day: a goal that is quiet at night (or at the
        # weekend) would otherwise be "stopped" every night (docs/alerting.md, CesGoalEventsStopped).
        _alert(
            "CesGoalEventsStopped",
            owned(
                "sum by (goal) (increase(ces_goal_events_total[1h] offset 1d))\n"
                f">= on (goal) group_left () {BUSY_EVENTS}\n"
                "and on (goal) sum by (goal) (increase(ces_goal_events_total[1h] offset 7d))\n"
                f">= on (goal) group_left () {BUSY_EVENTS}\n"
                "and on (goal) sum by (goal) (increase(ces_goal_events_total[1h])) == 0"
            ),
            "15m",
            "warning",
            "A normally busy goal stopped sending goal events.",
            'Goal {{ $labels.goal }}: no goal event in the last hour, after {{ $value | printf "%.0f" }} in the same '
            "hour yesterday (and a busy one a week ago): the app may have stopped emitting them.",
        ),
        _alert(
            "CesDropOffRising",
            owned(
                f'-max by (goal, window) ({COMPLETION_GAP_UPPER}{{window=~"{_re(plan.drop)}"}})'
                f" > {plan.baseline_tolerance:g}\n"
                f"and on (goal, window) {OUTCOMES_SUM} >= on (goal) group_left () {MIN_ANSWERS}"
            ),
            plan.for_,
            "warning",
            "More users than usual abandon a goal.",
            "Goal {{ $labels.goal }}: over the last {{ $labels.window }} the completion ratio is at least "
            "{{ $value | humanizePercentage }} (percentage points, the bound of its interval) below that of the "
            "rest of its " + base + " baseline.",
        ),
    ]
