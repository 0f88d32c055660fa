"""The settings of ``ces-stream gateway``: a base class of :class:`stream.settings.Settings`.

Kept apart so the one settings class stays within the module size limit; the fields are read,
masked and tabulated with every other setting (``CES_GATEWAY_*``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

#: The shortest token secret accepted: 32 characters (a random 256-bit secret as hex has 64).
MIN_SECRET_CHARS = 32


def _split_origins(value: Any) -> Any:
    """Accept ``"https://a.example,https://b.example"`` from the environment as well as a list."""
    if isinstance(value, str):
        return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
    return value


OriginTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_origins)]


class GatewaySettings(BaseSettings):
    """How ``ces-stream gateway`` serves apps without a Kafka client (docs/gateway.md)."""

    gateway_host: str = Field("0.0.0.0", description="Bind address of the gateway's API (CES_GATEWAY_PORT).")
    gateway_port: int = Field(
        6068, ge=1, le=65535, description="Port of the gateway's API: the POST endpoints, the prompt stream, /health."
    )
    gateway_metrics_port: int = Field(
        6069,
        ge=1,
        le=65535,
        description="Port of the gateway's /metrics and /health (bound to CES_WEB_HOST; keep it off the internet).",
    )
    gateway_token_secret: SecretStr | None = Field(
        None,
        description="The HMAC-SHA256 secret the apps' backends sign user tokens with (at least 32 characters). A "
        "secret: never logged or printed. Unset: `ces-stream gateway` refuses to start.",
    )
    gateway_previous_token_secret: SecretStr | None = Field(
        None,
        description="During a rotation of CES_GATEWAY_TOKEN_SECRET: the old secret, whose tokens stay valid until "
        "they expire (a secret).",
    )
    gateway_token_max_ttl_seconds: float = Field(
        86400.0,
        gt=0,
        description="A token that expires further ahead than this is refused: the gateway accepts short-lived tokens only.",
    )
    gateway_api_key: SecretStr | None = Field(
        None,
        description="A key for server-to-server POSTs (Authorization: Bearer <key>) that may post for any user; "
        "unset: only user tokens (a secret, at least 32 characters).",
    )
    gateway_max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=16_777_216,
        description="Largest request body the gateway reads; a larger one is answered 413 unread.",
    )
    gateway_max_batch_items: int = Field(
        500, ge=1, le=10_000, description="Most items of one batch (a JSON array); more are answered 413."
    )
    gateway_cors_origins: OriginTuple = Field(
        (),
        description="Web origins allowed to call the gateway from a browser (CORS), comma separated, e.g. "
        "https://www.example.nl; * allows any. Unset: none.",
    )
    gateway_produce_timeout_seconds: float = Field(
        5.0,
        ge=1,
        le=120,
        description="How long a POST waits for the broker to acknowledge its records before the gateway answers "
        "503 (the producer gives them up at the same moment, so a 503 means not accepted).",
    )
    gateway_retry_after_seconds: int = Field(
        5, ge=1, le=3600, description="The Retry-After of a 503 (broker unavailable, or too many streams)."
    )
    gateway_dedupe_ids: int = Field(
        100_000,
        ge=0,
        description="Event and answer ids the gateway remembers to answer a repeated POST 'duplicate' without "
        "producing it again (0: none; the workers de-duplicate anyway).",
    )
    gateway_dedupe_seconds: float = Field(
        600.0, gt=0, description="How long the gateway remembers an accepted event or answer id."
    )
    gateway_heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="A comment line on every open prompt stream this often, against idle timeouts."
    )
    gateway_long_poll_max_seconds: float = Field(
        30.0, gt=0, le=300, description="Longest wait of one long-poll request (its wait parameter is capped at this)."
    )
    gateway_replay_seconds: float | None = Field(
        None,
        gt=0,
        description="How far back the gateway reads the prompts topic when it starts, so a stream that resumes "
        "after a gateway restart misses nothing. Unset: the longest prompt expiry of the goal registry.",
    )
    gateway_buffer_prompts_per_user: int = Field(
        20,
        ge=1,
        le=1000,
        description="Unexpired prompts the gateway keeps per user for a resume (the oldest go first).",
    )
    gateway_buffer_prompts: int = Field(
        100_000,
        ge=1,
        description="Unexpired prompts the gateway keeps in all (about 1 KB each); over it, the ones closest to "
        "expiry go first. Size it at the prompts per second times the replay window.",
    )
    gateway_max_streams: int = Field(
        20_000, ge=1, description="Most open prompt streams and waiting long-polls of one gateway; more get 503."
    )
    gateway_max_streams_per_user: int = Field(
        8,
        ge=1,
        le=1000,
        description="Most open prompt streams and waiting long-polls of one user (tabs); more get 429.",
    )
    gateway_demo: bool = Field(
        False,
        description="Serve the demo page of the `<ces-prompt>` element at /demo, which mints a user token for any "
        "`?user=` it is asked for: for trials only, never where real users' data flows.",
    )

    @field_validator("gateway_token_secret", "gateway_previous_token_secret", "gateway_api_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: it is a secret.
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("gateway_cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin such as https://www.example.nl (or *)")
        return value
