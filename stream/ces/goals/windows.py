"""Sliding windows and closed periods over a goal's time buckets.

A goal keeps its counts in buckets at a few resolutions (e.g. 1 min, 5 min, 1 h). A
window such as "24h" is a sum of consecutive buckets of one resolution, chosen by
:func:`plan_windows` so that no window needs more than ``max_buckets`` of them. Windows
slide with the clock and include the current, still-open bucket; summaries are
emitted for aligned tumbling periods once they are closed by the clock
(:func:`closed_periods`), so a goal that goes quiet still sees its periods close.

Design note (speed): the per-goal snapshot (200 goals x 7 windows) is computed every
few seconds, so :meth:`GoalBuckets.window_counts` must not walk hundreds of buckets
each time. Each ``(resolution, duration)`` keeps a running sum of its *closed* buckets
for the current bucket position: :meth:`GoalBuckets.apply` adds a delta to every
running sum whose range holds the bucket (at most a handful per resolution), and when
the clock moves on by a few buckets the sum slides (add the buckets that closed,
subtract those that fell out); only a jump of more than half a window rebuilds it.
A window is then that running sum plus the open bucket: two small dict merges,
independent of the window length. Counts are plain ints, so sliding is exact.
The running sums assume a clock that does not go backwards; if it does, the sum is
rebuilt, which is correct but slower.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.durations import format_duration
from stream.ces.goals.fold import bucket_start

DEFAULT_RESOLUTIONS_S = (60, 300, 3600)
DEFAULT_MAX_BUCKETS = 1000


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A window of ``duration_s`` summed from buckets of ``resolution_s``."""

    name: str
    duration_s: int
    resolution_s: int

    def __post_init__(self) -> None:
        if type(self.duration_s) is not int or type(self.resolution_s) is not int:
            raise ValueError(f"window {self.name}: duration and resolution must be whole seconds")
        if self.resolution_s <= 0 or self.duration_s <= 0 or self.duration_s % self.resolution_s:
            raise ValueError(
                f"window {self.name}: duration {self.duration_s}s is not a positive multiple "
                f"of the resolution {self.resolution_s}s"
            )

    @property
    def bucket_count(self) -> int:
        """How many buckets the window sums."""
        return self.duration_s // self.resolution_s


