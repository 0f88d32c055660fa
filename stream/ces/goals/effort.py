"""Measured effort: how long a goal took from its first start to completion, and whether it was retried.

Reported effort (the CES answer) is what users say; ces-stream also sees the goal events,
so it measures what they did. A completion whose start the user stage remembers is a
*timed* completion: its duration (first ``started`` of the attempt to ``completed``) and
whether the goal was started more than once before it completed (a retry) are counted.

Durations go into a log-bucketed histogram (DDSketch's logarithmic mapping): a duration
is counted under the integer key of its bucket, so the counts are additive like every
other count of a bucket, and a quantile read from them is within
:data:`DURATION_RELATIVE_ACCURACY` (relative) of the exact quantile of the durations
counted, whatever their number. Memory grows with the log of the range of durations
(about 50 keys per factor 10 of seconds), never with the number of completions.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ddsketch.mapping import LogarithmicMapping

from stream.ces.goals.durations import format_duration

__all__ = [
    "DURATION_QUANTILES",
    "DURATION_RELATIVE_ACCURACY",
    "MIN_DURATION_S",
    "EffortFigures",
    "band_names",
    "duration_band",
    "duration_key",
    "duration_quantile",
    "duration_text",
    "effort_divergence",
    "effort_figures",
    "key_at_quantile",
    "slower_counts",
]

#: Every quantile read from the durations is within this relative error of the exact one.
DURATION_RELATIVE_ACCURACY = 0.02

#: Durations below this (a completion at the instant of its start) count as this.
MIN_DURATION_S = 0.001

#: The quantiles of the completion time that ``/metrics``, ``/api/goals`` and the summaries show.
DURATION_QUANTILES = (0.5, 0.9, 0.99)

_MAPPING = LogarithmicMapping(DURATION_RELATIVE_ACCURACY)


def duration_key(duration_s: float) -> int:
    """The histogram key of a duration in seconds (durations below :data:`MIN_DURATION_S` count as it)."""
    return int(_MAPPING.key(max(float(duration_s), MIN_DURATION_S)))


def key_at_quantile(durations: Mapping[int, int], quantile: float) -> int | None:
    """The key of the bucket holding the value of rank ``floor(quantile * (n - 1))`` (0-based) of the
    sorted durations counted in ``durations`` (key -> count); None when nothing is counted."""
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be within 0..1, got {quantile}")
    total = sum(durations.values())
    if total <= 0:
        return None
    rank = int(quantile * (total - 1))
    seen = 0
    for key in sorted(durations):
        seen += durations[key]
        if seen > rank:
            return key
    raise AssertionError("unreachable: the rank is below the total")


def duration_quantile(durations: Mapping[int, int], quantile: float) -> float | None:
    """The ``quantile`` (0..1) of the durations counted in ``durations`` (key -> count), or None when empty.

    As DDSketch reads it: the bucket of :func:`key_at_quantile`, reported as the bucket's
    representative value, which is within :data:`DURATION_RELATIVE_ACCURACY` of the value of that rank.
    """
    key = key_at_quantile(durations, quantile)
    return None if key is None else float(_MAPPING.value(key))


def slower_counts(recent: Mapping[int, int], window: Mapping[int, int]) -> tuple[int, int, int, int] | None:
    """How many timed completions were slower than the median of the rest of a longer window.

    The rest is the longer window without the recent one (as for the CES baseline gap), and
    its median bucket the line: a completion in a bucket above it is slower. The recent and
    the longer window are counted against the same line, so comparing their shares
    (:func:`~stream.ces.goals.stats.proportion_gap`) says whether the recent completions were
    slower than usual, bucket ties and all.

    :returns: ``(recent slower, recent timed, window slower, window timed)``, or None when the rest is empty.
    """
    rest = {key: count - recent.get(key, 0) for key, count in window.items() if count > recent.get(key, 0)}
    line = key_at_quantile(rest, 0.5)
    if line is None:
        return None
    recent_slower = sum(count for key, count in recent.items() if key > line)
    window_slower = sum(count for key, count in window.items() if key > line)
    return recent_slower, sum(recent.values()), window_slower, sum(window.values())


def effort_divergence(
    ces_gap_bounds: tuple[float, float] | None, slower_gap_bounds: tuple[float, float] | None
) -> str | None:
    """Where measured and reported effort part ways, as one phrase; None when they agree or cannot tell.

    :param ces_gap_bounds: the interval of the CES baseline gap (negative: rated harder than usual).
    :param slower_gap_bounds: the interval of the slower-share gap (positive: slower than usual).
    :returns: "slower but not rated harder", "rated harder but not slower" or "slower and rated
        harder" when the interval(s) say so (whole interval on one side of 0); else None.
    """
    if ces_gap_bounds is None or slower_gap_bounds is None:
        return None
    harder = ces_gap_bounds[1] < 0
    slower = slower_gap_bounds[0] > 0
    if slower and harder:
        return "slower and rated harder"
    if slower:
        return "slower but not rated harder"
    if harder:
        return "rated harder but not slower"
    return None


@lru_cache(maxsize=64)  # a goal's bounds are fixed: named once, not per prompt
def band_names(bounds_s: tuple[int, ...]) -> tuple[str, ...]:
    """The names of the duration bands the bounds cut: (30, 120) -> ("<30s", "30s-2m", "2m+")."""
    if not bounds_s:
        return ()
    names = [f"<{format_duration(bounds_s[0])}"]
    names += [f"{format_duration(low)}-{format_duration(high)}" for low, high in itertools.pairwise(bounds_s)]
    names.append(f"{format_duration(bounds_s[-1])}+")
    return tuple(names)


def duration_band(bounds_s: tuple[int, ...], duration_s: float) -> str:
    """The name of the band (of :func:`band_names`) that holds ``duration_s``: bands are ``[low, high)``."""
    names = band_names(bounds_s)
    for bound, name in zip(bounds_s, names, strict=False):
        if duration_s < bound:
            return name
    return names[-1]


def duration_text(seconds: float | None) -> str:
    """Seconds as people read them: "45 s", "4.2 min", "1.5 h"; "–" for none (the page's JavaScript does the same)."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True, slots=True)
class EffortFigures:
    """A window's measured effort.

    :param timed_completions: completions whose start was known (the denominator of the rest).
    :param retried: of those, how many had more than one start before completing.
    :param retry_ratio: ``retried / timed_completions``; None without timed completions.
    :param duration_quantiles: seconds from first start to completion per quantile of
        :data:`DURATION_QUANTILES`; empty without timed completions.
    """

    timed_completions: int
    retried: int
    retry_ratio: float | None
    duration_quantiles: dict[float, float]


def effort_figures(durations: Mapping[int, int], retried: int) -> EffortFigures:
    """The measured-effort figures of a window from its duration histogram and retry count."""
    timed = sum(durations.values())
    quantiles: dict[float, float] = {}
    if timed:
        for q in DURATION_QUANTILES:
            value = duration_quantile(durations, q)
            assert value is not None
            quantiles[q] = value
    return EffortFigures(timed, retried, retried / timed if timed else None, quantiles)
