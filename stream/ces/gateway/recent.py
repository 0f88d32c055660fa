"""The ids of recently accepted events and answers: a repeated POST is answered without producing it again.

Bounded in number and in age. Only an optimisation for clients that retry: the workers
de-duplicate on the same ids, so a repeat the gateway forgot is still counted once.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """At most ``max_ids`` keys, each for at most ``ttl_s`` seconds after it was added (0 keys: remembers nothing)."""

    def __init__(self, max_ids: int, ttl_s: float) -> None:
        self.max_ids = max_ids
        self.ttl_s = ttl_s
        self._added: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._added)

    def __contains__(self, key: object) -> bool:
        return key in self._added

    def seen(self, key: str, now_s: float) -> bool:
        """Whether ``key`` was added less than ``ttl_s`` ago."""
        self._trim(now_s)
        return key in self._added

    def add(self, key: str, now_s: float) -> None:
        """Remember ``key`` from now on (the oldest keys go when the bound is reached)."""
        if self.max_ids <= 0:
            return
        self._added[key] = now_s
        self._added.move_to_end(key)
        while len(self._added) > self.max_ids:
            self._added.popitem(last=False)
        self._trim(now_s)

    def _trim(self, now_s: float) -> None:
        horizon = now_s - self.ttl_s
        while self._added:
            oldest_key, added_s = next(iter(self._added.items()))
            if added_s > horizon:
                return
            del self._added[oldest_key]
