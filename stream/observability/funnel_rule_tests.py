"""promtool unit tests of the funnel's alerts (:mod:`stream.observability.funnel_rules`): the survey
alerts and drop-off.

Goal events, prompts or answers that stop, prompts no longer shown (and ``CesAnswersStopped`` silent for
them), and drop-off beyond its tolerance; each with the series that must stay silent beside it. Used by
:mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.observability import rules as r
from stream.observability.rule_test_cases import AlertCases, boundary, expected_alert, input_series, minutes, pct


class FunnelAlertTests(AlertCases):
    """The funnel's test cases against one generated rule file."""

    def survey_broken(self) -> list[dict[str, Any]]:
        goal, base = self.goal.slug, self.plan.baseline
        answers_rule = self.rule("CesAnswersStopped", "critical")
        prompts_rule = self.rule("CesPromptsStopped", "critical")
        # 100 prompts a minute and a usual response ratio of 0.3; answers stand still.
        answers_stopped = [
            input_series("ces_survey_answers_total", "500x40", goal=goal, sentiment="positive"),
            input_series("ces_survey_prompts_total", "0+100x40", goal=goal, outcome="completed"),
            input_series("ces_goal_response_ratio", "0.3x40", goal=goal, window=base),
        ]
        # 100 completions a minute and a usual prompt share of 0.25; prompts stand still.
        prompts_stopped = [
            input_series("ces_survey_prompts_total", "500x40", goal=goal, outcome="completed"),
            input_series("ces_goal_events_total", "0+100x40", goal=goal, type="completed"),
            input_series("ces_goal_prompts", "250x40", goal=goal, window=base),
            input_series("ces_goal_outcomes", "1000x40", goal=goal, window=base, outcome="completed"),
        ]
        # At the evaluation that fires, increase(...[lookback]) holds every minute since the start.
        fire_answers = (1 + minutes(answers_rule["for"])) * 100
        fire_prompts = (1 + minutes(prompts_rule["for"])) * 100
        lookback = self.plan.survey_window
        return [
            {
                "name": "CesAnswersStopped: an app without prompt events",
                "interval": "1m",
                "input_series": answers_stopped,
                "alert_rule_test": boundary(
                    "CesAnswersStopped",
                    answers_rule["for"],
                    [self._answers_stopped(goal, fire_answers * 0.3)],
                    start_min=1,
                ),
            },
            {
                "name": "CesPromptsStopped",
                "interval": "1m",
                "input_series": prompts_stopped,
                "alert_rule_test": boundary(
                    "CesPromptsStopped",
                    prompts_rule["for"],
                    [
                        expected_alert(
                            prompts_rule,
                            {"goal": goal},
                            f"Goal {goal}: no prompt in the last {lookback}, while its goal events and its usual prompt "
                            f"share would give {fire_prompts * 0.25:.0f}: sampling, cooldowns or the prompts topic need "
                            "a look.",
                        )
                    ],
                    start_min=1,
                ),
            },
            self.prompts_not_shown(),
            self.answers_stopped_while_shown(),
        ]

    def _answers_stopped(self, goal: str, due: float) -> dict[str, Any]:
        return expected_alert(
            self.rule("CesAnswersStopped", "critical"),
            {"goal": goal},
            f"Goal {goal}: no answer in the last {self.plan.survey_window}, while its prompts and its usual response "
            f"ratio would give {due:.0f}: the survey widget or the answers producer is broken.",
        )

    def _funnel(self, goal: str, *, shown: str, answers: str, shown_ratio: float | None) -> list[dict[str, str]]:
        """100 prompts a minute, a usual response ratio of 0.3 and, where the app reports them, prompt events."""
        base = self.plan.baseline
        series = [
            input_series("ces_survey_prompts_total", "0+100x40", goal=goal, outcome="completed"),
            input_series("ces_survey_answers_total", answers, goal=goal, sentiment="positive"),
            input_series("ces_goal_response_ratio", "0.3x40", goal=goal, window=base),
            # Pre-initialised at 0 for every goal and type, reported or not.
            input_series("ces_survey_prompt_events_total", shown, goal=goal, type="shown"),
            input_series("ces_survey_prompt_events_total", "0x40", goal=goal, type="dismissed"),
        ]
        if shown_ratio is not None:  # the worker exports no shown ratio for a window without a prompt shown
            series.append(input_series("ces_goal_shown_ratio", f"{shown_ratio}x40", goal=goal, window=base))
        return series

    def prompts_not_shown(self) -> dict[str, Any]:
        """The app stopped rendering: no prompt shown and so no answer. CesPromptsNotShown fires and
        CesAnswersStopped stays silent. A goal whose app never reported prompt events, its answers stopped,
        gets CesAnswersStopped as before and never CesPromptsNotShown; one whose prompts would give 9 shown
        at its usual shown ratio, one short of 10, is not "not shown" (and its stopped answers page)."""
        goal, base = self.goal.slug, self.plan.baseline
        rule = self.rule("CesPromptsNotShown", "critical")
        fire_at = 1 + minutes(rule["for"])
        series = self._funnel(goal, shown="400x40", answers="500x40", shown_ratio=0.8)
        answers_stopped = []
        others = [g.slug for g in self.registry.goals if g.slug != goal]
        if others:
            without_prompt_events = others[0]
            series += self._funnel(without_prompt_events, shown="0x40", answers="200x40", shown_ratio=None)
            answers_stopped.append(self._answers_stopped(without_prompt_events, fire_at * 100 * 0.3))
        if len(others) > 1:
            few_due = others[1]
            # 20 prompts in the first minute, then none; its app reports 45 % of them shown: 9 shown due throughout,
            # too few to tell; at a response ratio of 0.6 12 answers are due: CesAnswersStopped speaks.
            series += [
                input_series("ces_survey_prompts_total", "0 20x39", goal=few_due, outcome="completed"),
                input_series("ces_survey_answers_total", "7x40", goal=few_due, sentiment="positive"),
                input_series("ces_goal_response_ratio", "0.6x40", goal=few_due, window=base),
                input_series("ces_survey_prompt_events_total", "3x40", goal=few_due, type="shown"),
                input_series("ces_goal_shown_ratio", "0.45x40", goal=few_due, window=base),
            ]
            answers_stopped.append(self._answers_stopped(few_due, 12))
        description = (
            f"Goal {goal}: no prompt reported shown in the last {self.plan.survey_window}, while its prompts and its "
            f"usual shown ratio would give {fire_at * 100 * 0.8:.0f}: the app stopped rendering the survey, or its "
            "prompt events producer is broken."
        )
        return {
            "name": "CesPromptsNotShown: the app stopped rendering; CesAnswersStopped silent for it",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                *boundary(
                    "CesPromptsNotShown", rule["for"], [expected_alert(rule, {"goal": goal}, description)], start_min=1
                ),
                {"eval_time": f"{fire_at}m", "alertname": "CesAnswersStopped", "exp_alerts": answers_stopped},
            ],
        }

    def answers_stopped_while_shown(self) -> dict[str, Any]:
        """Prompts still shown but answers stopped: CesAnswersStopped fires, CesPromptsNotShown does not."""
        goal = self.goal.slug
        rule = self.rule("CesAnswersStopped", "critical")
        fire_at = 1 + minutes(rule["for"])
        return {
            "name": "CesAnswersStopped: prompts still shown, answers stopped; CesPromptsNotShown silent",
            "interval": "1m",
            "input_series": self._funnel(goal, shown="0+80x40", answers="500x40", shown_ratio=0.8),
            "alert_rule_test": [
                *boundary(
                    "CesAnswersStopped", rule["for"], [self._answers_stopped(goal, fire_at * 100 * 0.3)], start_min=1
                ),
                {"eval_time": f"{fire_at}m", "alertname": "CesPromptsNotShown", "exp_alerts": []},
            ],
        }

    def goal_events_stopped(self) -> dict[str, Any]:
        """Busy for a week, then silent: fires an hour and ``for`` later; a goal busy only for the last
        two days (not a week ago) stays silent, as one that is quiet at this hour on other days would."""
        goal = self.goal.slug
        rule = self.rule("CesGoalEventsStopped", "warning")
        per_minute = max(1, int(self.goal.alerting.busy_events_per_hour * 2 / 60) + 1)  # whole: no float dust
        day, week = 24 * 60, 7 * 24 * 60
        busy = week + 60  # minutes of events before the silence: a week back from when it fires is busy too
        after = f"{per_minute * busy}x{day // 8}"
        series = [input_series("ces_goal_events_total", f"0+{per_minute}x{busy} {after}", goal=goal, type="completed")]
        if self.quiet is not None:
            values = f"0x{busy - 2 * day} 0+{per_minute}x{2 * day} {per_minute * 2 * day}x{day // 8}"
            series.append(input_series("ces_goal_events_total", values, goal=self.quiet.slug, type="completed"))
        description = (
            f"Goal {goal}: no goal event in the last hour, after {per_minute * 60} in the same hour yesterday "
            "(and a busy one a week ago): the app may have stopped emitting them."
        )
        return {
            "name": "CesGoalEventsStopped",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "CesGoalEventsStopped",
                rule["for"],
                [expected_alert(rule, {"goal": goal}, description)],
                start_min=busy + 60,
            ),
        }

    def drop_off(self) -> dict[str, Any]:
        """The completion gap's bound just past the tolerance fires; at it, or on one outcome too few, it does not."""
        goal, window = self.goal.slug, self.plan.drop[0]
        rule = self.rule("CesDropOffRising", "warning")
        tolerance, base = self.plan.baseline_tolerance, self.plan.baseline
        drop = round(tolerance + 0.05, 4)
        few = self.goal.alerting.min_answers
        gap = r.COMPLETION_GAP_UPPER
        series = [
            input_series(gap, f"{-drop}x30", goal=goal, window=window),
            input_series("ces_goal_outcomes", f"{few // 2}x30", goal=goal, window=window, outcome="completed"),
            input_series("ces_goal_outcomes", f"{few - few // 2}x30", goal=goal, window=window, outcome="abandoned"),
        ]
        if self.plan.drop[-1] != window:  # exactly at the tolerance: silent
            other = self.plan.drop[-1]
            series += [
                input_series(gap, f"{-tolerance}x30", goal=goal, window=other),
                input_series("ces_goal_outcomes", "500x30", goal=goal, window=other, outcome="completed"),
            ]
        if self.quiet is not None:  # far below its baseline, but on one outcome too few: silent
            q = self.quiet.slug
            series += [
                input_series(gap, "-0.5x30", goal=q, window=window),
                input_series("ces_goal_outcomes", f"{self.quiet.alerting.min_answers - 1}x30", goal=q, window=window),
            ]
        description = (
            f"Goal {goal}: over the last {window} the completion ratio is at least {pct(drop)} (percentage points, "
            f"the bound of its interval) below that of the rest of its {base} baseline."
        )
        return {
            "name": "CesDropOffRising: beyond the tolerance fires, at it or on too few outcomes not",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "CesDropOffRising", rule["for"], [expected_alert(rule, {"goal": goal, "window": window}, description)]
            ),
        }
