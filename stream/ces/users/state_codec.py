"""The stored form of a user state, formats 2 and 3: msgpack with ids, strings and times made compact.

A stored state is read once and written once per batch per touched user, and the users'
changelog holds one per user, so its size is what a user costs (issue 19: at most 200 bytes,
key included). The JSON form (format 1) spends most of that on two UUIDs as text, repeated
ids and slugs, and times as 18-digit decimals.

Layout: a format byte (:data:`FORMAT_2`, a control character: JSON never starts with one, so a
reader tells the formats apart by the first byte), a flags byte (:data:`HAS_DEADLINES`, read
without decoding), then one msgpack array: the state's parts by position (see
``UserState.to_bytes``), each record the positional list of its JSON form. Two kinds of value
are written compactly, each only where it reads back exactly:

- text (ids, slugs, enum values): an int is a reference to a string met earlier in the same
  state or to one of :data:`KNOWN`; a 16-byte bin is a canonical (lower-case) UUID; anything
  else is the string itself. A string written in full (as text or as a UUID) joins the table in
  the order it is written, so the reader builds the same table by reading in the same order.
- times: an int is milliseconds from the state's base time (the first such time written,
  stored in slot 0): Kafka record times and most event times are whole milliseconds. Any other
  time is the float itself (msgpack keeps int and float apart).

Because every reference depends on the strings before it, a reader refuses a record longer
than it knows (it could not tell how many strings the unknown part added): a new field needs
a new format version.

Format 3 (:data:`FORMAT_3`) is format 2 whose prompt records may carry one more trailing
element, the app version of the goal event (issue 23). A state is written as format 3 only
when one of its records does (:meth:`Encoder.require`), so a state of a user whose app sends
no version is format 2, as before; a version that reads only format 2 refuses a format-3 state
by its first byte (``CES_USER_STATE_FORMAT=json`` during a rolling upgrade: docs/operations.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]

#: The first byte of format 2. Format 1 is JSON (its first byte is ``{``).
FORMAT_2 = 2
#: The first byte of format 3: format 2 with the prompt records' app version.
FORMAT_3 = 3
_COMPACT_FORMAT_BYTES = (bytes((FORMAT_2,)), bytes((FORMAT_3,)))

#: Flag: the state has an open goal that infers abandonment (a deadline to index).
HAS_DEADLINES = 0x01
_KNOWN_FLAGS = HAS_DEADLINES

#: Strings every state may refer to by index without writing them once: the values of the
#: enums the records hold (surveys, outcomes, scales, channels, sentiments, suppression
#: reasons, effort groups). Part of format 2: never reorder or extend it (a new value is
#: simply written in full); another table needs another format version.
KNOWN: tuple[str, ...] = (
    "",
    "ces",
    "csat",
    "nps",
    "completed",
    "abandoned",
    "abandoned_inferred",
    "five_point",
    "seven_point",
    "five_point_inverted",
    "ten_point",
    "emoticon",
    "zero_to_ten",
    "yes_no",
    "web",
    "ios",
    "android",
    "other",
    "positive",
    "neutral",
    "negative",
    "user_cooldown",
    "user_goal_cooldown",
    "not_sampled",
    "open_prompt",
    "duplicate_event",
    "too_old",
    "goal_disabled",
    "trigger_disabled",
    "no_recipient",
    "dismissal_cooldown",
    "survey_budget",
    "nps_asked",
    "high_effort",
    "rest",
)
_KNOWN_REFS = {text: index for index, text in enumerate(KNOWN)}

# Times as milliseconds only within this many seconds of 1970 (about 300 000 years): keeps
# the millisecond count and the deltas in msgpack's 64-bit ints, and leaves out inf and NaN.
_MS_RANGE_S = 1e13


# One packer for the process (msgpack.packb makes one per call): its pack() runs in C without
# calling back into Python for these types, so no other thread can interleave with it.
_packer = msgpack.Packer()


def _uuid_text(raw: bytes) -> str:
    """The canonical text of a 16-byte UUID: lower-case hex in groups of 8-4-4-4-12."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_bytes(text: str) -> bytes | None:
    """The 16 bytes of a canonical UUID text of 36 characters, ``None`` for any other (it is kept as text)."""
    if not text[8] == text[13] == text[18] == text[23] == "-" or text != text.lower():
        return None
    try:
        raw = bytes.fromhex(text.replace("-", ""))
    except ValueError:
        return None
    # 16 bytes from 32 characters: all hex digits (fromhex skips spaces, and a fifth dash leaves 31).
    return raw if len(raw) == 16 else None


