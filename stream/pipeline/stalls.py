"""Which partitions are stalled: records wait, and the group's committed offset does not move.

Pure bookkeeping, fed every health check with what the consumer knows per partition.
"""

from __future__ import annotations

from collections.abc import Mapping

Partition = tuple[str, int]


class StallDetector:
    """Remembers, per partition, since when its committed offset has stood still with records waiting.

    :param stall_s: how long that may last before the partition counts as stalled.
    """

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._standing: dict[Partition, tuple[int, float]] = {}

    def observe(self, now_s: float, offsets: Mapping[Partition, tuple[int, int]]) -> set[Partition]:
        """The stalled partitions, given ``(next offset to commit from, high-water mark)`` per owned partition.

        A partition with nothing waiting is never stalled and starts afresh; one no longer
        owned is forgotten (a partition that comes back starts afresh too).
        """
        standing: dict[Partition, tuple[int, float]] = {}
        stalled = set()
        for tp, (committed, highwater) in offsets.items():
            if highwater <= committed:
                continue
            before = self._standing.get(tp)
            since = before[1] if before is not None and before[0] == committed else now_s
            standing[tp] = (committed, since)
            if now_s - since >= self.stall_s:
                stalled.add(tp)
        self._standing = standing
        return stalled

    def forget(self) -> None:
        """Start afresh: after a rebalance the positions are new."""
        self._standing = {}
