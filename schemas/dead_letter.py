"""The dead letter: an input record ces-stream could not use, with the reason and the original bytes."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, NonNegativeInt, StringConstraints

from schemas.common import OutputModel, Timestamp

MAX_DETAIL_CHARS = 2000
"""Longest ``detail`` text; `DeadLetter.from_record` shortens longer ones."""
MAX_ORIGINAL_BYTES = 262_144
"""Most bytes of a record value a dead letter keeps (256 KiB); a larger value is cut, flagged and sized.

Its base64 (about 350 KB) and a key cut the same way keep the dead letter well inside Kafka's
default 1 MB record limit, so even a record that fills the broker's limit is dead-lettered."""
MAX_KEY_BYTES = 65_536
"""Most bytes of a record key a dead letter keeps (64 KiB); a larger key is cut and flagged."""

# Standard base64 (RFC 4648 section 4) with padding, as `base64.b64encode` writes it.
_BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
Base64Text = Annotated[
    str,
    StringConstraints(pattern=_BASE64_PATTERN),
    Field(json_schema_extra={"contentEncoding": "base64"}),
]
"""Bytes as standard padded base64 text."""

TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
"""A legal Kafka topic name."""


class DeadLetterReason(StrEnum):
    """Why an input record was not used."""

    not_json = "not_json"
    """The value is not a JSON document (or not UTF-8)."""
    schema_violation = "schema_violation"
    """Valid JSON that breaks the contract (missing/mistyped field, newer schema_version, goal mix-up)."""
    unknown_goal = "unknown_goal"
    """The goal is not in the goal registry."""
    score_out_of_range = "score_out_of_range"
    """The score is not a point of the prompt's scale."""
    unknown_prompt = "unknown_prompt"
    """No prompt with this id was sent to this user (or it was forgotten long ago)."""
    duplicate = "duplicate"
    """The same event or a second answer to one prompt arrived again."""
    future_timestamp = "future_timestamp"
    """The event time lies too far in the future."""
    too_late = "too_late"
    """The event time lies before every window still open (beyond the grace period)."""
    oversize = "oversize"
    """The record is larger than ces-stream accepts."""
    expired_prompt = "expired_prompt"
    """The answer or prompt event came after the prompt expired."""
    no_score = "no_score"
    """A comment-only answer record (schema_version 2) for a prompt that has no score yet: send the score first."""
    processing_error = "processing_error"
    """ces-stream failed on this record (a bug): it is kept here instead of stopping the worker."""
    undeliverable = "undeliverable"
    """The feed webhook refused the record for good (an HTTP status other than 2xx, 408, 429 and 5xx)."""
    delivery_timed_out = "delivery_timed_out"
    """The feed webhook kept failing (connection errors, timeouts, 5xx, 408, 429) until the give-up time."""


class DeadLetter(OutputModel):
    """An input record that was not used, with enough context to find, inspect and replay it.

    Topic ``ces.dead-letter``, produced by ces-stream, keyed by the source topic.
    """

    reason: DeadLetterReason
    """Why the record was not used."""
    detail: Annotated[str, StringConstraints(max_length=MAX_DETAIL_CHARS)]
    """Human-readable explanation, e.g. the locations and messages of the validation errors."""
    source_topic: TopicName
    """Topic the record was read from."""
    source_partition: NonNegativeInt
    """Partition the record was read from."""
    source_offset: NonNegativeInt
    """Offset of the record in that partition."""
    source_key: Base64Text | None
    """The record's key bytes, base64; null when the record had no key."""
    original: Base64Text
    """The record's value bytes, base64, exactly as received (their first `MAX_ORIGINAL_BYTES` when cut)."""
    original_size: NonNegativeInt | None = None
    """Length of the record's value in bytes, also when ``original`` holds only its beginning."""
    truncated: bool = False
    """True when ``original`` (beyond `MAX_ORIGINAL_BYTES`) or ``source_key`` (beyond `MAX_KEY_BYTES`) holds only the beginning."""
    received_at: Timestamp
    """When ces-stream read the record."""

    @classmethod
    def from_record(
        cls,
        *,
        reason: DeadLetterReason,
        detail: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes,
        received_at: datetime,
    ) -> DeadLetter:
        """Build the dead letter for one consumed record.

        :param reason: why the record is not used.
        :param detail: explanation; cut to `MAX_DETAIL_CHARS` (ending in "...") when longer.
        :param topic: source topic.
        :param partition: source partition.
        :param offset: source offset.
        :param key: the record key bytes, or None; cut to `MAX_KEY_BYTES` (flagged ``truncated``).
        :param value: the record value bytes, any content; cut to `MAX_ORIGINAL_BYTES` (flagged ``truncated``).
        :param received_at: timezone-aware time the record was read.
        :returns: the dead letter.
        """
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
        truncated = len(value) > MAX_ORIGINAL_BYTES or (key is not None and len(key) > MAX_KEY_BYTES)
        size = len(value)
        value, key = value[:MAX_ORIGINAL_BYTES], None if key is None else key[:MAX_KEY_BYTES]
        return cls(
            reason=reason,
            detail=detail,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            source_key=None if key is None else base64.b64encode(key).decode("ascii"),
            original=base64.b64encode(value).decode("ascii"),
            original_size=size,
            truncated=truncated,
            received_at=received_at,
        )

    def original_bytes(self) -> bytes:
        """Return the original record value.

        :returns: the bytes that were received, unchanged (their beginning when ``truncated``).
        """
        return base64.b64decode(self.original, validate=True)

    def source_key_bytes(self) -> bytes | None:
        """Return the original record key.

        :returns: the key bytes, or None when the record had no key.
        """
        return None if self.source_key is None else base64.b64decode(self.source_key, validate=True)

    def kafka_key(self) -> str:
        """Return the record key for ``ces.dead-letter``: the source topic.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.source_topic
