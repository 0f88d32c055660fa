"""A goal's merged windows and the figures and summaries read from them (the goal stage's state).

Pure: the goal stage (``stream.pipeline.goals``) feeds it partials and asks it for
the exported figures and for the summaries of periods the clock has closed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone

from schemas import GoalSummary
from stream.ces.buckets import BucketCounts
from stream.ces.partials import MergedGoals, goal_partition
from stream.ces.registry import GoalRegistry
from stream.ces.stats import WindowFigures, figures
from stream.ces.windows import WindowSpec, closed_periods

# After a long outage, summarise at most this many missed periods per goal and window.
MAX_CATCH_UP_PERIODS = 12


def _utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=timezone.utc)


class GoalWindows:
    """The goal stage's in-memory state and the figures read from it."""

    def __init__(self, registry: GoalRegistry, window_specs: Sequence[WindowSpec], partitions: int, confidence: float) -> None:
        self.registry = registry
        self.window_specs = tuple(window_specs)
        self.partitions = partitions
        self.confidence = confidence
        self.merged = MergedGoals()
        self.last_closed_end: dict[tuple[str, str], int] = {}
        self.owned: set[int] = set()
        # Read once: registry lookups are pydantic attribute access, too slow per scrape row.
        self.scales = {goal.slug: goal.scale_obj() for goal in registry.goals}

    def owned_goals(self) -> list[str]:
        return [slug for slug in self.registry.slugs if goal_partition(slug, self.partitions) in self.owned]

    def figures_of(self, goal: str, counts: BucketCounts) -> WindowFigures:
        scale = self.scales[goal]
        return figures(counts, scale.points, scale.most_negative, self.confidence)

    def snapshot(self, now_s: float | None = None) -> list[tuple[str, WindowSpec, WindowFigures]]:
        """Sliding-window figures of every goal this worker owns, at ``now_s``."""
        now_s = time.time() if now_s is None else now_s
        rows = []
        for goal in self.owned_goals():
            buckets = self.merged.goals.get(goal)
            for spec in self.window_specs:
                counts = buckets.window_counts(spec, now_s) if buckets is not None else BucketCounts()
                rows.append((goal, spec, self.figures_of(goal, counts)))
        return rows

    def summary(self, goal: str, spec: WindowSpec, start_s: int, end_s: int, now_s: float) -> GoalSummary:
        buckets = self.merged.goals.get(goal)
        counts = buckets.period_counts(spec, start_s, end_s) if buckets is not None else BucketCounts()
        f = self.figures_of(goal, counts)
        config = self.registry.get(goal)
        return GoalSummary(
            goal=goal, window=spec.name, window_seconds=spec.duration_s,
            window_start=_utc(start_s), window_end=_utc(end_s),
            answers=f.answers, positive=f.positive, neutral=f.neutral, negative=f.negative,
            distribution={str(point): count for point, count in f.distribution.items()},
            mean_score=f.mean_score, ces_ratio=f.ces_ratio, net_effort=f.net_effort,
            most_negative_ratio=f.most_negative_ratio, wilson_lower=f.wilson_lower, wilson_upper=f.wilson_upper,
            confidence=self.confidence, prompts=f.prompts, response_ratio=f.response_ratio,
            outcomes=f.outcomes, completion_ratio=f.completion_ratio,
            target_ces_ratio=config.target_ces_ratio if config else None, emitted_at=_utc(now_s),
        )

    def due_summaries(self, now_s: float, close_delay_s: float) -> list[GoalSummary]:
        """Summaries of every window period the clock has closed since the last call (quiet goals too)."""
        out = []
        for goal in self.owned_goals():
            for spec in self.window_specs:
                periods = closed_periods(spec, self.last_closed_end.get((goal, spec.name)), now_s, close_delay_s)
                for start_s, end_s in periods[-MAX_CATCH_UP_PERIODS:]:
                    out.append(self.summary(goal, spec, start_s, end_s, now_s))
                if periods:
                    self.last_closed_end[(goal, spec.name)] = periods[-1][1]
        return out