def plan_windows(
    durations_s: Iterable[int],
    resolutions_s: Sequence[int] = DEFAULT_RESOLUTIONS_S,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
) -> tuple[WindowSpec, ...]:
    """Pick, for each window, the finest resolution that divides it in at most ``max_buckets``.

    :param durations_s: window lengths in seconds, in the order wanted (no duplicates).
    :param resolutions_s: the bucket widths kept per goal.
    :param max_buckets: most buckets one window may sum.
    :returns: one :class:`WindowSpec` per duration, in the given order.
    :raises ValueError: for a duplicate or non-positive duration, or a duration that no
        resolution fits; the message names the window and the resolutions tried.
    """
    resolutions = sorted(set(resolutions_s))
    if not resolutions or any(type(res) is not int or res <= 0 for res in resolutions):
        raise ValueError(f"resolutions must be positive whole seconds, got {tuple(resolutions_s)}")
    specs: list[WindowSpec] = []
    seen: set[int] = set()
    for duration in durations_s:
        if type(duration) is not int or duration <= 0:
            raise ValueError(f"window durations must be positive whole seconds, got {duration!r}")
        name = format_duration(duration)
        if duration in seen:
            raise ValueError(f"window {name} is listed twice")
        seen.add(duration)
        resolution = next(
            (res for res in resolutions if duration % res == 0 and duration // res <= max_buckets),
            None,
        )
        if resolution is None:
            raise ValueError(
                f"window {name}: no resolution in {tuple(resolutions)} (seconds) divides {duration}s "
                f"into at most {max_buckets} buckets; pick a window that is a multiple of a resolution "
                f"or add a resolution"
            )
        specs.append(WindowSpec(name, duration, resolution))
    return tuple(specs)


def retention_s_by_resolution(specs: Iterable[WindowSpec], close_delay_s: float = 0.0) -> dict[int, int]:
    """How long :meth:`GoalBuckets.prune` must keep each resolution for ``specs``.

    A window needs its duration; a closed period still has to be summed after it
    closed, up to ``close_delay_s`` later (the late-event grace plus the longest wait
    before the closer runs, e.g. one tick), plus one bucket for the open one.

    :returns: ``{resolution_s: keep_s}``, whole buckets.
    """
    keep: dict[int, int] = {}
    for spec in specs:
        res = spec.resolution_s
        need = spec.duration_s + res + math.ceil(max(0.0, close_delay_s) / res) * res
        keep[res] = max(keep.get(res, 0), need)
    return keep


def closed_periods(
    spec: WindowSpec, last_closed_end_s: int | None, now_s: float, grace_s: float
) -> list[tuple[int, int]]:
    """The aligned tumbling periods ``[k*d, (k+1)*d)`` that the clock has closed since the last one.

    A period is closed once ``end + grace_s <= now_s`` (late events up to ``grace_s``
    still land in it before that).

    :param last_closed_end_s: end of the last period already emitted; ``None`` on a
        fresh start, which yields only the most recent closed period.
    :returns: ``[(start_s, end_s), ...]`` oldest first with ``end_s > last_closed_end_s``;
        after a quiet gap every missed period is listed.
    :raises ValueError: for a negative grace.
    """
    if grace_s < 0:
        raise ValueError(f"grace must be >= 0 seconds, got {grace_s!r}")
    duration = spec.duration_s
    latest_end = int((now_s - grace_s) // duration) * duration
    if last_closed_end_s is None:
        return [(latest_end - duration, latest_end)]
    # The first aligned end strictly after the last one (tolerates an unaligned stamp).
    first_end = (last_closed_end_s // duration + 1) * duration
    return [(end - duration, end) for end in range(first_end, latest_end + 1, duration)]


class _RunningSum:
    """The sum of the closed buckets ``[open_start + res - duration, open_start)`` of one window."""

    __slots__ = ("counts", "open_start_s")

    def __init__(self, open_start_s: int, counts: BucketCounts) -> None:
        self.open_start_s = open_start_s
        self.counts = counts


class GoalBuckets:
    """The bucket store of one goal: counts per resolution and bucket start.

    Used both for a goal's whole aggregate and for a per-source-partition partial;
    :meth:`apply` with deltas makes the aggregate the exact sum of the partials.
    """

    __slots__ = ("_buckets", "_starts", "_sums", "version")

    def __init__(self) -> None:
        # resolution_s -> bucket_start_s -> counts
        self._buckets: dict[int, dict[int, BucketCounts]] = {}
        #: Changes whenever a bucket does: a reader may keep what it derived for as long as it stays.
        self.version = 0
        # resolution_s -> duration_s -> running sum of the closed part of that window
        self._sums: dict[int, dict[int, _RunningSum]] = {}
        # (version, resolution_s -> the stored bucket starts, sorted), made by window_key when needed
        self._starts: tuple[int, dict[int, list[int]]] = (-1, {})

    def apply(self, resolution_s: int, bucket_start_s: int, counts: BucketCounts, replace: bool = False) -> None:
        """Add a delta to one bucket, or with ``replace`` set the bucket to ``counts``.

        ``counts`` is copied, never kept. Replacing with empty counts removes the bucket.

        :raises ValueError: when ``bucket_start_s`` is not a multiple of ``resolution_s``.
        """
        if bucket_start_s % resolution_s:
            raise ValueError(f"bucket start {bucket_start_s} is not a multiple of the resolution {resolution_s}s")
        self.version += 1
        by_start = self._buckets.get(resolution_s)
        if by_start is None:
            by_start = self._buckets[resolution_s] = {}
        old = by_start.get(bucket_start_s)
        if replace:
            if counts.is_empty():
                by_start.pop(bucket_start_s, None)
            else:
                by_start[bucket_start_s] = counts.copy()
        elif old is None:
            by_start[bucket_start_s] = counts.copy()
        else:
            old.merge(counts)
        sums = self._sums.get(resolution_s)
        if not sums:
            return
        for duration_s, running in sums.items():
            if running.open_start_s + resolution_s - duration_s <= bucket_start_s < running.open_start_s:
                if replace and old is not None:
                    running.counts.subtract(old)
                running.counts.merge(counts)

    def bucket(self, resolution_s: int, bucket_start_s: int) -> BucketCounts | None:
        """The stored bucket (not a copy: do not mutate it), or ``None``."""
        by_start = self._buckets.get(resolution_s)
        return by_start.get(bucket_start_s) if by_start else None

    def items(self) -> Iterator[tuple[int, int, BucketCounts]]:
        """Every stored ``(resolution_s, bucket_start_s, counts)`` (not copies)."""
        for resolution_s, by_start in self._buckets.items():
            for start_s, counts in by_start.items():
                yield resolution_s, start_s, counts

    def __len__(self) -> int:
        return sum(len(by_start) for by_start in self._buckets.values())

    def window_counts(self, spec: WindowSpec, now_s: float, *, segments: bool = True) -> BucketCounts:
        """The sum of the window ending with the bucket that holds ``now_s``.

        Buckets of ``spec.resolution_s`` with start in ``[end - duration, end)`` where
        ``end = bucket_start(now_s, res) + res``: the current, still-open bucket counts.
        Without ``segments`` the result leaves the split by outcome and channel out (cheaper).

        :returns: a new :class:`BucketCounts` the caller may keep or mutate.
        """
        resolution_s = spec.resolution_s
        open_start_s = int(now_s // resolution_s) * resolution_s
        by_start = self._buckets.get(resolution_s)
        if by_start is None:
            return BucketCounts()
        running = self._running_sum(resolution_s, spec.duration_s, open_start_s, by_start)
        result = running.counts.copy(segments=segments)
        open_bucket = by_start.get(open_start_s)
        if open_bucket is not None:
            result.merge(open_bucket, segments=segments)
        return result

    def window_key(self, specs: Sequence[WindowSpec], now_s: float) -> tuple[int, ...]:
        """Which stored buckets the windows hold at ``now_s``: while it and :attr:`version` stay, so do their sums.

        Per window, how many stored buckets start before the window and before its end: time
        moves a window's sum only when a stored bucket leaves it (or a future one comes in), so a
        quiet goal's windows keep their figures as the clock moves on.
        """
        version, starts = self._starts
        if version != self.version:
            starts = {resolution_s: sorted(by_start) for resolution_s, by_start in self._buckets.items()}
            self._starts = (self.version, starts)
        key: list[int] = []
        for spec in specs:
            sorted_starts = starts.get(spec.resolution_s)
            if not sorted_starts:
                key += (0, 0)
                continue
            end_s = int(now_s // spec.resolution_s) * spec.resolution_s + spec.resolution_s
            key += (bisect_left(sorted_starts, end_s - spec.duration_s), bisect_left(sorted_starts, end_s))
        return tuple(key)

    def window_buckets(self, spec: WindowSpec, now_s: float) -> list[BucketCounts | None]:
        """The buckets of the window ending with the bucket that holds ``now_s``, oldest first (``None``: empty).

        The same buckets :meth:`window_counts` sums (stored ones, not copies: do not mutate them).
        """
        resolution_s = spec.resolution_s
        open_start_s = int(now_s // resolution_s) * resolution_s
        by_start = self._buckets.get(resolution_s, {})
        first_s = open_start_s + resolution_s - spec.duration_s
        return [by_start.get(start_s) for start_s in range(first_s, open_start_s + resolution_s, resolution_s)]

    def period_counts(self, spec: WindowSpec, start_s: int, end_s: int) -> BucketCounts:
        """The sum of buckets of ``spec.resolution_s`` with start in ``[start_s, end_s)``.

        Meant for a closed period from :func:`closed_periods`.

        :raises ValueError: unless ``start_s < end_s`` and both are bucket boundaries.
        """
        resolution_s = spec.resolution_s
        if start_s >= end_s or start_s % resolution_s or end_s % resolution_s:
            raise ValueError(
                f"period [{start_s}, {end_s}) is not aligned to the {resolution_s}s buckets of window {spec.name}"
            )
        return _sum_range(self._buckets.get(resolution_s, {}), start_s, end_s, resolution_s)

    def prune(self, now_s: float, keep_s_by_resolution: Mapping[int, int]) -> int:
        """Drop the buckets no window needs any more.

        Per resolution, buckets with start before ``bucket_start(now_s, res) + res - keep_s``
        go (with ``keep_s`` from :func:`retention_s_by_resolution`, every window and
        closing period keeps what it needs). A resolution missing from the mapping is
        dropped entirely: nothing uses it.

        :returns: how many buckets were dropped.
        """
        dropped = 0
        for resolution_s in list(self._buckets):
            by_start = self._buckets[resolution_s]
            keep_s = keep_s_by_resolution.get(resolution_s)
            if keep_s is None:
                dropped += len(by_start)
                del self._buckets[resolution_s]
                self._sums.pop(resolution_s, None)
                continue
            cutoff_s = bucket_start(now_s, resolution_s) + resolution_s - keep_s
            old_starts = [start_s for start_s in by_start if start_s < cutoff_s]
            sums = self._sums.get(resolution_s, {})
            for start_s in old_starts:
                counts = by_start.pop(start_s)
                # Keep running sums equal to the sum of what is stored.
                for duration_s, running in sums.items():
                    if running.open_start_s + resolution_s - duration_s <= start_s < running.open_start_s:
                        running.counts.subtract(counts)
            dropped += len(old_starts)
            if not by_start:
                del self._buckets[resolution_s]
                self._sums.pop(resolution_s, None)
        if dropped:
            self.version += 1
        return dropped

    def _running_sum(
        self, resolution_s: int, duration_s: int, open_start_s: int, by_start: dict[int, BucketCounts]
    ) -> _RunningSum:
        sums = self._sums.get(resolution_s)
        if sums is None:
            sums = self._sums[resolution_s] = {}
        running = sums.get(duration_s)
        if running is not None:
            if running.open_start_s == open_start_s:
                return running
            steps = (open_start_s - running.open_start_s) // resolution_s
            if steps > 0 and 2 * steps < duration_s // resolution_s:
                # Slide: buckets [old open, new open) close; the same number fall out at the back.
                counts = running.counts
                for start_s in range(running.open_start_s, open_start_s, resolution_s):
                    closed = by_start.get(start_s)
                    if closed is not None:
                        counts.merge(closed)
                    gone = by_start.get(start_s + resolution_s - duration_s)
                    if gone is not None:
                        counts.subtract(gone)
                running.open_start_s = open_start_s
                return running
        running = sums[duration_s] = _RunningSum(
            open_start_s,
            _sum_range(by_start, open_start_s + resolution_s - duration_s, open_start_s, resolution_s),
        )
        return running


def _sum_range(by_start: Mapping[int, BucketCounts], start_s: int, end_s: int, resolution_s: int) -> BucketCounts:
    """Sum the buckets with start in ``[start_s, end_s)``, walking whichever is shorter."""
    total = BucketCounts()
    if len(by_start) < (end_s - start_s) // resolution_s:
        for bucket_start_s, counts in by_start.items():
            if start_s <= bucket_start_s < end_s:
                total.merge(counts)
    else:
        for bucket_start_s in range(start_s, end_s, resolution_s):
            bucket = by_start.get(bucket_start_s)
            if bucket is not None:
                total.merge(bucket)
    return total
