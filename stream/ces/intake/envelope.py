"""The internal record format of ``<app_id>-user-events``: a small header line, then the payload.

Inputs are re-keyed by pseudonymous user through this topic (so joins never
depend on the producing app's partitioner). The header keeps the source
coordinates so a later rejection can still dead-letter the original bytes; the
payload is the original record value, unchanged.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum

import orjson


class EnvelopeKind(StrEnum):
    goal_event = "g"
    answer = "a"
    # A prompt shown or dismissed (``schemas.PromptEvent``).
    prompt_event = "d"
    # Emitted by the worker's own timer: an open goal's inferred-abandonment deadline passed.
    expiry = "x"
    # An erasure request (``schemas.ErasureRequest``), its payload without the raw user id:
    # keyed by the pseudonym, it is ordered with the user's own events.
    erasure = "e"


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: EnvelopeKind
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None
    payload: bytes
    #: The source record's Kafka timestamp (epoch seconds): orders a user's records across input
    #: topics against an erasure. None in records written before it was added, and in expiry records.
    source_timestamp: float | None = None

    def encode(self) -> bytes:
        header: dict[str, object] = {
            "k": self.kind.value,
            "t": self.source_topic,
            "p": self.source_partition,
            "o": self.source_offset,
            "key": None if self.source_key is None else base64.b64encode(self.source_key).decode(),
        }
        if self.source_timestamp is not None:
            header["ts"] = self.source_timestamp
        return orjson.dumps(header) + b"\n" + self.payload

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        header_bytes, _, payload = data.partition(b"\n")
        header = orjson.loads(header_bytes)
        key = header.get("key")
        return cls(
            kind=EnvelopeKind(header["k"]),
            source_topic=header["t"],
            source_partition=header["p"],
            source_offset=header["o"],
            source_key=None if key is None else base64.b64decode(key),
            payload=payload,
            source_timestamp=header.get("ts"),
        )


# The raw user id is never stored in state. An inferred abandonment that falls due after a
# restart therefore has no address for its prompt in memory; the ``started`` event that
# opened the goal still has it, at the offset the open goal records.
def user_id_from_record(key: bytes | None, value: bytes | None, user_ref: str, event_id: str) -> str | None:
    """The raw user id in a re-keyed ``started`` event, if the record is that event of that user.

    :param key: the record key (the pseudonymous user reference).
    :param value: the record value (an envelope around the original goal event).
    :param user_ref: whose event it must be.
    :param event_id: which event it must be (the open goal's).
    :returns: the user id, or None when the record is anything else.
    """
    if key != user_ref.encode() or value is None:
        return None
    try:
        envelope = Envelope.decode(value)
        if envelope.kind is not EnvelopeKind.goal_event:
            return None
        event = json.loads(envelope.payload)
    except (ValueError, KeyError):
        return None
    if not isinstance(event, dict) or event.get("event_id") != event_id:
        return None
    user_id = event.get("user_id")
    return user_id if isinstance(user_id, str) and user_id else None
