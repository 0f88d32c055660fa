"""The small pieces of Faust plumbing the stages share (Faust internals live only here).

Pinned against faust-streaming 0.15.x: table writes find their changelog partition
through the "current event" context variable that stream iteration sets
(``faust.streams._current_event``). Our stages write once per batch, and timers
write with no event at all, so they name the partition explicitly instead.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from faust.streams import _current_event


class _PartitionMarker:
    """Stands in for an event: table writes read only ``message.topic`` and ``message.partition``."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


@contextmanager
def writing_to_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside this block go to changelog partition ``partition``.

    :param topic: the source topic the table is co-partitioned with.
    """
    marker = _PartitionMarker(topic, partition)
    token = _current_event.set(weakref.ref(marker))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


def by_partition(events: Sequence[Any]) -> dict[int, list[Any]]:
    """A batch of events grouped by partition, each group in offset order."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        groups[event.message.partition].append(event)
    return groups


def owned_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker actively consumes (never standbys)."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


def raw_table(app: Any, name: str, partitions: int) -> Any:
    """A table of bytes -> bytes whose changelog holds exactly those bytes.

    Faust picks a table's serializers from its key/value *types* and falls back to
    JSON for bytes; our values are already encoded, so both are set to raw.
    """
    table = app.Table(name, partitions=partitions, default=None, key_type=bytes, value_type=bytes)
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table
