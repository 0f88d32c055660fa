"""What the stages use of Faust's objects, as Protocols: Faust's own objects fit them, and so do test fakes.

The stages read a few attributes of each event and queue their output in a sender; typing
those as Protocols (rather than Faust's broad ``EventT`` or the concrete ``BatchSender``)
lets a test drive a stage with plain objects, and lets the continuity guard hand a stage
records it read back itself. The app, topics, streams and tables are Faust's own types
(``faust.types``).
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, TypeVar

from faust.types import TableT

#: A table of bytes -> bytes (see ``stage_helpers.raw_table``).
RawTable: TypeAlias = TableT[bytes, bytes]


class Record(Protocol):
    """A consumed Kafka record, as the stages read it (Faust's ``faust.types.Message``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> float:
        """Kafka's record timestamp, in epoch seconds."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class StageEvent(Protocol):
    """One event of a stage's stream (Faust's ``EventT``, or a record the continuity guard read back)."""

    @property
    def message(self) -> Record: ...
    def ack(self) -> bool: ...


Event = TypeVar("Event", bound=StageEvent)


class Output(Protocol):
    """Where a stage queues a batch's output records and table writes (``faust_internals.BatchSender``)."""

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a record for ``topic`` (``partition=None``: by key)."""

    def put(self, table: RawTable, partition: int, key: bytes, value: bytes | None) -> None:
        """Set (``value=None``: delete) ``key`` in ``table`` and queue its changelog record on ``partition``."""


def required(value: bytes | None, what: str) -> bytes:
    """``value``, which the record's producer (our own stage) always sets; a record without it is a bug."""
    if value is None:
        raise ValueError(f"record without {what}")
    return value
