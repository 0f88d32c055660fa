"""A goal's merged windows and the figures and summaries read from them (the goal stage's state).

Pure: the goal stage (``stream.pipeline.goals``) feeds it partials and asks it for
the exported figures and for the summaries of periods the clock has closed.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas import GoalSummary
from schemas.goal_summary import (
    Funnel,
    MeasuredEffort,
)
from schemas.survey_prompt import PromptOutcome
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.effort import DURATION_RELATIVE_ACCURACY, band_names
from stream.ces.goals.figure_parts import figures_json, nps_summary, split_parts
from stream.ces.goals.nps import nps_baseline_gap, nps_window_figures
from stream.ces.goals.partials import MergedGoals, goal_partition
from stream.ces.goals.segments import OUTCOMES
from stream.ces.goals.stats import (
    WindowFigures,
    baseline_gap,
    completion_gap,
    cusum,
    divergence,
    figures,
    slower_gap,
)
from stream.ces.goals.windows import GoalBuckets, WindowSpec, closed_periods
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.releases import ReleaseComparison, ReleaseCounts, channel_comparisons, recent_releases, releases_in
from stream.ces.releases.parts import release_figures, releases_json

# After a long outage, summarise at most this many missed periods per goal and window.
MAX_CATCH_UP_PERIODS = 12


def asked_outcomes(goal: GoalConfig) -> tuple[str, ...]:
    """The outcomes the goal prompts after (its triggers): the strata the non-response correction weighs."""
    triggers = goal.triggers
    on = {
        "completed": triggers.completed,
        "abandoned": triggers.abandoned,
        "abandoned_inferred": triggers.inferred_abandonment.enabled,
    }
    return tuple(outcome for outcome in OUTCOMES if on[outcome])


def _utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=UTC)


class GoalWindows:
    """The goal stage's in-memory state and the figures read from it.

    :param split_windows: names of the windows whose split by outcome and channel the
        exported snapshot carries (the API and the summaries carry it for every window).
    :param split_min_answers: answers each side needs before the exit gap is computed.
    :param stratum_min_answers: answers a stratum (outcome x channel) needs before it speaks for its
        attempts in the CES corrected for non-response (:mod:`~stream.ces.goals.nonresponse`).
    :param baseline_window: the window the ``gap_windows`` are compared with (its counts minus
        theirs: :func:`~stream.ces.goals.stats.baseline_gap`); the figures of a gap window carry
        the CES difference and its interval. Derived from the window counts at read time, so
        replays and restarts give exactly the same figures.
    :param sequential: ``(window, drop)``: the figures of that window carry the CUSUM of a CES of
        the goal's target minus ``drop`` against one of its target (goals with a target only),
        computed from the window's buckets at read time (:func:`~stream.ces.goals.stats.cusum`).
    :param release_versions: releases per channel in the summaries and /api/goals (the most recent).
    :param release_error_rate: the chance of a wrong release verdict per release.
    :param release_min_answers: answers each release needs before a verdict.
    """

    def __init__(
        self,
        registry: GoalRegistry,
        window_specs: Sequence[WindowSpec],
        partitions: int,
        confidence: float,
        split_windows: Collection[str] = (),
        split_min_answers: int = 30,
        baseline_window: str | None = None,
        gap_windows: Collection[str] = (),
        sequential: tuple[str, float] | None = None,
        stratum_min_answers: int = 10,
        release_versions: int = 5,
        release_error_rate: float = 0.05,
        release_min_answers: int = 30,
    ) -> None:
        self.registry = registry
        self.window_specs = tuple(window_specs)
        self.partitions = partitions
        self.confidence = confidence
        self.split_windows = frozenset(split_windows)
        self.split_min_answers = split_min_answers
        self.stratum_min_answers = stratum_min_answers
        names = {spec.name for spec in self.window_specs}
        self.baseline_window = baseline_window if baseline_window in names else None
        self.gap_windows = frozenset(gap_windows) & names - {baseline_window} if self.baseline_window else frozenset()
        self.sequential = sequential if sequential is not None and sequential[0] in names else None
        self.targets = {goal.slug: goal.target_ces_ratio for goal in registry.goals}
        self.release_versions = release_versions
        self.release_error_rate = release_error_rate
        self.release_min_answers = release_min_answers
        #: Releases and their verdicts are read from the longest window.
        self.release_window = max(self.window_specs, key=lambda spec: spec.duration_s, default=None)
        self.merged = MergedGoals()
        self.last_closed_end: dict[tuple[str, str], int] = {}
        self.owned: set[int] = set()
        # Read once: registry lookups are pydantic attribute access, too slow per scrape row.
        self.scales = {goal.slug: goal.scale_obj() for goal in registry.goals}
        self.bands = {
            goal.slug: band_names(goal.measured_effort.duration_bands_seconds) if goal.measured_effort.enabled else ()
            for goal in registry.goals
        }
        self.asked = {goal.slug: asked_outcomes(goal) for goal in registry.goals}
        self.surveys = {goal.slug: goal.survey for goal in registry.goals}
        nps = registry.nps
        self.nps_min_answers = 30 if nps is None else nps.high_effort.min_answers
        # Answers each side of the NPS baseline gap needs: the goal's alert minimum, as for the CES.
        self.alert_min_answers = {goal.slug: goal.alerting.min_answers for goal in registry.goals}

    def owned_goals(self) -> list[str]:
        return [slug for slug in self.registry.slugs if goal_partition(slug, self.partitions) in self.owned]

    def figures_of(self, goal: str, counts: BucketCounts, *, split: bool = True) -> WindowFigures:
        scale = self.scales[goal]
        fig = figures(
            counts,
            scale.points,
            scale.most_negative,
            self.confidence,
            segment_min_answers=self.split_min_answers if split else None,
            bands=self.bands[goal],
            asked=self.asked[goal],
            stratum_min_answers=self.stratum_min_answers,
        )
        if counts.nps is not None and not counts.nps.is_empty():
            fig.nps = nps_window_figures(counts.nps, self.confidence, self.nps_min_answers)
        return fig

    def snapshot(
        self, now_s: float | None = None, *, split_everywhere: bool = False
    ) -> list[tuple[str, WindowSpec, WindowFigures]]:
        """Sliding-window figures of every goal this worker owns, at ``now_s``.

        The split by outcome and channel is computed for the split windows only (what /metrics
        exports), or for every window with ``split_everywhere`` (what /api/goals shows).
        """
        now_s = time.time() if now_s is None else now_s
        return [row for goal in self.owned_goals() for row in self.goal_rows(goal, now_s, split_everywhere)]

    def api_json(self, now_s: float | None = None) -> dict[str, dict[str, Any]]:
        """What /api/goals shows: ``{goal: {window: figures}}`` of the goals this worker owns, split
        everywhere; each window's figures say which question the goal asks itself (``survey``: ces or csat)."""
        now_s = time.time() if now_s is None else now_s
        out: dict[str, dict[str, Any]] = {}
        for goal, spec, fig in self.snapshot(now_s, split_everywhere=True):
            figures = out.setdefault(goal, {})[spec.name] = {"survey": self.surveys[goal], **figures_json(fig)}
            if spec is self.release_window:
                releases = self.live_releases(goal, now_s)
                figures["releases"] = releases_json(
                    spec.name,
                    recent_releases(releases, self.release_versions),
                    channel_comparisons(releases, self.release_error_rate, self.release_min_answers),
                )
        return out

    def releases(self, goal: str, spec: WindowSpec, start_s: int, end_s: int) -> list[ReleaseCounts]:
        """The releases of the goal's buckets of ``spec`` with start in ``[start_s, end_s)``."""
        buckets = self.merged.goals.get(goal)
        if buckets is None:
            return []
        resolution_s = spec.resolution_s
        return releases_in(
            (start_s, counts.by_release if counts is not None else None)
            for start_s in range(start_s, end_s, resolution_s)
            if (counts := buckets.bucket(resolution_s, start_s)) is not None
        )

    def live_releases(self, goal: str, now_s: float) -> list[ReleaseCounts]:
        """The releases of the release window (the longest) ending with the bucket that holds ``now_s``."""
        spec = self.release_window
        if spec is None:
            return []
        end_s = int(now_s // spec.resolution_s) * spec.resolution_s + spec.resolution_s
        return self.releases(goal, spec, end_s - spec.duration_s, end_s)

    def live_verdicts(self, goal: str, now_s: float) -> list[ReleaseComparison]:
        """Per channel, the newest release of the release window against the one before it."""
        return channel_comparisons(self.live_releases(goal, now_s), self.release_error_rate, self.release_min_answers)

    def goal_rows(
        self, goal: str, now_s: float, split_everywhere: bool = False
    ) -> list[tuple[str, WindowSpec, WindowFigures]]:
        """One goal's rows of :meth:`snapshot`: a row per window."""
        buckets = self.merged.goals.get(goal)
        rows = []
        counts_of: dict[str, BucketCounts] = {}
        for spec in self.window_specs:
            split = split_everywhere or spec.name in self.split_windows
            counts = buckets.window_counts(spec, now_s, segments=split) if buckets is not None else BucketCounts()
            counts_of[spec.name] = counts
            rows.append((goal, spec, self.figures_of(goal, counts, split=split)))
        if self.gap_windows:
            self._add_baseline_gaps(rows, counts_of)
            self._add_nps_baseline_gaps(goal, rows, counts_of)
        if self.sequential is not None and buckets is not None:
            self._add_cusum(goal, buckets, rows, now_s)
        return rows

    def rows_key(self, goal: str, now_s: float) -> Hashable:
        """What :meth:`goal_rows` depends on: equal keys, equal rows (for the same goal).

        The goal's buckets (the object and its version) and which of them each window holds
        (:meth:`~stream.ces.goals.windows.GoalBuckets.window_key`): the rows depend on the time
        only through that, so a quiet goal's rows are kept as the windows move on.
        """
        buckets = self.merged.goals.get(goal)
        if buckets is None:
            return None
        return (buckets, buckets.version, buckets.window_key(self.window_specs, now_s))

    def _add_cusum(
        self, goal: str, buckets: GoalBuckets, rows: list[tuple[str, WindowSpec, WindowFigures]], now_s: float
    ) -> None:
        """Set the CUSUM of the sequential window's figures (one goal's rows), for a goal with a target."""
        window, drop = self.sequential  # type: ignore[misc]  # checked by the caller
        target = self.targets.get(goal)
        if target is None or not 0.0 < target - drop < target < 1.0:
            return
        for _, spec, fig in rows:
            if spec.name == window:
                fig.ces_cusum = cusum(buckets.window_buckets(spec, now_s), target, target - drop)

    def _add_nps_baseline_gaps(
        self, goal: str, rows: list[tuple[str, WindowSpec, WindowFigures]], counts_of: dict[str, BucketCounts]
    ) -> None:
        """Set the NPS baseline gap of the gap windows' NPS figures (one goal's rows; goals with NPS answers)."""
        base = counts_of[self.baseline_window].nps  # type: ignore[index]  # set whenever gap_windows is
        if base is None or base.is_empty():
            return
        for _, spec, fig in rows:
            recent = counts_of[spec.name].nps
            if spec.name in self.gap_windows and fig.nps is not None and recent is not None:
                fig.nps.baseline_gap = nps_baseline_gap(recent, base, self.confidence, self.alert_min_answers[goal])

    def _add_baseline_gaps(
        self, rows: list[tuple[str, WindowSpec, WindowFigures]], counts_of: dict[str, BucketCounts]
    ) -> None:
        """Set the baseline gap of the gap windows' figures (one goal's rows)."""
        base = counts_of[self.baseline_window]  # type: ignore[index]  # set whenever gap_windows is
        for _, spec, fig in rows:
            if spec.name in self.gap_windows:
                recent = counts_of[spec.name]
                gap = baseline_gap(recent, base, self.confidence)
                if gap is not None:
                    fig.baseline_gap, fig.baseline_gap_lower, fig.baseline_gap_upper = gap
                gap = completion_gap(recent.outcomes, base.outcomes, self.confidence)
                if gap is not None:
                    (
                        fig.completion_baseline_gap,
                        fig.completion_baseline_gap_lower,
                        fig.completion_baseline_gap_upper,
                    ) = gap
                gap = slower_gap(recent, base, self.confidence)
                if gap is not None:
                    fig.slower_gap, fig.slower_gap_lower, fig.slower_gap_upper = gap
                fig.effort_divergence = divergence(fig)

    def summary(self, goal: str, spec: WindowSpec, start_s: int, end_s: int, now_s: float) -> GoalSummary:
        buckets = self.merged.goals.get(goal)
        counts = buckets.period_counts(spec, start_s, end_s) if buckets is not None else BucketCounts()
        f = self.figures_of(goal, counts)
        assert f.segments is not None  # figures_of splits by default
        config = self.registry.get(goal)
        return GoalSummary(
            goal=goal,
            window=spec.name,
            window_seconds=spec.duration_s,
            window_start=_utc(start_s),
            window_end=_utc(end_s),
            answers=f.answers,
            positive=f.positive,
            neutral=f.neutral,
            negative=f.negative,
            distribution={str(point): count for point, count in f.distribution.items()},
            mean_score=f.mean_score,
            ces_ratio=f.ces_ratio,
            net_effort=f.net_effort,
            most_negative_ratio=f.most_negative_ratio,
            wilson_lower=f.wilson_lower,
            wilson_upper=f.wilson_upper,
            confidence=self.confidence,
            prompts=f.prompts,
            response_ratio=f.response_ratio,
            outcomes={PromptOutcome(name): count for name, count in f.outcomes.items()},
            completion_ratio=f.completion_ratio,
            **split_parts(f.segments),
            target_ces_ratio=config.target_ces_ratio if config else None,
            emitted_at=_utc(now_s),
            measured_effort=MeasuredEffort(
                timed_completions=f.timed_completions,
                retried=f.retried,
                retry_ratio=f.retry_ratio,
                duration_p50_seconds=f.duration_p50_seconds,
                duration_p90_seconds=f.duration_p90_seconds,
                duration_p99_seconds=f.duration_p99_seconds,
                relative_accuracy=DURATION_RELATIVE_ACCURACY,
                duration_histogram={str(key): count for key, count in sorted(counts.durations.items()) if count},
            ),
            funnel=Funnel(
                sent=f.prompts,
                shown=f.shown,
                dismissed=f.dismissed,
                answered=f.answers,
                shown_ratio=f.shown_ratio,
                dismissal_ratio=f.dismissal_ratio,
                response_ratio_shown=f.response_ratio_shown,
            ),
            survey=config.survey if config else "ces",
            nps=None if f.nps is None else nps_summary(f.nps),
            releases=release_figures(recent_releases(self.releases(goal, spec, start_s, end_s), self.release_versions)),
        )

    def due_summaries(self, now_s: float, close_delay_s: float) -> Iterator[GoalSummary]:
        """Summaries of every window period the clock has closed since the last call (quiet goals too).

        A goal's window counts as closed up to its last period once all of its periods were taken:
        a caller that stops early gets the rest (and may get again the ones of the window it
        stopped in) at the next call.
        """
        for goal in self.owned_goals():
            for spec in self.window_specs:
                periods = closed_periods(spec, self.last_closed_end.get((goal, spec.name)), now_s, close_delay_s)
                for start_s, end_s in periods[-MAX_CATCH_UP_PERIODS:]:
                    yield self.summary(goal, spec, start_s, end_s, now_s)
                if periods:
                    self.last_closed_end[(goal, spec.name)] = periods[-1][1]
