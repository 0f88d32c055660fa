"""``ces-stream feed-webhook``: ``ces.high-effort-answers`` delivered to a webhook (Slack or JSON), none lost."""

from stream.tools.feed_webhook.command import add_arguments, run

__all__ = ["add_arguments", "run"]
