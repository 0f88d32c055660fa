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
from stream.observability.funnel_rule_tests import FunnelAlertTests
from stream.observability.gateway_rule_tests import GatewayAlertTests
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


class _Tests(SurveyAlertTests, FunnelAlertTests, OwnerAlertTests, FeedAlertTests, GatewayAlertTests):
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
            *self.gateway(),
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
