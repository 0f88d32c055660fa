"""The goal registry: which goals exist, how users are asked about each, the answer scales, and who owns
the alerts of each goal."""

from stream.ces.registry.loader import load_registry
from stream.ces.registry.model import Alerting, GoalConfig, GoalRegistry
from stream.ces.registry.owners import nps_team, teams
from stream.ces.registry.scales import Scale, Sentiment

__all__ = [
    "Alerting",
    "GoalConfig",
    "GoalRegistry",
    "Scale",
    "Sentiment",
    "load_registry",
    "nps_team",
    "teams",
]
