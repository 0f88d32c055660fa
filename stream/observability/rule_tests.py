"""promtool unit tests for the generated rules: one boundary test per alert.

Each test feeds series that make one alert's condition true from the first evaluation
and checks it is silent one evaluation before its ``for`` has passed and firing, with its
exact labels and annotations, right at it. The CES tests also hold a quiet goal (too few
answers, CES far below target) that must not fire. The goals come from the registry: the
first goal with a target is the one that drops, the next goal is the quiet one. Every goal
alert expected carries its goal's team, where the registry gives one.
"""

from __future__ import annotations

from typing import Any

from stream.ces.registry import GoalRegistry
from stream.observability import rules as r
from stream.observability.feed_rule_tests import FeedAlertTests
from stream.observability.owner_rule_tests import OwnerAlertTests
from stream.observability.rule_test_cases import (
    INSTANCE,
    boundary,
    expected_alert,
    input_series,
    minutes,
    pct,
    wilson_upper,
)
from stream.observability.survey_rule_tests import SurveyAlertTests
from stream.settings import Settings


class _Tests(SurveyAlertTests, OwnerAlertTests, FeedAlertTests):
    """Builds the test cases against one generated rule file."""

    def below_target(self, severity: str, window: str) -> dict[str, Any]:
        goal, target = self.goal.slug, self.goal.target_ces_ratio or 0.8
        rule = self.rule("CesBelowTarget", severity)
        answers = self.goal.alerting.min_answers
        # The recording rule bounds the ratio at CES_ALERT_TARGET_CONFIDENCE, with z as it writes it.
        z = float(f"{self.plan.z_target:.6f}")
        ratio = round(target - 0.3, 2)
        upper = wilson_upper(ratio, answers, z)
        assert upper < target, "the test's ratio must be far enough below the target"
        series = [
            input_series("ces_goal_ces_ratio", f"{ratio}x30", goal=goal, window=window),
            input_series("ces_goal_answers", f"{answers}x30", goal=goal, window=window),
            input_series("ces_goal_target_ces_ratio", f"{target}x30", goal=goal),
        ]
        if self.quiet is not None:  # far below target, but on one answer too few: never fires
            q = self.quiet.slug
            series += [
                input_series("ces_goal_ces_ratio", "0.1x30", goal=q, window=window),
                input_series("ces_goal_answers", f"{self.quiet.alerting.min_answers - 1}x30", goal=q, window=window),
                input_series("ces_goal_target_ces_ratio", "0.8x30", goal=q),
            ]
        description = (
            f"Goal {goal}: over the last {window} the CES ratio is at most {pct(upper)} (upper bound "
            f"of its Wilson interval), below the target {pct(target)}, on {answers} answers."
        )
        if severity == "warning":
            description = description.replace("(upper bound of its Wilson interval)", "(upper Wilson bound)")
        expected = [expected_alert(rule, {"goal": goal, "window": window}, description)]
        return {
            "name": f"CesBelowTarget {severity}: {window} window, and a quiet goal stays silent",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary("CesBelowTarget", rule["for"], expected),
        }

    def dropped(self) -> dict[str, Any]:
        """The gap's bound just past the tolerance fires; exactly at it, or on one answer too few, it does not."""
        goal, window, base = self.goal.slug, self.plan.drop[0], self.plan.baseline
        answers = self.goal.alerting.min_answers
        rule = self.rule("CesDroppedBelowBaseline", "warning")
        tolerance = self.plan.baseline_tolerance
        drop = round(tolerance + 0.05, 4)
        gap = r.BASELINE_GAP_UPPER
        series = [
            input_series(gap, f"{-drop}x30", goal=goal, window=window),
            input_series("ces_goal_answers", f"{answers}x30", goal=goal, window=window),
            input_series("ces_goal_answers", "5000x30", goal=goal, window=base),
        ]
        if self.plan.drop[-1] != window:  # exactly at the tolerance: not beyond it, silent
            series += [
                input_series(gap, f"{-tolerance}x30", goal=goal, window=self.plan.drop[-1]),
                input_series("ces_goal_answers", f"{answers}x30", goal=goal, window=self.plan.drop[-1]),
            ]
        if self.quiet is not None:  # far below its baseline, but on one answer too few: silent
            q, few = self.quiet.slug, self.quiet.alerting.min_answers - 1
            series += [
                input_series(gap, "-0.5x30", goal=q, window=window),
                input_series("ces_goal_answers", f"{few}x30", goal=q, window=window),
                input_series("ces_goal_answers", "5000x30", goal=q, window=base),
            ]
        description = (
            f"Goal {goal}: the CES ratio of the last {window} is at least {pct(drop)} (percentage points, the "
            f"bound of its interval) below that of the rest of its {base} baseline, on {answers} answers."
        )
        return {
            "name": "CesDroppedBelowBaseline: beyond the tolerance fires, at it or on too few answers not",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "CesDroppedBelowBaseline",
                rule["for"],
                [expected_alert(rule, {"goal": goal, "window": window}, description)],
            ),
        }

    def sequential(self) -> dict[str, Any] | None:
        """The CUSUM just above its threshold fires after ``for``; exactly at it (the quiet goal) it does not."""
        window, threshold = self.plan.sequential, self.plan.sequential_threshold
        if window is None:
            return None
        goal = self.goal.slug
        rule = self.rule("CesBelowTargetSequential", "critical")
        value = threshold + 0.5
        series = [input_series(r.CUSUM, f"{value}x30", goal=goal, window=window)]
        if self.quiet is not None:
            series.append(input_series(r.CUSUM, f"{threshold}x30", goal=self.quiet.slug, window=window))
        description = (
            f"Goal {goal}: the CUSUM of its answers over the last {window} is {value:.1f}, above {threshold:g}: "
            "since some moment in that window its answers are far likelier from a CES well below the target "
            "than at it."
        )
        return {
            "name": "CesBelowTargetSequential: above the threshold fires, at it not",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "CesBelowTargetSequential",
                rule["for"],
                [expected_alert(rule, {"goal": goal, "window": window}, description)],
            ),
        }

    def effort_at_exits(self) -> dict[str, Any] | None:
        if not self.plan.split:
            return None
        goal, window = self.goal.slug, self.plan.split[-1]
        rule = self.rule("CesEffortAtExits", "warning")
        upper = -round(self.goal.alerting.exit_gap_tolerance + 0.1, 2)
        series = [input_series("ces_goal_exit_ces_gap_upper", f"{upper}x90", goal=goal, window=window)]
        description = (
            f"Goal {goal}: over the last {window} CES at exits is below CES at completion by more than "
            f"the goal's tolerance: the gap is at most {pct(upper)} (upper bound of its interval)."
        )
        return {
            "name": "CesEffortAtExits",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "CesEffortAtExits", rule["for"], [expected_alert(rule, {"goal": goal, "window": window}, description)]
            ),
        }

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

    # -- the pipeline's alerts: one test each ------------------------------------------------
    def worker_down(self) -> dict[str, Any]:
        return self.case(
            "CesWorkerDown",
            "critical",
            [input_series("up", "0x10")],
            INSTANCE,
            f"{INSTANCE['instance']} has been down for 2 minutes: its partitions move to the "
            "other workers, or nothing is processed if it was the only one.",
        )

    def worker_not_ready(self) -> dict[str, Any]:
        return self.case(
            "CesWorkerNotReady",
            "critical",
            [input_series("ces_worker_ready", "1 1 0x10")],
            INSTANCE,
            f"{INSTANCE['instance']} has not been ready for 5 minutes: the broker does not "
            "answer it, a partition it owns is stalled, or it is still rebalancing; its /health says which.",
            start_min=2,
        )

    def goal_not_exported(self) -> dict[str, Any]:
        lost, *exported = (g.slug for g in self.registry.goals)
        return self.case(
            "CesGoalNotExported",
            "critical",
            [input_series("ces_goal_answers", "0x10", goal=g, window=self.plan.shortest) for g in exported],
            {"goal": lost},
            f"Goal {lost} is in the goal registry but no worker exports its figures: "
            "a partition of the goal stage is not owned, or the workers run with another registry.",
            name="CesGoalNotExported: every goal but one exported",
        )

    def consumer_lag_growing(self) -> dict[str, Any]:
        start = self.plan.settings.alert_lag_messages + 1000
        rule = self.rule("CesConsumerLagGrowing", "warning")
        return self.case(
            "CesConsumerLagGrowing",
            "warning",
            [input_series("ces_consumer_lag_messages", f"{start}+100x30", topic="ces.goal-events")],
            {"topic": "ces.goal-events"},
            f"Topic ces.goal-events: {start + 100 * (1 + minutes(rule['for'])):.0f} records not "
            "yet processed and still growing: the workers do not keep up.",
            start_min=1,
        )

    def dead_letter_share_high(self) -> dict[str, Any]:
        goal = self.registry.goals[0].slug
        return self.case(
            "CesDeadLetterShareHigh",
            "warning",
            [
                input_series("ces_events_invalid_total", "0+50x30", topic="ces.goal-events", reason="not_json"),
                input_series("ces_goal_events_total", "0+50x30", goal=goal, type="completed"),
                input_series("ces_survey_answers_total", "0x30", goal=goal, sentiment="positive"),
            ],
            {},
            "50% of the input records of the last 5 minutes were dead-lettered; see "
            "ces_events_invalid_total by topic and reason.",
            start_min=1,
        )

    def decision_latency_high(self) -> dict[str, Any]:
        # p99 in the (2.5, 5] bucket: 2.5 + 2.5 * (99 - 10) / 90 seconds.
        buckets = [("1", "0+10x30"), ("2.5", "0+10x30"), *((le, "0+100x30") for le in ("5", "10", "30", "+Inf"))]
        return self.case(
            "CesDecisionLatencyHigh",
            "warning",
            [input_series("ces_prompt_decision_latency_seconds_bucket", values, le=le) for le, values in buckets],
            {},
            f"The 99th percentile of prompt decision latency is {2.5 + 2.5 * 89 / 90:.4g}s.",
            start_min=1,
        )

    def pipeline(self) -> list[dict[str, Any]]:
        return [
            self.worker_down(),
            self.worker_not_ready(),
            self.goal_not_exported(),
            self.consumer_lag_growing(),
            self.dead_letter_share_high(),
            self.decision_latency_high(),
        ]

    def all(self) -> list[dict[str, Any]]:
        tests = [
            self.below_target("critical", self.plan.fast[-1]),
            self.below_target("warning", self.plan.slow),
            self.dropped(),
            self.sequential(),
            self.effort_at_exits(),
            *self.survey_broken(),
            self.drop_off(),
            *self.surveys(),
            self.owners(),
            *self.pipeline(),
            *self.feed_webhook(),
        ]
        return [test for test in tests if test is not None]

    def week(self) -> list[dict[str, Any]]:
        """The tests that need a week of history (evaluated every 5 minutes: a week at 1m takes promtool a minute)."""
        return [self.goal_events_stopped()]


def rule_tests(settings: Settings, registry: GoalRegistry, rule_file_name: str) -> dict[str, Any]:
    """The promtool test file for the rules written to ``rule_file_name`` (relative to the test file)."""
    tests = _Tests(settings, registry)
    return _test_file(settings, registry, rule_file_name, "1m", tests.with_owners(tests.all()))


def week_rule_tests(settings: Settings, registry: GoalRegistry, rule_file_name: str) -> dict[str, Any]:
    """The promtool test file of the alerts that read a week back (``CesGoalEventsStopped``), evaluated every 5m."""
    tests = _Tests(settings, registry)
    return _test_file(settings, registry, rule_file_name, "5m", tests.with_owners(tests.week()))


def _test_file(
    settings: Settings, registry: GoalRegistry, rule_file_name: str, interval: str, tests: list[dict[str, Any]]
) -> dict[str, Any]:
    groups = [group["name"] for group in r.rule_file(settings, registry)["groups"]]
    # promtool evaluates groups in a random order unless told: the recording rules must come first.
    return {
        "rule_files": [rule_file_name],
        "evaluation_interval": interval,
        "group_eval_order": groups,
        "tests": tests,
    }
