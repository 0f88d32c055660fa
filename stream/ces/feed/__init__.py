"""The pure logic of ``ces-stream feed-webhook``: its settings, the message it POSTs (``message``), what it
does after each POST (``retry``), its rate limit per goal (``token_bucket``) and how it reads a record
(``records``). The Kafka and HTTP loop is ``stream/tools/feed_webhook/``."""

from stream.ces.feed.message import request_body, request_headers, slack_message
from stream.ces.feed.records import (
    DELIVERY_REASONS,
    NO_GOAL,
    OTHER_GOAL,
    READ_REASONS,
    WEBHOOK_REASONS,
    goal_label,
    read_answer,
)
from stream.ces.feed.retry import Decision, Delivered, GiveUp, Response, RetryLater, RetryPolicy
from stream.ces.feed.settings import FeedFormat, FeedWebhookSettings
from stream.ces.feed.token_bucket import GoalRateLimits, TokenBucket

__all__ = [
    "DELIVERY_REASONS",
    "NO_GOAL",
    "OTHER_GOAL",
    "READ_REASONS",
    "WEBHOOK_REASONS",
    "Decision",
    "Delivered",
    "FeedFormat",
    "FeedWebhookSettings",
    "GiveUp",
    "GoalRateLimits",
    "Response",
    "RetryLater",
    "RetryPolicy",
    "TokenBucket",
    "goal_label",
    "read_answer",
    "request_body",
    "request_headers",
    "slack_message",
]
