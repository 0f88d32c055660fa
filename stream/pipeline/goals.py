"""Goal stage: merge the per-partition partials by goal, export windows, close them by the clock.

Consumes ``<app_id>-goal-partials`` (keyed by goal, partitioned by
:func:`~stream.ces.goals.partials.goal_partition`), so exactly one worker owns each goal:
its gauges, its JSON figures and its summaries come from that worker only. The
figures themselves come from :class:`~stream.ces.goals.goal_windows.GoalWindows`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from faust.types import AppT, StreamT, TopicT

from stream.ces.goals import (
    BucketCounts,
    GoalWindows,
    MergedGoals,
    Partial,
    PartialKey,
    goal_partition,
    read_batch,
    retention_s_by_resolution,
)
from stream.observability.metrics import CesMetrics
from stream.pipeline.faust_internals import BatchSender, ContinuityGuard, ack, batches
from stream.pipeline.releases import ReleaseVerdicts, verdicts_table
from stream.pipeline.stage_helpers import (
    HAND_BACK_EVERY_S,
    by_partition,
    on_signal,
    owned_partitions,
    raw_table,
    stage_agent,
)
from stream.pipeline.stage_types import Output, StageEvent, required
from stream.settings import Settings

log = logging.getLogger(__name__)


class GoalStage:
    """Merges partials into :class:`GoalWindows`, keeps them in a table, sends closed periods' summaries.

    :param windows: the merged windows this stage keeps up to date (read by /metrics and /api/goals).
    :param topic: the goal-partials topic (a Faust topic) the stage consumes.
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        metrics: CesMetrics,
        windows: GoalWindows,
        topic: TopicT,
        guard: ContinuityGuard,
        known_goals: frozenset[str],
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.windows = windows
        self.topic_name = topic.get_topic_name()
        self.guard = guard
        self.known_goals = known_goals
        self.table = raw_table(app, "goal-partials", settings)
        self.close_delay_s = settings.window_close_delay_seconds
        self.keep_s = retention_s_by_resolution(windows.window_specs, self.close_delay_s + settings.late_grace_seconds)
        self.verdicts = ReleaseVerdicts(settings, metrics, windows, verdicts_table(app, settings))
        stage_agent(app, topic, f"{settings.app_id}.goals", self.run)
        app.timer(settings.tick_interval_seconds, name=f"{settings.app_id}.window-closer")(self.close_windows)
        on_signal(app.on_rebalance_complete, self.rebuild)

    async def run(self, stream: StreamT[bytes]) -> None:
        s = self.settings
        async for events in batches(stream, s.batch_max_events, s.batch_linger_seconds, guard=self.guard):
            out = BatchSender(self.app)
            for partition, group in by_partition(events).items():
                self.merge(out, partition, group)
            await out.send()  # changelog records in Kafka before the batch is acked
            ack(events)
            self.metrics.last_event.labels(self.topic_name).set(time.time())

    def merge(self, out: Output, partition: int, events: Sequence[StageEvent]) -> None:
        """Keep the newest copy of each partial: last writer wins by offset, one table write per key and batch.

        Only the counts of the copies kept are decoded: in a backlog most are overtaken.
        """
        newest: dict[PartialKey, tuple[int, Any]] = {}
        for event in events:
            try:
                for key, hwm, counts in read_batch(required(event.message.value, "value")):
                    held = newest.get(key)
                    if key.goal in self.known_goals and (held is None or hwm > held[0]):
                        newest[key] = (hwm, counts)
            except Exception:  # internal records only; never stop the stage
                log.exception("goal stage skipped %s@%s", partition, event.message.offset)
        merged = self.windows.merged
        for key, (hwm, counts) in newest.items():
            old = merged.partials.get(key)
            if old is not None and old.hwm >= hwm:
                continue  # a copy as new is merged already
            try:
                partial = Partial(hwm, BucketCounts.from_json_obj(counts))
            except Exception:  # internal records only; never stop the stage
                log.exception("goal stage skipped the partial %s of partition %s", key.encode(), partition)
                continue
            if merged.update(key, partial):
                out.put(self.table, partition, key.encode().encode(), partial.to_bytes())

    async def close_windows(self) -> None:
        """Windows close by the clock, so a quiet goal still gets its summaries; release verdicts are read then too."""
        if self.app.rebalancing:
            return
        windows = self.windows
        windows.owned = owned_partitions(self.app, self.topic_name)
        now_s = time.time()
        out = BatchSender(self.app)
        merged = windows.merged
        slice_started = time.perf_counter()
        for summary in windows.due_summaries(now_s, self.close_delay_s):
            out.add(
                self.settings.topic_goal_summaries, summary.kafka_key().encode(), summary.model_dump_json().encode()
            )
            # At a boundary of the long windows every goal closes several (about 0.5 ms each): hand the
            # loop back to the other stages now and then, and stop if a rebalance rebuilt the windows meanwhile.
            if time.perf_counter() - slice_started >= HAND_BACK_EVERY_S:
                await asyncio.sleep(0)
                if self.app.rebalancing or windows.merged is not merged:
                    break
                slice_started = time.perf_counter()
        for resolution_s, keep in self.keep_s.items():
            for key in windows.merged.forget_before(resolution_s, int(now_s) - keep):
                out.put(
                    self.table, goal_partition(key.goal, self.settings.topic_partitions), key.encode().encode(), None
                )
        for buckets in windows.merged.goals.values():
            buckets.prune(now_s, self.keep_s)
        if not self.app.rebalancing and windows.merged is merged:
            await self.verdicts.add_due(out, now_s)
        await out.send()

    async def rebuild(self, sender: object = None, **kwargs: Any) -> None:
        """After recovery, derive the merged view again from the table (owned goals only)."""
        windows = self.windows
        windows.owned = owned_partitions(self.app, self.topic_name)
        windows.merged = MergedGoals()
        for raw_key, data in list(self.table.items()):
            if not data:
                continue
            key = PartialKey.decode(raw_key.decode())
            if (
                key.goal in self.known_goals
                and goal_partition(key.goal, self.settings.topic_partitions) in windows.owned
            ):
                windows.merged.update(key, Partial.from_bytes(data))
        self.verdicts.rebuild()
