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


class EnvelopeKind(StrEnum):
    goal_event = "g"
    answer = "a"
    # Emitted by the worker's own timer: an open goal's inferred-abandonment deadline passed.
    expiry = "x"


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: EnvelopeKind
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None
    payload: bytes

    def encode(self) -> bytes:
        header = {
            "k": self.kind.value,
            "t": self.source_topic,
            "p": self.source_partition,
            "o": self.source_offset,
            "key": None if self.source_key is None else base64.b64encode(self.source_key).decode(),
        }
        return json.dumps(header, separators=(",", ":")).encode() + b"\n" + self.payload

    @classmethod
    def decode(cls, data: bytes) -> "Envelope":
        header_bytes, _, payload = data.partition(b"\n")
        header = json.loads(header_bytes)
        key = header.get("key")
        return cls(
            kind=EnvelopeKind(header["k"]),
            source_topic=header["t"],
            source_partition=header["p"],
            source_offset=header["o"],
            source_key=None if key is None else base64.b64decode(key),
            payload=payload,
        )
