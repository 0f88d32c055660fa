"""Who owns the alerts of each goal: the goal's ``team``, and for its NPS alerts the ``nps`` block's.

A team is what the generated alerts carry as their ``team`` label and what Alertmanager routes on
(``ces-stream monitoring``); a goal without a team goes to the default receivers.
"""

from __future__ import annotations

from stream.ces.registry.model import GoalConfig, GoalRegistry


def nps_team(registry: GoalRegistry, goal: GoalConfig) -> str | None:
    """The team that owns the NPS alerts of ``goal``: the registry's ``nps.team``, else the goal's own team."""
    if registry.nps is not None and registry.nps.team is not None:
        return registry.nps.team
    return goal.team


def teams(registry: GoalRegistry) -> tuple[str, ...]:
    """Every team that owns an alert of the registry (of a goal, or of the NPS), sorted, each once."""
    owners = {goal.team for goal in registry.goals} | {nps_team(registry, goal) for goal in registry.goals}
    return tuple(sorted(team for team in owners if team is not None))
