"""The static recording rules from the goal registry: which goals exist, their alert thresholds and their owners.

One sample per goal and rule (``vector(...)`` with the goal as a label), evaluated before the
alerts, so one generic alert rule reads the threshold of each goal. The list of goals
(``goal:ces_registry_goal:info``) is what tells a goal no worker exports from one that does not
exist. The owners travel the same way: ``goal:ces_goal_team:info`` and
``goal:ces_goal_nps_team:info`` are 1 for every goal, with a ``team`` label where the registry
names one; :func:`owned` joins them into a goal alert, so the alert carries its goal's team (the
label Alertmanager routes on) and keeps its value.
"""

from __future__ import annotations

from typing import Any

from stream.ces.registry import GoalRegistry, nps_team

REGISTRY_GOAL = "goal:ces_registry_goal:info"
MIN_ANSWERS = "goal:ces_alert_min_answers:value"
EXIT_GAP_TOLERANCE = "goal:ces_alert_exit_gap_tolerance:value"
BUSY_EVENTS = "goal:ces_alert_busy_events_per_hour:value"
GOAL_TEAM = "goal:ces_goal_team:info"
"""1 per goal; ``team`` is the goal's own team (no label without one)."""
NPS_TEAM = "goal:ces_goal_nps_team:info"
"""1 per goal; ``team`` owns the goal's NPS alerts: the registry's ``nps.team``, else the goal's own."""


def registry_rules(registry: GoalRegistry) -> dict[str, Any]:
    """Static per-goal values from the registry: which goals exist, their alert thresholds and owners."""
    rules: list[dict[str, Any]] = []
    for goal in registry.goals:
        labels = {"goal": goal.slug}
        a = goal.alerting
        rules += [
            {"record": REGISTRY_GOAL, "expr": "vector(1)", "labels": labels},
            {"record": MIN_ANSWERS, "expr": f"vector({a.min_answers})", "labels": labels},
            {"record": EXIT_GAP_TOLERANCE, "expr": f"vector({a.exit_gap_tolerance:g})", "labels": labels},
            {"record": BUSY_EVENTS, "expr": f"vector({a.busy_events_per_hour:g})", "labels": labels},
            {"record": GOAL_TEAM, "expr": "vector(1)", "labels": _with_team(labels, goal.team)},
            {"record": NPS_TEAM, "expr": "vector(1)", "labels": _with_team(labels, nps_team(registry, goal))},
        ]
    return {"name": "ces-stream-registry", "rules": rules}


def _with_team(labels: dict[str, str], team: str | None) -> dict[str, str]:
    return labels if team is None else {**labels, "team": team}


def owned(expr: str, owner: str = GOAL_TEAM) -> str:
    """``expr`` (a goal alert's condition) with its goal's team from ``owner`` as the label ``team``.

    The info series is 1, so the value (and the description that shows it) is the condition's own;
    for a goal without a team ``group_left`` copies no label, so it alerts as before, without one.
    Every goal of the registry has an info series; a goal the rules' registry does not list (the
    workers run with another one) has no thresholds either, and no goal alert (the converse, a goal
    of the registry no worker exports, is ``CesGoalNotExported``).
    """
    return f"(\n{expr}\n)\n* on (goal) group_left (team) {owner}"
