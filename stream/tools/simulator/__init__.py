"""``ces-stream simulate``: realistic app traffic over the goal registry, and its traffic model."""

from stream.tools.simulator.command import add_arguments, run
from stream.tools.simulator.traffic import SimulationConfig, build_profiles

__all__ = ["SimulationConfig", "add_arguments", "build_profiles", "run"]