class Encoder:
    """Writes one state's texts and times compactly (one encoder per state: it holds its table)."""

    __slots__ = ("base_ms", "format", "refs")

    def __init__(self) -> None:
        self.base_ms: int | None = None
        self.refs: dict[str, int] = _KNOWN_REFS.copy()
        self.format = FORMAT_2

    def require(self, format_version: int) -> None:
        """A record needs a newer format than format 2 (an element older readers do not know)."""
        self.format = max(self.format, format_version)

    def text(self, text: str) -> int | bytes | str:
        refs = self.refs
        ref = refs.get(text)
        if ref is not None:
            return ref
        refs[text] = len(refs)
        if len(text) == 36:  # the length of a UUID: worth the full test
            return _uuid_bytes(text) or text
        return text

    def opt_text(self, text: str | None) -> int | bytes | str | None:
        return None if text is None else self.text(text)

    def time(self, at_s: float) -> int | float:
        if -_MS_RANGE_S < at_s < _MS_RANGE_S:
            ms = round(at_s * 1000)
            # Whole milliseconds only if the division gives back this very float; -0.0 stays a float.
            if ms / 1000 == at_s and (ms or math.copysign(1.0, at_s) > 0):
                if self.base_ms is None:
                    self.base_ms = ms
                return ms - self.base_ms
        return float(at_s)

    def opt_time(self, at_s: float | None) -> int | float | None:
        return None if at_s is None else self.time(at_s)

    def pack(self, flags: int, slots: list[Any]) -> bytes:
        """The stored bytes of a state's slots (slot 0, the base time, is filled in here)."""
        slots[0] = self.base_ms
        while slots and slots[-1] is None:  # parts left out at the end cost nothing
            slots.pop()
        packed: bytes = _packer.pack(slots)
        return bytes((self.format, flags)) + packed


class Decoder:
    """Reads what an :class:`Encoder` wrote, texts and times in the same order."""

    __slots__ = ("base_ms", "table")

    def __init__(self, base_ms: Any) -> None:
        if base_ms is not None and type(base_ms) is not int:
            raise ValueError(f"base time {base_ms!r} is not an int")
        self.base_ms: int | None = base_ms
        self.table: list[str] = list(KNOWN)

    def text(self, value: Any) -> str:
        kind = type(value)
        if kind is int:
            if value < 0:
                raise ValueError(f"text reference {value} is negative")
            known: str = self.table[value]
            return known
        if kind is str:
            text: str = value
        elif kind is bytes and len(value) == 16:
            text = _uuid_text(value)
        else:
            raise ValueError(f"{value!r} is not a text")
        self.table.append(text)
        return text

    def opt_text(self, value: Any) -> str | None:
        return None if value is None else self.text(value)

    def time(self, value: Any) -> float:
        kind = type(value)
        if kind is int:
            if self.base_ms is None:
                raise ValueError("a time in milliseconds without a base time")
            ms: int = self.base_ms + value
            return ms / 1000
        if kind is float:
            return float(value)
        raise ValueError(f"{value!r} is not a time")

    def opt_time(self, value: Any) -> float | None:
        return None if value is None else self.time(value)


def record(value: Any, required: int, optional: int = 0) -> list[Any]:
    """A record's list, checked for its length (longer is refused: see the module docstring)."""
    if type(value) is not list or not required <= len(value) <= required + optional:
        raise ValueError(f"expected a list of {required} to {required + optional} elements, not {value!r}")
    return value


def pairs(value: Any) -> Iterator[tuple[Any, Any]]:
    """The entries of a dict written as one flat list ``[key, value, key, value, ...]``."""
    if value is None:
        return iter(())
    if type(value) is not list or len(value) % 2:
        raise ValueError(f"expected a list of keys and values, not {value!r}")
    entries = iter(value)
    return zip(entries, entries, strict=True)


def is_compact(data: bytes) -> bool:
    """Whether stored bytes are format 2 or 3 (not JSON, format 1)."""
    return data[:1] in _COMPACT_FORMAT_BYTES


def unpack(data: bytes) -> tuple[int, list[Any]]:
    """The flags and the slots of format-2 or format-3 bytes.

    :raises ValueError: on bytes that are not such a state.
    """
    if len(data) < 3:
        raise ValueError(f"user state of {len(data)} bytes is truncated")
    flags = data[1]
    if flags & ~_KNOWN_FLAGS:
        raise ValueError(f"user state flags {flags:#04x} are not supported")
    try:
        # No maps and no extension types in format 2: refused by the unpacker itself.
        slots = msgpack.unpackb(memoryview(data)[2:], max_map_len=0, max_ext_len=0)
    except Exception as exc:  # msgpack documents no narrower class for all its errors
        raise ValueError(f"malformed user state: {exc!r}") from exc
    if type(slots) is not list:
        raise ValueError("malformed user state: not a list of slots")
    return flags, slots
