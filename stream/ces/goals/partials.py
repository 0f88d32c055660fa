"""Per-source-partition pre-aggregation, and its exact merge into per-goal buckets.

Exactness under at-least-once rests on two rules:

1. **Partials skip replays.** A :class:`Partial` holds the counts that one source
   partition contributed to one ``(goal, resolution, bucket)`` together with the
   highest source offset already applied (``hwm``), in the same table record. A fact
   whose offset is ``<= hwm`` was counted before and is skipped, whatever order the
   crash left the tables in.
2. **Partials travel as absolute values.** The user stage sends the whole partial,
   not a delta; the goal stage keeps, per source partition, the one with the highest
   ``hwm`` (last writer wins by offset). Re-sending is harmless and a stale copy is
   ignored, so the merged sum equals the sum of the partials.

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stream.ces.goals.buckets import BucketCounts, Fact
from stream.ces.goals.fold import bucket_start, count_fact
from stream.ces.goals.windows import GoalBuckets


@dataclass(slots=True)
class Partial:
    """One source partition's counts for one goal bucket, and the highest offset applied."""

    hwm: int
    counts: BucketCounts

    def to_bytes(self) -> bytes:
        return encode_partial(self.hwm, self.counts.to_json_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> Partial:
        obj = orjson.loads(data)
        return cls(hwm=int(obj["h"]), counts=BucketCounts.from_json_obj(obj["c"]))


@dataclass(frozen=True, slots=True)
class PartialKey:
    """Where a partial belongs: source partition, goal, resolution and bucket start."""

    partition: int
    goal: str
    resolution_s: int
    bucket_start_s: int

    def encode(self) -> str:
        return f"{self.partition}|{self.goal}|{self.resolution_s}|{self.bucket_start_s}"

    @classmethod
    def decode(cls, text: str) -> PartialKey:
        partition, goal, resolution, start = text.split("|")
        return cls(int(partition), goal, int(resolution), int(start))


def goal_partition(goal: str, partitions: int) -> int:
    """The partition that owns ``goal`` in the goal stage (stable across processes and clients)."""
    return int.from_bytes(hashlib.sha256(goal.encode()).digest()[:4], "big") % partitions


def apply_facts(
    partials: dict[PartialKey, Partial],
    partition: int,
    facts: Iterable[tuple[int, Fact]],
    resolutions_s: Sequence[int],
) -> set[PartialKey]:
    """Apply one batch of ``(source offset, fact)`` from ``partition`` to its partials.

    ``partials`` must hold the current record of every key the batch touches (load
    them first: :func:`keys_for`); missing keys start empty. A fact is skipped when its
    offset is not above the key's hwm from before this batch; the same (offset, fact)
    twice in one batch counts once.

    :returns: the keys whose partial changed (to write back and send on).
    """
    by_key: dict[PartialKey, list[tuple[int, Fact]]] = defaultdict(list)
    for offset, fact in facts:
        for resolution in resolutions_s:
            by_key[PartialKey(partition, fact.goal, resolution, bucket_start(fact.at_s, resolution))].append(
                (offset, fact)
            )
    changed: set[PartialKey] = set()
    for key, items in by_key.items():
        partial = partials.get(key)
        if partial is None:
            partial = partials[key] = Partial(hwm=-1, counts=BucketCounts())
        applied_before = partial.hwm
        # One source record can yield several facts (an outcome and a prompt), and a
        # duplicate re-emits its original's facts: count each (offset, fact) once.
        for offset, fact in sorted(set(items), key=lambda item: item[0]):
            if offset <= applied_before:
                continue  # counted before this crash/replay
            count_fact(partial.counts, fact)
            partial.hwm = max(partial.hwm, offset)
            changed.add(key)
    return changed


def keys_for(partition: int, facts: Iterable[tuple[int, Fact]], resolutions_s: Sequence[int]) -> set[PartialKey]:
    """Every partial key a batch of facts touches."""
    return {
        PartialKey(partition, fact.goal, resolution, bucket_start(fact.at_s, resolution))
        for _, fact in facts
        for resolution in resolutions_s
    }


def encode_partial(hwm: int, counts: Any) -> bytes:
    """A partial's stored form, from its counts already as a JSON object (``BucketCounts.to_json_obj``)."""
    return orjson.dumps({"h": hwm, "c": counts})


def write_batch(items: Iterable[tuple[PartialKey, int, Any]]) -> bytes:
    """Many partials in one record, each ``(key, hwm, counts as a JSON object)``: the user stage sends one per goal
    partition per flush."""
    return orjson.dumps([[key.encode(), hwm, counts] for key, hwm, counts in items])


def read_batch(data: bytes) -> list[tuple[PartialKey, int, Any]]:
    """The partials of one :func:`write_batch` record, their counts still JSON objects.

    A reader that keeps only the newest copy of each key decodes only those counts
    (``BucketCounts.from_json_obj``): most copies in a backlog are overtaken by newer ones.
    """
    return [(PartialKey.decode(key), int(hwm), counts) for key, hwm, counts in orjson.loads(data)]


class MergedGoals:
    """The goal stage's view: per goal, the sum over source partitions of their partials."""

    def __init__(self) -> None:
        self.partials: dict[PartialKey, Partial] = {}
        self.goals: dict[str, GoalBuckets] = {}
        #: Per goal, how often its answers per release changed: what the release verdicts are read from.
        self.release_changes: dict[str, int] = {}

    def update(self, key: PartialKey, partial: Partial) -> bool:
        """Take ``partial`` unless a copy with the same or a higher hwm is already held.

        :returns: True when the merged buckets changed.
        """
        old = self.partials.get(key)
        if old is not None and old.hwm >= partial.hwm:
            return False
        delta = partial.counts.copy()
        if old is not None:
            delta.subtract(old.counts)
        self.partials[key] = partial
        buckets = self.goals.get(key.goal)
        if buckets is None:
            buckets = self.goals[key.goal] = GoalBuckets()
        buckets.apply(key.resolution_s, key.bucket_start_s, delta)
        if delta.by_release:
            self.release_changes[key.goal] = self.release_changes.get(key.goal, 0) + 1
        return True

    def forget_before(self, resolution_s: int, before_s: int) -> list[PartialKey]:
        """Drop partials of ``resolution_s`` whose bucket ends before ``before_s``.

        The merged buckets are pruned separately (:meth:`GoalBuckets.prune`).
        :returns: the dropped keys (to delete from the table).
        """
        dropped = [
            key
            for key in self.partials
            if key.resolution_s == resolution_s and key.bucket_start_s + resolution_s <= before_s
        ]
        for key in dropped:
            del self.partials[key]
        return dropped


class PartialExpiry:
    """Partial keys by the end of their bucket, so pruning touches only the keys that are due.

    A scan of every stored key would block the worker for as long as the table is big
    (goals x partitions x buckets still open to late facts).
    """

    def __init__(self) -> None:
        self._by_end: dict[int, set[PartialKey]] = defaultdict(set)

    def add(self, key: PartialKey) -> None:
        self._by_end[key.bucket_start_s + key.resolution_s].add(key)

    def pop_ended_before(self, cutoff_s: float) -> list[PartialKey]:
        """Remove and return every key whose bucket ended before ``cutoff_s``."""
        due: list[PartialKey] = []
        for end_s in [end_s for end_s in self._by_end if end_s < cutoff_s]:
            due.extend(self._by_end.pop(end_s))
        return due

    def clear(self) -> None:
        self._by_end.clear()
