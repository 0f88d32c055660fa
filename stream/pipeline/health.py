"""What ``/health`` says: ready = partitions assigned, the broker answering, no partition stalled.

Every ``CES_HEALTH_CHECK_SECONDS`` the worker asks the broker for its metadata (on a
connection of its own) and looks at each owned partition: a partition whose committed
offset has not moved for ``CES_STALL_SECONDS`` while records wait is stalled. Both go to
``/health`` and to metrics; the same check exports the consumer lag.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from faust.types import AppT

from stream.infra.broker_probe import BrokerProbe
from stream.observability.metrics import CesMetrics
from stream.pipeline.faust_internals import consumer_lag, partition_offsets
from stream.pipeline.stage_helpers import on_signal
from stream.pipeline.stalls import StallDetector
from stream.settings import Settings

log = logging.getLogger(__name__)


class Health:
    """The worker's health, checked on a timer; :meth:`state` is the body of ``/health``.

    :param topics: the consumed topics (inputs and internal streams) to watch.
    """

    def __init__(self, app: AppT, settings: Settings, metrics: CesMetrics, topics: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.topics = topics
        self.probe = BrokerProbe(settings, timeout_s=min(settings.health_check_seconds, 10.0))
        self.stalls = StallDetector(settings.stall_seconds)
        self.rebalanced_once = False
        self.unreachable_since: float | None = None  # None while the broker answers
        self.stalled: set[tuple[str, int]] = set()
        metrics.broker_reachable.set(1)  # the worker starts only after creating its topics on the broker
        on_signal(app.on_rebalance_complete, self._on_rebalance_complete)
        on_signal(app.on_before_shutdown, self._stop)
        app.timer(settings.health_check_seconds, name=f"{settings.app_id}.health")(self.check)

    async def _on_rebalance_complete(self, sender: object = None, **kwargs: Any) -> None:
        self.rebalanced_once = True
        self.stalls.forget()

    async def _stop(self, sender: object = None, **kwargs: Any) -> None:
        await self.probe.stop()

    async def check(self) -> None:
        reachable = await self.probe.reachable()
        now_s = time.time()
        if reachable and self.unreachable_since is not None:
            log.warning("the broker answers again after %.0f s", now_s - self.unreachable_since)
            self.unreachable_since = None
        elif not reachable and self.unreachable_since is None:
            log.error(
                "the broker does not answer (%s); the worker goes on retrying",
                ", ".join(self.probe.settings.bootstrap_servers),
            )
            self.unreachable_since = now_s
        offsets = partition_offsets(self.app.consumer, self.topics) if self.rebalanced_once else {}
        self.stalled = set() if self.app.rebalancing else self.stalls.observe(now_s, offsets)
        self._export(offsets)

    def _export(self, offsets: dict[tuple[str, int], tuple[int, int]]) -> None:
        m = self.metrics
        for topic, value in consumer_lag(offsets, self.topics).items():
            m.consumer_lag.labels(topic).set(value)
        for topic in self.topics:
            m.stalled_partitions.labels(topic).set(sum(1 for t, _ in self.stalled if t == topic))
        m.broker_reachable.set(1 if self.unreachable_since is None else 0)
        m.worker_ready.set(1 if self.state()["ready"] else 0)

    def state(self) -> dict[str, Any]:
        assignment = self.app.consumer.assignment() if self.rebalanced_once else set()
        assigned = self.rebalanced_once and not self.app.rebalancing
        reachable = self.unreachable_since is None
        return {
            "ready": assigned and reachable and not self.stalled,
            "assigned_partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assignment),
            "broker_reachable": reachable,
            "broker_unreachable_since": self.unreachable_since,
            "stalled_partitions": sorted(f"{topic}:{partition}" for topic, partition in self.stalled),
        }
