"""Small helpers the stages share that need only Faust's public API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any


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
