"""``ces-stream gateway``: goal events, answers and prompt events over HTTP, and each user's prompts live (SSE)."""

from stream.tools.gateway.command import add_arguments, run

__all__ = ["add_arguments", "run"]
