"""Prompts as the gateway delivers them: read from the prompts topic, named by their record's position.

Every prompt gets the event id ``<partition>-<offset>`` of its record on the prompts topic: the
same at every gateway instance, so a stream that reconnects to another instance resumes after
the id it saw last (``Last-Event-ID``). A user's prompts are keyed by the user id, so they share
one partition and their offsets order them.

The gateway also reads the answers and prompt events topics for one thing only: a prompt the
user answered, or that the app showed or the user dismissed, is *closed*, and a new stream does
not bring it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

_EVENT_ID = re.compile(r"^(\d{1,9})-(\d{1,19})$")


@dataclass(frozen=True, slots=True, order=True)
class EventId:
    """A prompt's position on the prompts topic, its id on the stream (``3-1742``)."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}-{self.offset}"

    def precedes(self, other: EventId) -> bool:
        """Whether a client that saw ``self`` has seen ``other`` too.

        On one partition, offsets order the records. A user's prompts only change partition when
        the topic gets more partitions; then the other partition's prompts count as unseen (an
        app shows a ``prompt_id`` at most once).
        """
        return self.partition == other.partition and other.offset <= self.offset


def parse_event_id(text: str) -> EventId:
    """The event id of ``text`` (``<partition>-<offset>``).

    :raises ValueError: for anything else.
    """
    found = _EVENT_ID.match(text.strip())
    if found is None:
        raise ValueError("an event id is <partition>-<offset>, as the stream's id: lines give it")
    return EventId(int(found.group(1)), int(found.group(2)))


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """One prompt to deliver: its id, whom it is for, its identity and times, and its JSON unchanged."""

    event_id: EventId
    user_id: str
    prompt_id: str
    created_s: float
    expires_s: float
    data: bytes
    """The SurveyPrompt JSON exactly as on the topic (one line: the workers write it compact)."""


@dataclass(frozen=True, slots=True)
class Closure:
    """A prompt the user answered, or that was shown or dismissed: a new stream does not bring it again."""

    user_id: str
    prompt_id: str


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _object(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def read_prompt(partition: int, offset: int, value: bytes | None) -> PromptRecord | None:
    """The prompt of one record of the prompts topic, or None when it is not one the gateway can deliver.

    The workers write valid SurveyPrompts; only what delivery needs is read (``user_id``,
    ``prompt_id``, ``created_at``, ``expires_at``), and the JSON is passed on as it is.
    """
    document = _object(value)
    if document is None or value is None:
        return None
    user_id, prompt_id = document.get("user_id"), document.get("prompt_id")
    created_s, expires_s = _timestamp(document.get("created_at")), _timestamp(document.get("expires_at"))
    if not isinstance(user_id, str) or not user_id or not isinstance(prompt_id, str) or not prompt_id:
        return None
    if created_s is None or expires_s is None:
        return None
    data = value if b"\n" not in value and b"\r" not in value else orjson.dumps(document)
    return PromptRecord(EventId(partition, offset), user_id, prompt_id, created_s, expires_s, data)


def read_closure(value: bytes | None) -> Closure | None:
    """The prompt an answer or prompt event closes, or None (a record without user and prompt is ignored).

    Closing is only a hint to new streams: the records are not validated further (the workers do that).
    """
    document = _object(value)
    if document is None:
        return None
    user_id, prompt_id = document.get("user_id"), document.get("prompt_id")
    if not isinstance(user_id, str) or not user_id or not isinstance(prompt_id, str) or not prompt_id:
        return None
    return Closure(user_id, prompt_id)


RETRY_MS = 2000
"""How long a browser's EventSource waits before it reconnects (the ``retry:`` field of a stream's start)."""
HEARTBEAT = b": keepalive\n\n"
"""A comment line: keeps proxies and load balancers from closing an idle stream."""


def stream_preamble() -> bytes:
    """The first bytes of every prompt stream: the reconnect delay and a comment (flushes the headers through proxies)."""
    return f"retry: {RETRY_MS}\n: ces-stream prompts\n\n".encode()


def sse_prompt(prompt: PromptRecord) -> bytes:
    """One prompt as a Server-Sent Event: ``id``, ``event: prompt`` and the SurveyPrompt JSON as ``data``."""
    return b"id: " + str(prompt.event_id).encode() + b"\nevent: prompt\ndata: " + prompt.data + b"\n\n"


def sse_event(name: str, data: bytes) -> bytes:
    """Another event of the stream (``expired``: the token ran out; the stream ends after it)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
