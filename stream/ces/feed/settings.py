"""The settings of ``ces-stream feed-webhook``: a base class of :class:`stream.settings.Settings`.

Kept apart so the one settings class stays within the module size limit; the fields are read,
masked and tabulated with every other setting (``CES_FEED_WEBHOOK_*``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

FeedFormat = Literal["slack", "json"]


class FeedWebhookSettings(BaseSettings):
    """Where and how ``ces-stream feed-webhook`` delivers ``ces.high-effort-answers``."""

    feed_webhook_url: SecretStr | None = Field(
        None,
        description="Where `ces-stream feed-webhook` POSTs each high-effort answer (http or https; for the slack "
        "format a Slack incoming-webhook URL). A secret: never logged or printed. Unset: the command refuses to start.",
    )
    feed_webhook_format: FeedFormat = Field(
        "slack",
        description="Body of each POST: slack (Slack incoming-webhook JSON: text and blocks) or json (the "
        "HighEffortAnswer record itself).",
    )
    feed_webhook_rate_per_goal_per_minute: float = Field(
        20.0,
        ge=0,
        description="Most POSTs per goal and minute, with a burst of as many (a token bucket per goal; 0: no limit). "
        "A goal over its rate waits for its next token: nothing is dropped, and later records of its partition wait too.",
    )
    feed_webhook_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="HTTP timeout of one POST (to connect, and for each read); a timeout is retried.",
    )
    feed_webhook_give_up_seconds: float = Field(
        86400.0,
        gt=0,
        description="A record the webhook keeps failing (connection errors, timeouts, 5xx, 408, 429) for this long "
        "after its first attempt is dead-lettered as delivery_timed_out; until then it is retried.",
    )
    feed_webhook_backoff_initial_seconds: float = Field(
        1.0, gt=0, description="Wait before the first retry of a failed POST; it doubles per failure (with jitter)."
    )
    feed_webhook_backoff_max_seconds: float = Field(
        60.0,
        gt=0,
        description="Longest wait between two attempts of one record (a Retry-After of the webhook counts instead).",
    )
    feed_webhook_metrics_port: int = Field(
        6067, ge=1, le=65535, description="Port of the feed webhook's /metrics and /health (bound to CES_WEB_HOST)."
    )

    @field_validator("feed_webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the URL: it is a secret.
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL with a host")
        return value
