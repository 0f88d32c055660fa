"""What the consumer knows of each partition's offsets: lag, and whether the group's commits move."""

from __future__ import annotations

from typing import cast

from faust.transport.consumer import Consumer
from faust.types import ConsumerT


def partition_offsets(consumer: ConsumerT, topics: set[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """``(next offset to read after the commit, high-water mark)`` of every owned partition of ``topics``.

    Measured from the commit, as Kafka's own tools do: records read but never committed
    (a stuck partition) count as waiting, not as done. Reads Faust internals (checked
    against faust-streaming 0.15.3): the committed offset (the next to read), else the
    last offset handed to a stream. Partitions whose high-water mark is not known yet
    (nothing fetched) are left out.
    """
    internals = cast(Consumer, consumer)  # the offsets Faust keeps are the base class's
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # not fetched yet
            continue
        if highwater is None:
            continue
        committed = internals._committed_offset.get(tp)  # checked: faust-streaming 0.15.3
        read = internals._read_offset.get(tp)
        next_offset = committed if committed is not None else (read + 1 if read is not None else 0)
        out[(tp.topic, tp.partition)] = (next_offset, highwater)
    return out


def consumer_lag(offsets: dict[tuple[str, int], tuple[int, int]], topics: set[str]) -> dict[str, int]:
    """Lag per topic (0 for a topic with no owned partition) from :func:`partition_offsets`."""
    lag: dict[str, int] = dict.fromkeys(topics, 0)
    for (topic, _partition), (next_offset, highwater) in offsets.items():
        if topic in lag:
            lag[topic] += max(0, highwater - next_offset)
    return lag
