"""Offset continuity: a stage sees every offset of a partition it reads, in order.

Kafka offsets of a partition are consecutive, with three legitimate exceptions: a
transactional producer's commit and abort markers take an offset each and are never
delivered; compaction removes records; retention removes the oldest ones. Any other
hole between two records a stage receives means the consumer skipped records, and
Faust would then commit past them (issue 9: a dropped first fetch on a partition with
no committed offset). :class:`OffsetContinuity` spots such holes; the stage glue reads
the hole back from the broker (nothing there: legitimate; records there: they were
skipped and are processed now) before it acks anything past it.

Pure bookkeeping: no Kafka, Faust or Prometheus import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gap:
    """Offsets ``start`` up to (not including) ``end`` of a partition were not received."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class OffsetContinuity:
    """The next offset a stage expects per topic partition, and the holes it finds.

    A partition's expectation starts at the position its reading starts from (the
    committed offset, 0 when nothing was committed). A record below the expectation
    is a replay (a seek back to the committed offset): allowed, it changes nothing.
    A record above it leaves a :class:`Gap` the caller must settle before it acks
    that record.
    """

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}

    def knows(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self._next

    def start_at(self, topic: str, partition: int, offset: int) -> None:
        """Reading of this partition (re)starts at ``offset`` (after an assignment and seek)."""
        self._next[(topic, partition)] = max(0, offset)

    def observe(self, topic: str, partition: int, offset: int) -> Gap | None:
        """Record that ``offset`` arrived; the hole before it, if there is one.

        The expectation moves past ``offset`` either way: the caller settles the gap
        (reads it back and processes what it holds) before acking ``offset``.
        """
        key = (topic, partition)
        expected = self._next.get(key, offset)
        if offset >= expected:
            self._next[key] = offset + 1
        return Gap(topic, partition, expected, offset) if offset > expected else None

    def forget(self) -> None:
        """Drop every expectation (the assignment changed; positions come from new seeks)."""
        self._next.clear()
