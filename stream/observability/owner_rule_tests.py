"""promtool unit tests of the alerts' owners: every goal alert carries the ``team`` the registry gives its goal.

Every expected goal alert of the other tests gets its owner's ``team`` label (:meth:`OwnerAlertTests.with_owners`),
so each of them checks the join too; one more test makes a goal with a team and one without fire together. The
pipeline's alerts carry no team, also those with a goal (``CesGoalNotExported``): the platform owns them. Used
by :mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.ces.registry import nps_team
from stream.observability import rules as r
from stream.observability.rule_test_cases import AlertCases, boundary, expected_alert, input_series


class OwnerAlertTests(AlertCases):
    """The owners' test case, and the owners of every expected alert."""

    def owner(self, alert: str, goal: str | None) -> str | None:
        """The team alert ``alert`` of ``goal`` must carry, from the registry (the NPS alerts: the NPS's owner)."""
        config = self.registry.get(goal) if goal is not None else None
        pipeline = {rule["alert"] for rule in r.pipeline_alerts(self.plan)["rules"]}
        if config is None or alert in pipeline:
            return None
        return nps_team(self.registry, config) if alert.startswith("Nps") else config.team

    def with_owners(self, tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``tests`` with the ``team`` of every expected alert whose goal has an owner (set in place)."""
        for test in tests:
            for check in test["alert_rule_test"]:
                for expected in check["exp_alerts"]:
                    team = self.owner(check["alertname"], expected["exp_labels"].get("goal"))
                    if team is not None:
                        expected["exp_labels"]["team"] = team
        return tests

    def owners(self) -> dict[str, Any] | None:
        """The same alert of a goal with a team and of one without: the first fires with ``team``, the other
        without any (not lost, not given an empty or another team's label)."""
        window, threshold = self.plan.sequential, self.plan.sequential_threshold
        owned = [g for g in self.registry.goals if g.team is not None and g.survey == "ces"][:1]
        unowned = [g for g in self.registry.goals if g.team is None and g.survey == "ces"][:1]
        if window is None or not owned + unowned:
            return None
        rule = self.rule("CesBelowTargetSequential", "critical")
        value = threshold + 0.5
        series, expected = [], []
        for goal in owned + unowned:
            series.append(input_series(r.CUSUM, f"{value}x30", goal=goal.slug, window=window))
            labels = {"goal": goal.slug, "window": window} | ({"team": goal.team} if goal.team else {})
            description = (
                f"Goal {goal.slug}: the CUSUM of its answers over the last {window} is {value:.1f}, above "
                f"{threshold:g}: since some moment in that window its answers are far likelier from a CES well "
                "below the target than at it."
            )
            expected.append(expected_alert(rule, labels, description))
        names = " and ".join(
            f"{goal.slug} ({f'team {goal.team}' if goal.team else 'no team'})" for goal in owned + unowned
        )
        return {
            "name": f"Owners: CesBelowTargetSequential of {names}",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary("CesBelowTargetSequential", rule["for"], expected),
        }
