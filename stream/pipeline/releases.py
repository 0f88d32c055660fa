"""Release verdicts: the goal stage writes one record when a goal's new release is found worse or better.

The verdict is read from the goal's merged windows (:meth:`GoalWindows.live_verdicts`) after they
change, on the goal stage's clock. A verdict reached is written to ``CES_TOPIC_RELEASE_VERDICTS``
and remembered per goal and channel in a table (changelog partition = the goal's partition), so a
restart or a rebalance does not write it again; a crash between the two may (same key). The time of
each goal and channel's last verdict is exported as ``ces_release_verdict_timestamp_seconds``
(the dashboards' annotation): series of owned goals only, set again from the table after a rebalance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from faust.types import AppT

from stream.ces.goals import GoalWindows, goal_partition
from stream.ces.releases import BETTER, WORSE
from stream.ces.releases.parts import verdict_record
from stream.observability.metrics import CesMetrics
from stream.pipeline.stage_helpers import HAND_BACK_EVERY_S, raw_table
from stream.pipeline.stage_types import Output, RawTable
from stream.settings import Settings

log = logging.getLogger(__name__)


def verdicts_table(app: AppT, settings: Settings) -> RawTable:
    """The table of the verdicts written, partitioned like the goal partials (by goal)."""
    return raw_table(app, "release-verdicts", settings)


class ReleaseVerdicts:
    """Writes each release verdict once, when it is reached.

    :param windows: the goal stage's merged windows (the owned goals).
    :param table: what was written per ``goal|channel`` (:func:`verdicts_table`).
    """

    def __init__(self, settings: Settings, metrics: CesMetrics, windows: GoalWindows, table: RawTable) -> None:
        self.settings = settings
        self.metrics = metrics
        self.windows = windows
        self.table = table
        #: ``goal|channel`` -> the version whose verdict was written (read from the table after a rebalance).
        self.written: dict[str, str] = {}
        #: goal -> (the merged view, its release changes) when its verdicts were last read: unchanged, same verdicts.
        self.read_at: dict[str, tuple[object, int]] = {}

    async def add_due(self, out: Output, now_s: float) -> int:
        """Queue the verdicts reached since the last call (owned goals whose answers per release changed).

        Reading a goal's releases walks its longest window's buckets (about a millisecond): the event
        loop is handed back to the other stages now and then.

        :returns: how many were queued.
        """
        windows = self.windows
        spec = windows.release_window
        if spec is None:
            return 0
        queued = 0
        merged = windows.merged
        slice_started = time.perf_counter()
        for goal in windows.owned_goals():
            changes = merged.release_changes.get(goal)
            if changes is None or self.read_at.get(goal) == (merged, changes):
                continue
            if time.perf_counter() - slice_started >= HAND_BACK_EVERY_S:
                await asyncio.sleep(0)
                if windows.merged is not merged:
                    break  # a rebalance rebuilt the view meanwhile; the next tick reads it again
                slice_started = time.perf_counter()
            self.read_at[goal] = (merged, changes)
            for verdict in windows.live_verdicts(goal, now_s):
                key = f"{goal}|{verdict.channel}"
                if not verdict.decided or self.written.get(key) == verdict.version:
                    continue
                record = verdict_record(goal, windows.surveys[goal], spec.name, verdict, now_s)
                out.add(
                    self.settings.topic_release_verdicts, record.kafka_key().encode(), record.model_dump_json().encode()
                )
                remembered = {"version": verdict.version, "direction": verdict.direction, "at": now_s}
                partition = goal_partition(goal, self.settings.topic_partitions)
                out.put(self.table, partition, key.encode(), orjson.dumps(remembered))
                self.written[key] = verdict.version
                self._export(goal, verdict.channel, verdict.direction, now_s)
                log.info("release verdict: %s", record.text)
                queued += 1
        return queued

    def rebuild(self) -> None:
        """After a rebalance: what was written for the goals now owned, from the table; their timestamps again."""
        self.written.clear()
        self.read_at.clear()
        self.metrics.release_verdict_time.clear()
        owned = set(self.windows.owned_goals())
        for raw_key, data in list(self.table.items()):
            if not data:
                continue
            key = raw_key.decode()
            goal, _, channel = key.partition("|")
            if goal not in owned:
                continue
            try:
                remembered: dict[str, Any] = orjson.loads(data)
                self.written[key] = str(remembered["version"])
                self._export(goal, channel, str(remembered["direction"]), float(remembered["at"]))
            except (ValueError, KeyError, TypeError):  # internal records only; never stop the stage
                log.exception("release verdicts: skipped the table record of %s", key)

    def _export(self, goal: str, channel: str, direction: str, at_s: float) -> None:
        """One series per goal and channel: the last verdict's time, labelled with its direction."""
        gauge = self.metrics.release_verdict_time
        for other in (WORSE, BETTER):
            if other != direction:
                with contextlib.suppress(KeyError):  # no such series yet
                    gauge.remove(goal, channel, other)
        gauge.labels(goal, channel, direction).set(at_s)
