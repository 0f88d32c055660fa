"""The releases of a goal in ``ces-stream report``: CES per app release over the period, and the verdicts.

Pure (no Kafka): from the ``releases`` part of the period's GoalSummary records (version 6; older
versions carry none). Like every figure of the report the releases are summed from counts, never
averaged: per release (a version on a channel) the answers and positive answers of the period's
summaries are added, the score sum is rebuilt exactly from each summary's mean (the worker divides an
integer sum of integer scores: ``round(mean_score * answers)`` gives it back), and a release is *first
seen* at the earliest ``first_seen`` of its summaries. Per channel the report keeps the
``release_versions`` most recent releases (first seen last first), and compares the channel's newest
release with the one first seen before it over the period with
:func:`~stream.ces.releases.channel_comparisons`: the difference of their CES shares with its
confidence sequence at ``release_error_rate``, ``worse`` or ``better`` once the interval excludes
zero and both releases hold ``release_min_answers`` answers in the period, ``pending`` before (the
worker's settings, so the report reads a release as the worker does, over the period instead of
the longest window).

A summary carries only the most recent releases of its own window per channel; a release that was
outside them in some window misses that window's answers in the sums (the newest two of a channel,
which the verdict compares, are in every window that has answers of them, ``release_versions`` being
at least 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas import GoalSummary
from stream.ces.releases import ReleaseComparison, ReleaseCounts, channel_comparisons, recent_releases
from stream.ces.releases.settings import ReleaseSettings

DEFAULT_RELEASE_VERSIONS: int = ReleaseSettings.model_fields["release_versions"].default
DEFAULT_RELEASE_ERROR_RATE: float = ReleaseSettings.model_fields["release_error_rate"].default
DEFAULT_RELEASE_MIN_ANSWERS: int = ReleaseSettings.model_fields["release_min_answers"].default


@dataclass(frozen=True)
class PeriodReleases:
    """A goal's releases over the period: per channel the most recent, and each channel's verdict."""

    by_channel: dict[str, list[ReleaseCounts]]
    """Channel (in name order) -> its ``per_channel`` most recent releases, first seen last first."""
    verdicts: dict[str, ReleaseComparison]
    """Channel -> its newest release against the one before it; only channels with two releases."""
    error_rate: float
    """The chance of a wrong verdict per release, however often it is read."""
    per_channel: int
    min_answers: int
    """The answers each of the two releases needs in the period before a verdict."""
    counted: int
    """The period's summaries that carry release figures."""

    @property
    def decided(self) -> list[ReleaseComparison]:
        """The verdicts that are worse or better (not pending), in channel order."""
        return [verdict for verdict in self.verdicts.values() if verdict.decided]


def summed_releases(summaries: Iterable[GoalSummary]) -> list[ReleaseCounts]:
    """Every release of the summaries with its counts summed over them (unordered)."""
    totals: dict[tuple[str, str], list[int]] = {}  # (channel, version) -> [first seen, answers, positive, scores]
    for summary in summaries:
        for figures in summary.releases:
            if not figures.answers:
                continue
            first_seen_s = int(figures.first_seen.timestamp())
            score_sum = round((figures.mean_score or 0.0) * figures.answers)
            key = (figures.channel.value, figures.version)
            held = totals.get(key)
            if held is None:
                totals[key] = [first_seen_s, figures.answers, figures.positive, score_sum]
            else:
                held[0] = min(held[0], first_seen_s)
                held[1] += figures.answers
                held[2] += figures.positive
                held[3] += score_sum
    return [
        ReleaseCounts(channel, version, first_seen_s, answers, positive, score_sum)
        for (channel, version), (first_seen_s, answers, positive, score_sum) in totals.items()
    ]


def period_releases(
    summaries: Iterable[GoalSummary],
    per_channel: int = DEFAULT_RELEASE_VERSIONS,
    error_rate: float = DEFAULT_RELEASE_ERROR_RATE,
    min_answers: int = DEFAULT_RELEASE_MIN_ANSWERS,
) -> PeriodReleases | None:
    """The goal's releases over the period's summaries, or ``None`` when none of them has an answer of a release."""
    summaries = list(summaries)
    releases = summed_releases(summaries)
    if not releases:
        return None
    return PeriodReleases(
        by_channel=recent_releases(releases, per_channel),
        verdicts={verdict.channel: verdict for verdict in channel_comparisons(releases, error_rate, min_answers)},
        error_rate=error_rate,
        per_channel=per_channel,
        min_answers=min_answers,
        counted=sum(1 for summary in summaries if summary.releases),
    )
