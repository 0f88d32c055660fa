"""What the consumer knows of each partition's offsets: lag, and whether the group's commits move."""

from __future__ import annotations

from typing import Any


def consumer_lag(consumer: Any, topics: set[str]) -> dict[str, int]:
    """Lag of the partitions a consumer owns, per topic: high-water mark minus committed offset.

    Measured from the commit, as Kafka's own tools do: records read but never committed
    (a stuck partition) count as lag, not as done. Reads Faust internals (checked against
    faust-streaming 0.15.3): the committed offset (the next to read), else the last
    offset handed to a stream.
    """
    lag: dict[str, int] = dict.fromkeys(topics, 0)
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # not fetched yet
            continue
        if highwater is None:
            continue
        committed = consumer._committed_offset.get(tp)  # checked: faust-streaming 0.15.3
        read = consumer._read_offset.get(tp)
        next_offset = committed if committed is not None else (read + 1 if read is not None else 0)
        lag[tp.topic] += max(0, highwater - next_offset)
    return lag
