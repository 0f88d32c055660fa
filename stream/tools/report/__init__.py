"""``ces-stream report``: a self-contained HTML report of CES per goal over a period."""

from stream.tools.report.command import add_arguments, run

__all__ = ["add_arguments", "run"]
