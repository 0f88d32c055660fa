"""``ces-stream alert-quality``: false alerts per goal-week and detection time of the generated rules."""

from stream.tools.alert_quality.command import add_arguments, run

__all__ = ["add_arguments", "run"]
