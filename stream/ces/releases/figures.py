"""CES per app release, and the verdict of a new release against the one before it.

Every answer to the goal's own question (CES or CSAT) whose goal event named an ``app_version``
is counted per channel and version in its time buckets (``BucketCounts.by_release``: ``[answers,
positive, score sum]`` per ``channel|version``). A release is one version on one channel: web and
the apps ship their own versions. The releases of a window or period are read from its buckets,
oldest first: a version is *first seen* at the start of the first bucket that holds an answer of
it, and the newest release of a channel is the one first seen last.

The verdict compares the newest release of a channel with the one first seen before it: the
difference of their CES shares with its confidence sequence
(:func:`~stream.ces.releases.sequence.difference_sequence`), ``worse`` once the whole interval is
below zero, ``better`` once it is above, ``pending`` before. Because the interval is a confidence
sequence, reading it after every answer keeps the chance of a wrong verdict per release at most
the error rate.

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream.ces.releases.sequence import difference_sequence

#: Separates the channel from the version in a release key: ``web|2.3.0`` (a channel has none).
KEY_SEPARATOR = "|"
WORSE, BETTER, PENDING = "worse", "better", "pending"
# A version name's parts: runs of digits, runs of other characters.
_VERSION_PARTS = re.compile(r"\d+|\D+")


def release_key(channel: str, version: str) -> str:
    """The key of a release's counts in a bucket: ``channel|version``."""
    return f"{channel}{KEY_SEPARATOR}{version}"


def split_release_key(key: str) -> tuple[str, str]:
    """``(channel, version)`` of a release key."""
    channel, _, version = key.partition(KEY_SEPARATOR)
    return channel, version


@dataclass(frozen=True, slots=True)
class ReleaseCounts:
    """The answers of one release (a version on a channel) in a window or period."""

    channel: str
    version: str
    first_seen_s: int
    """The start of the first bucket holding an answer of this release."""
    answers: int
    positive: int
    score_sum: int

    @property
    def ces_ratio(self) -> float | None:
        return self.positive / self.answers if self.answers else None

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.answers if self.answers else None


def releases_in(buckets: Iterable[tuple[int, Mapping[str, list[int]] | None]]) -> list[ReleaseCounts]:
    """Every release of some buckets, their cells summed.

    :param buckets: ``(bucket start, the bucket's release cells)`` in any order (``None``: none).
    :returns: the releases, sorted by channel, then newest first.
    """
    totals: dict[str, list[int]] = {}
    first_seen: dict[str, int] = {}
    for start_s, cells in buckets:
        if not cells:
            continue
        for key, cell in cells.items():
            if not cell[0]:
                continue
            held = totals.get(key)
            if held is None:
                totals[key] = list(cell)
                first_seen[key] = start_s
            else:
                held[0] += cell[0]
                held[1] += cell[1]
                held[2] += cell[2]
                first_seen[key] = min(first_seen[key], start_s)
    releases = [
        ReleaseCounts(*split_release_key(key), first_seen[key], cell[0], cell[1], cell[2])
        for key, cell in totals.items()
    ]
    return newest_first(releases)


def version_order(version: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key that orders version names naturally: numbers by value, so ``5.12.0`` after ``5.9.1``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _VERSION_PARTS.findall(version))


def newest_first(releases: Iterable[ReleaseCounts]) -> list[ReleaseCounts]:
    """Releases by channel name, each channel's newest (first seen last) first.

    Versions first seen in the same bucket (an app's older versions, all answered since the window's
    first bucket) are ordered by their names, naturally: the higher version is taken as the newer.
    """
    by_name = sorted(releases, key=lambda release: version_order(release.version), reverse=True)
    # A stable sort: versions first seen together keep the names' order.
    return sorted(by_name, key=lambda release: (release.channel, -release.first_seen_s))


def recent_releases(releases: Iterable[ReleaseCounts], per_channel: int) -> dict[str, list[ReleaseCounts]]:
    """The ``per_channel`` newest releases of each channel, newest first, channels in name order."""
    by_channel: dict[str, list[ReleaseCounts]] = defaultdict(list)
    for release in newest_first(releases):
        if len(by_channel[release.channel]) < per_channel:
            by_channel[release.channel].append(release)
    return dict(by_channel)


@dataclass(frozen=True, slots=True)
class ReleaseComparison:
    """A channel's newest release against the release before it: CES share difference and verdict."""

    channel: str
    version: str
    previous_version: str
    answers: int
    previous_answers: int
    first_seen_s: int
    """When the new release was first seen (the start of its first bucket)."""
    difference: float
    """``ces_ratio(version) - ces_ratio(previous_version)``: below zero, the new release is harder."""
    lower: float
    upper: float
    direction: str
    """:data:`WORSE`, :data:`BETTER` or :data:`PENDING` (the interval still holds zero)."""
    error_rate: float
    """The chance of a wrong verdict for this release, however often it is read."""

    @property
    def decided(self) -> bool:
        return self.direction != PENDING


def compare_releases(
    new: ReleaseCounts, previous: ReleaseCounts, error_rate: float, min_answers: int = 1
) -> ReleaseComparison | None:
    """The verdict of ``new`` against ``previous`` (one channel); None while either has no answers.

    :param min_answers: answers each release needs before a verdict: the interval is valid from the
        first answer, but a verdict on a handful of answers convinces no one (pending until then).
    """
    sequence = difference_sequence((new.positive, new.answers), (previous.positive, previous.answers), error_rate)
    if sequence is None:
        return None
    direction = PENDING
    if min(new.answers, previous.answers) >= min_answers:
        direction = WORSE if sequence.upper < 0.0 else BETTER if sequence.lower > 0.0 else PENDING
    return ReleaseComparison(
        channel=new.channel,
        version=new.version,
        previous_version=previous.version,
        answers=new.answers,
        previous_answers=previous.answers,
        first_seen_s=new.first_seen_s,
        difference=sequence.difference,
        lower=sequence.lower,
        upper=sequence.upper,
        direction=direction,
        error_rate=error_rate,
    )


def channel_comparisons(
    releases: Iterable[ReleaseCounts], error_rate: float, min_answers: int = 1
) -> list[ReleaseComparison]:
    """Per channel with two releases or more, its newest release against the one before it."""
    verdicts = []
    for newest_first in recent_releases(releases, 2).values():
        if len(newest_first) == 2:
            verdict = compare_releases(newest_first[0], newest_first[1], error_rate, min_answers)
            if verdict is not None:
                verdicts.append(verdict)
    return verdicts
