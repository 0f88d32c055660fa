"""Releases and verdicts as the outputs carry them: summary parts, /api/goals JSON, the verdict record.

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.common import Channel
from schemas.goal_summary import ReleaseFigures
from schemas.release_verdict import ReleaseVerdict
from stream.ces.releases.figures import ReleaseComparison, ReleaseCounts


def _utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=UTC)


def release_figures(recent: Mapping[str, Sequence[ReleaseCounts]]) -> list[ReleaseFigures]:
    """The releases of :func:`~stream.ces.releases.recent_releases` as ``GoalSummary.releases``."""
    return [
        ReleaseFigures(
            channel=Channel(release.channel),
            version=release.version,
            first_seen=_utc(release.first_seen_s),
            answers=release.answers,
            positive=release.positive,
            ces_ratio=release.ces_ratio,
            mean_score=release.mean_score,
        )
        for releases in recent.values()
        for release in releases
    ]


def verdict_json(verdict: ReleaseComparison) -> dict[str, Any]:
    """One channel's verdict as /api/goals shows it."""
    return {
        "channel": verdict.channel,
        "version": verdict.version,
        "previous_version": verdict.previous_version,
        "answers": verdict.answers,
        "previous_answers": verdict.previous_answers,
        "difference": verdict.difference,
        "lower": verdict.lower,
        "upper": verdict.upper,
        "direction": verdict.direction,
        "error_rate": verdict.error_rate,
        "text": verdict_text(verdict, ""),
    }


def releases_json(
    window: str, recent: Mapping[str, Sequence[ReleaseCounts]], verdicts: Iterable[ReleaseComparison]
) -> dict[str, Any]:
    """The ``releases`` part of the release window's figures in /api/goals."""
    return {
        "window": window,
        "versions": [figures.model_dump(mode="json") for figures in release_figures(recent)],
        "verdicts": [verdict_json(verdict) for verdict in verdicts],
    }


def verdict_text(verdict: ReleaseComparison, goal: str) -> str:
    """One line a person reads: ``2.3 · file-claim · web: −0.09 [−0.14, −0.04] after 412 answers``."""
    where = " · ".join(part for part in (verdict.version, goal, verdict.channel) if part)
    against = verdict.previous_version
    outcome = f"{verdict.direction} than {against}" if verdict.decided else f"no verdict yet against {against}"
    interval = f"[{_signed(verdict.lower)}, {_signed(verdict.upper)}]"
    return f"{where}: {_signed(verdict.difference)} {interval} after {verdict.answers} answers ({outcome})"


def _signed(value: float) -> str:
    # A true minus sign, as the figures are shown to people; "+0.00" for a zero.
    return f"{value:+.2f}".replace("-", "\N{MINUS SIGN}")


def verdict_record(goal: str, survey: str, window: str, verdict: ReleaseComparison, now_s: float) -> ReleaseVerdict:
    """The record written to the verdicts topic when a release's verdict is reached."""
    return ReleaseVerdict(
        goal=goal,
        survey=survey,  # type: ignore[arg-type]  # a goal's own question: ces or csat
        channel=Channel(verdict.channel),
        version=verdict.version,
        previous_version=verdict.previous_version,
        direction=verdict.direction,  # type: ignore[arg-type]  # a decided verdict: worse or better
        difference=verdict.difference,
        lower=verdict.lower,
        upper=verdict.upper,
        answers=verdict.answers,
        previous_answers=verdict.previous_answers,
        error_rate=verdict.error_rate,
        window=window,
        first_seen=_utc(verdict.first_seen_s),
        decided_at=_utc(now_s),
        text=verdict_text(verdict, goal),
    )
