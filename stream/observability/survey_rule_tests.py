"""promtool unit tests of the alerts that tell the goal's question apart: CSAT goals and the NPS.

A CSAT goal (``ces_goal_survey_info{survey="csat"}``) gets the CSAT alerts and never the CES ones
on the same figures; ``NpsDroppedBelowBaseline`` fires on a real drop of the NPS and not on the
noise of a steady one, with gauges computed by the worker's own function
(:func:`~stream.ces.goals.nps.nps_baseline_gap`) from constructed counts. Used by
:mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.ces.goals.nps import nps_baseline_gap
from stream.ces.goals.segments import AnswerCounts
from stream.observability import rules as r
from stream.observability.rule_test_cases import AlertCases, boundary, expected_alert, input_series, pct, wilson_upper

# Counts of promoters, passives and detractors: the rest of the 7d baseline at an NPS of 0.30, a 1h window of
# 100 answers that dropped to -0.20 (a real drop), and one at 0.20 (0.10 below: the noise of a steady goal, whose
# 100-answer hours spread by about +-0.09 around its NPS).
NPS_REST = (1000, 600, 400)
NPS_DROPPED = (25, 30, 45)
NPS_NOISE = (45, 30, 25)


def _counts(promoters: int, passives: int, detractors: int) -> AnswerCounts:
    counts = AnswerCounts()
    counts.positive, counts.neutral, counts.negative = promoters, passives, detractors
    return counts


def nps_gap_upper(window: tuple[int, int, int], rest: tuple[int, int, int], confidence: float) -> float:
    """The upper bound of the NPS baseline gap the worker exports for ``window`` against the ``rest``."""
    base = _counts(*(a + b for a, b in zip(window, rest, strict=True)))
    gap = nps_baseline_gap(_counts(*window), base, confidence, 1)
    assert gap is not None
    return gap[2]


class SurveyAlertTests(AlertCases):
    """The CSAT and NPS test cases against one generated rule file."""

    def csat_goal(self) -> str:
        csat = [g for g in self.registry.goals if g.survey == "csat"]
        return (csat or [self.goal])[0].slug

    def min_answers(self) -> int:
        """Enough answers for every goal of the registry (each has its own ``alerting.min_answers``)."""
        return max(g.alerting.min_answers for g in self.registry.goals)

    def csat_below_target(self) -> dict[str, Any]:
        """A CSAT goal far below its target pages as CsatBelowTarget, never as CesBelowTarget; a CES goal far
        below its target pages as CesBelowTarget, never as CsatBelowTarget."""
        goal, ces_goal, window = self.csat_goal(), self.goal.slug, self.plan.fast[-1]
        target, answers = 0.8, self.min_answers()
        rule = self.rule("CsatBelowTarget", "critical")
        z = float(f"{self.plan.z_target:.6f}")
        upper = wilson_upper(0.5, answers, z)
        series = [
            input_series("ces_goal_ces_ratio", "0.5x30", goal=goal, window=window),
            input_series("ces_goal_answers", f"{answers}x30", goal=goal, window=window),
            input_series("ces_goal_target_ces_ratio", f"{target}x30", goal=goal),
            input_series(r.SURVEY_INFO, "1x30", goal=goal, survey="csat"),
        ]
        if ces_goal != goal:
            series += [
                input_series("ces_goal_ces_ratio", "0.5x30", goal=ces_goal, window=window),
                input_series("ces_goal_answers", f"{answers}x30", goal=ces_goal, window=window),
                input_series("ces_goal_target_ces_ratio", f"{target}x30", goal=ces_goal),
                input_series(r.SURVEY_INFO, "1x30", goal=ces_goal, survey="ces"),
            ]
        description = (
            f"Goal {goal}: over the last {window} the CSAT share is at most {pct(upper)} (upper bound "
            f"of its Wilson interval), below the target {pct(target)}, on {answers} answers."
        )
        ces_rule = self.rule("CesBelowTarget", "critical")
        ces_alerts = [
            expected_alert(
                ces_rule,
                {"goal": ces_goal, "window": window},
                description.replace(goal, ces_goal).replace("CSAT share", "CES ratio"),
            )
        ]
        fire_at = int(rule["for"].removesuffix("m"))
        return {
            "name": "CsatBelowTarget: a CSAT goal pages under its CSAT name only, a CES goal under its CES name only",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                *boundary(
                    "CsatBelowTarget",
                    rule["for"],
                    [expected_alert(rule, {"goal": goal, "window": window}, description)],
                ),
                {
                    "eval_time": f"{fire_at}m",
                    "alertname": "CesBelowTarget",
                    "exp_alerts": ces_alerts if ces_goal != goal else [],
                },
            ],
        }

    def csat_dropped(self) -> dict[str, Any]:
        """The CSAT share's baseline gap beyond the tolerance fires CsatDroppedBelowBaseline, not the CES alert."""
        goal, window, base = self.csat_goal(), self.plan.drop[0], self.plan.baseline
        answers = self.min_answers()
        rule = self.rule("CsatDroppedBelowBaseline", "warning")
        drop = round(self.plan.baseline_tolerance + 0.05, 4)
        series = [
            input_series(r.BASELINE_GAP_UPPER, f"{-drop}x30", goal=goal, window=window),
            input_series("ces_goal_answers", f"{answers}x30", goal=goal, window=window),
            input_series("ces_goal_answers", "5000x30", goal=goal, window=base),
            input_series(r.SURVEY_INFO, "1x30", goal=goal, survey="csat"),
        ]
        description = (
            f"Goal {goal}: the CSAT share of the last {window} is at least {pct(drop)} (percentage points, the "
            f"bound of its interval) below that of the rest of its {base} baseline, on {answers} answers."
        )
        fire_at = int(rule["for"].removesuffix("m"))
        return {
            "name": "CsatDroppedBelowBaseline: a CSAT goal's drop, and no CesDroppedBelowBaseline for it",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                *boundary(
                    "CsatDroppedBelowBaseline",
                    rule["for"],
                    [expected_alert(rule, {"goal": goal, "window": window}, description)],
                ),
                {"eval_time": f"{fire_at}m", "alertname": "CesDroppedBelowBaseline", "exp_alerts": []},
            ],
        }

    def csat_sequential_and_exits(self) -> list[dict[str, Any]]:
        """CsatBelowTargetSequential and CsatLowerAtExits on a CSAT goal's CUSUM and exit gap."""
        goal, tests = self.csat_goal(), []
        if self.plan.sequential is not None:
            window, threshold = self.plan.sequential, self.plan.sequential_threshold
            value = threshold + 0.5
            description = (
                f"Goal {goal}: the CUSUM of its answers over the last {window} is {value:.1f}, above {threshold:g}: "
                "since some moment in that window its answers are far likelier from a CSAT well below the target "
                "than at it."
            )
            series = [
                input_series(r.CUSUM, f"{value}x30", goal=goal, window=window),
                input_series(r.SURVEY_INFO, "1x30", goal=goal, survey="csat"),
            ]
            tests.append(self._csat_case("CsatBelowTargetSequential", "critical", series, window, description))
        if self.plan.split:
            window = self.plan.split[-1]
            upper = -round(self.goal.alerting.exit_gap_tolerance + 0.1, 2)
            series = [
                input_series("ces_goal_exit_ces_gap_upper", f"{upper}x90", goal=goal, window=window),
                input_series(r.SURVEY_INFO, "1x90", goal=goal, survey="csat"),
            ]
            description = (
                f"Goal {goal}: over the last {window} CSAT at exits is below CSAT at completion by more than "
                f"the goal's tolerance: the gap is at most {pct(upper)} (upper bound of its interval)."
            )
            tests.append(self._csat_case("CsatLowerAtExits", "warning", series, window, description))
        return tests

    def _csat_case(
        self, alert: str, severity: str, series: list[dict[str, str]], window: str, description: str
    ) -> dict[str, Any]:
        rule = self.rule(alert, severity)
        return {
            "name": alert,
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                alert, rule["for"], [expected_alert(rule, {"goal": self.csat_goal(), "window": window}, description)]
            ),
        }

    def nps_dropped(self) -> dict[str, Any]:
        """A real drop of the NPS (0.30 to -0.20 on 100 answers) fires; the noise of a steady goal (0.20 on 100
        answers) does not; nor does a drop on one answer too few."""
        goal, window, base = self.goal.slug, self.plan.drop[0], self.plan.baseline
        confidence = self.plan.settings.wilson_confidence
        rule = self.rule("NpsDroppedBelowBaseline", "warning")
        dropped = round(nps_gap_upper(NPS_DROPPED, NPS_REST, confidence), 6)
        noise = round(nps_gap_upper(NPS_NOISE, NPS_REST, confidence), 6)
        assert -dropped > self.plan.nps_tolerance > -noise, "the test's counts must straddle the tolerance"
        gap = r.NPS_GAP_UPPER
        answers = sum(NPS_DROPPED)
        series = [
            input_series(gap, f"{dropped}x30", goal=goal, window=window),
            input_series("ces_goal_nps_answers", f"{answers}x30", goal=goal, window=window),
            input_series("ces_goal_nps_answers", f"{answers + sum(NPS_REST)}x30", goal=goal, window=base),
        ]
        others = [g for g in self.registry.goals if g.slug != goal]
        if others:  # steady: its hour 0.10 below its week, within the noise
            steady = others[0].slug
            series += [
                input_series(gap, f"{noise}x30", goal=steady, window=window),
                input_series("ces_goal_nps_answers", f"{answers}x30", goal=steady, window=window),
                input_series("ces_goal_nps_answers", f"{answers + sum(NPS_REST)}x30", goal=steady, window=base),
            ]
        if len(others) > 1:  # a real drop, on one answer too few in the window
            few = others[1]
            series += [
                input_series(gap, f"{dropped}x30", goal=few.slug, window=window),
                input_series(
                    "ces_goal_nps_answers", f"{few.alerting.min_answers - 1}x30", goal=few.slug, window=window
                ),
                input_series("ces_goal_nps_answers", "2000x30", goal=few.slug, window=base),
            ]
        description = (
            f"Goal {goal}: the NPS of the last {window} is at least {-dropped:.2f} (NPS from -1 to 1, the bound of "
            f"its interval) below that of the rest of its {base} baseline, on {answers} NPS answers."
        )
        return {
            "name": "NpsDroppedBelowBaseline: a real drop fires; a steady goal's noise, or too few answers, not",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                "NpsDroppedBelowBaseline",
                rule["for"],
                [expected_alert(rule, {"goal": goal, "window": window}, description)],
            ),
        }

    def surveys(self) -> list[dict[str, Any]]:
        return [self.csat_below_target(), self.csat_dropped(), *self.csat_sequential_and_exits(), self.nps_dropped()]
