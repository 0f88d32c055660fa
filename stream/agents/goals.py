"""Goal stage: merge the per-partition partials by goal, export windows, close them by the clock.

Consumes ``<app_id>-goal-partials`` (keyed by goal, partitioned by
:func:`~stream.partials.goal_partition`), so exactly one worker owns each goal:
its gauges, its JSON figures and its summaries come from that worker only.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any


from schemas import GoalSummary
from stream.agents.glue import BatchSender, ContinuityGuard, ack, batches, by_partition, owned_partitions, raw_table
from stream.buckets import BucketCounts
from stream.partials import MergedGoals, Partial, PartialKey, decode_batch, goal_partition
from stream.stats import WindowFigures, figures
from stream.windows import WindowSpec, closed_periods, retention_s_by_resolution

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
# After a long outage, summarise at most this many missed periods per goal and window.
MAX_CATCH_UP_PERIODS = 12


def _utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=timezone.utc)


class GoalWindows:
    """The goal stage's in-memory state and the figures read from it."""

    def __init__(self, pipeline: "Pipeline") -> None:
        self.pipeline = pipeline
        self.merged = MergedGoals()
        self.last_closed_end: dict[tuple[str, str], int] = {}
        self.owned: set[int] = set()
        # Read once: registry lookups are pydantic attribute access, too slow per scrape row.
        self.scales = {goal.slug: goal.scale_obj() for goal in pipeline.registry.goals}

    def owned_goals(self) -> list[str]:
        partitions = self.pipeline.settings.topic_partitions
        return [slug for slug in self.pipeline.registry.slugs if goal_partition(slug, partitions) in self.owned]

    def figures_of(self, goal: str, counts: BucketCounts) -> WindowFigures:
        scale = self.scales[goal]
        return figures(counts, scale.points, scale.most_negative, self.pipeline.settings.wilson_confidence)

    def snapshot(self, now_s: float | None = None) -> list[tuple[str, WindowSpec, WindowFigures]]:
        """Sliding-window figures of every goal this worker owns, at ``now_s``."""
        now_s = time.time() if now_s is None else now_s
        rows = []
        for goal in self.owned_goals():
            buckets = self.merged.goals.get(goal)
            for spec in self.pipeline.window_specs:
                counts = buckets.window_counts(spec, now_s) if buckets is not None else BucketCounts()
                rows.append((goal, spec, self.figures_of(goal, counts)))
        return rows

    def summary(self, goal: str, spec: WindowSpec, start_s: int, end_s: int, now_s: float) -> GoalSummary:
        buckets = self.merged.goals.get(goal)
        counts = buckets.period_counts(spec, start_s, end_s) if buckets is not None else BucketCounts()
        f = self.figures_of(goal, counts)
        config = self.pipeline.registry.get(goal)
        return GoalSummary(
            goal=goal, window=spec.name, window_seconds=spec.duration_s,
            window_start=_utc(start_s), window_end=_utc(end_s),
            answers=f.answers, positive=f.positive, neutral=f.neutral, negative=f.negative,
            distribution={str(point): count for point, count in f.distribution.items()},
            mean_score=f.mean_score, ces_ratio=f.ces_ratio, net_effort=f.net_effort,
            most_negative_ratio=f.most_negative_ratio, wilson_lower=f.wilson_lower, wilson_upper=f.wilson_upper,
            confidence=self.pipeline.settings.wilson_confidence, prompts=f.prompts, response_ratio=f.response_ratio,
            outcomes=f.outcomes, completion_ratio=f.completion_ratio,
            target_ces_ratio=config.target_ces_ratio if config else None, emitted_at=_utc(now_s),
        )

    def due_summaries(self, now_s: float, close_delay_s: float) -> list[GoalSummary]:
        """Summaries of every window period the clock has closed since the last call (quiet goals too)."""
        out = []
        for goal in self.owned_goals():
            for spec in self.pipeline.window_specs:
                periods = closed_periods(spec, self.last_closed_end.get((goal, spec.name)), now_s, close_delay_s)
                for start_s, end_s in periods[-MAX_CATCH_UP_PERIODS:]:
                    out.append(self.summary(goal, spec, start_s, end_s, now_s))
                if periods:
                    self.last_closed_end[(goal, spec.name)] = periods[-1][1]
        return out


def register(p: "Pipeline") -> None:
    s = p.settings
    app = p.app
    metrics = p.metrics
    partitions = s.topic_partitions
    topic_name = p.goal_partials_topic.get_topic_name()
    table = raw_table(app, "goal-partials", partitions)
    windows = GoalWindows(p)
    p.goal_windows = windows
    metrics.windows.source = windows  # gauges read the owned goals' windows at scrape time
    close_delay_s = s.window_close_delay_seconds
    keep_s = retention_s_by_resolution(p.window_specs, close_delay_s + s.late_grace_seconds)

    guard = ContinuityGuard(app, p.record_reader, metrics)

    @app.agent(p.goal_partials_topic, name=f"{s.app_id}.goals")
    async def goal_stage(stream: Any) -> None:
        async for events in batches(stream, s.batch_max_events, s.batch_linger_seconds, guard=guard):
            out = BatchSender(app)
            for partition, group in by_partition(events).items():
                newest: dict[PartialKey, Partial] = {}
                for event in group:
                    try:
                        for key, partial in decode_batch(event.message.value):
                            held = newest.get(key)
                            if key.goal in p.known_goals and (held is None or partial.hwm > held.hwm):
                                newest[key] = partial
                    except Exception:  # internal records only; never stop the stage
                        log.exception("goal stage skipped %s@%s", partition, event.message.offset)
                # Last writer wins by offset, and one table write per key and batch.
                for key, partial in newest.items():
                    if windows.merged.update(key, partial):
                        out.put(table, partition, key.encode().encode(), partial.to_bytes())
            await out.send()  # changelog records in Kafka before the batch is acked
            ack(events)
            metrics.last_event.labels(topic_name).set(time.time())

    @app.timer(s.tick_interval_seconds, name=f"{s.app_id}.window-closer")
    async def close_windows() -> None:
        """Windows close by the clock, so a quiet goal still gets its summaries."""
        if app.rebalancing:
            return
        windows.owned = owned_partitions(app, topic_name)
        now_s = time.time()
        out = BatchSender(app)
        for summary in windows.due_summaries(now_s, close_delay_s):
            out.add(s.topic_goal_summaries, summary.kafka_key().encode(), summary.model_dump_json().encode())
        for resolution_s, keep in keep_s.items():
            for key in windows.merged.forget_before(resolution_s, int(now_s) - keep):
                out.put(table, goal_partition(key.goal, partitions), key.encode().encode(), None)
        for buckets in windows.merged.goals.values():
            buckets.prune(now_s, keep_s)
        await out.send()

    async def rebuild(sender: Any = None, **kwargs: Any) -> None:
        """After recovery, derive the merged view again from the table (owned goals only)."""
        windows.owned = owned_partitions(app, topic_name)
        windows.merged = MergedGoals()
        for raw_key, data in list(table.items()):
            if not data:
                continue
            key = PartialKey.decode(raw_key.decode())
            if key.goal in p.known_goals and goal_partition(key.goal, partitions) in windows.owned:
                windows.merged.update(key, Partial.from_bytes(data))

    app.on_rebalance_complete.connect(rebuild)
