"""Health: /health is ready only with partitions assigned, the broker answering and nothing stalled."""

from __future__ import annotations

from faust.types import TP

from stream.observability.metrics import CesMetrics
from stream.pipeline.health import Health
from stream.settings import Settings

TOPIC = "ces.goal-events"


class Signal:
    def connect(self, fn):
        return fn


class FakeConsumer:
    def __init__(self) -> None:
        self._committed_offset = {TP(TOPIC, 0): 10}
        self._read_offset: dict = {}

    def assignment(self) -> set[TP]:
        return {TP(TOPIC, 0)}

    def highwater(self, tp: TP) -> int:
        return 50  # records always waiting


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.rebalancing = False
        self.on_rebalance_complete = Signal()
        self.on_before_shutdown = Signal()

    def timer(self, interval, name):
        return lambda fn: fn


class FakeProbe:
    def __init__(self) -> None:
        self.answers = True
        self.settings = Settings()

    async def reachable(self) -> bool:
        return self.answers


def health(stall_s: float = 120.0) -> tuple[Health, FakeApp, FakeProbe, CesMetrics]:
    app = FakeApp()
    metrics = CesMetrics(goals=["g"], input_topics=[TOPIC], consumed_topics=[TOPIC], targets={})
    h = Health(app, Settings(stall_seconds=stall_s), metrics, {TOPIC})
    h.probe = probe = FakeProbe()
    return h, app, probe, metrics


async def test_not_ready_before_the_first_rebalance_then_ready():
    h, _app, _, metrics = health()
    await h.check()
    assert h.state()["ready"] is False
    await h._on_rebalance_complete()
    await h.check()
    assert h.state() == {
        "ready": True,
        "assigned_partitions": [f"{TOPIC}:0"],
        "broker_reachable": True,
        "broker_unreachable_since": None,
        "stalled_partitions": [],
    }
    assert metrics.worker_ready._value.get() == 1 and metrics.consumer_lag.labels(TOPIC)._value.get() == 40


async def test_a_broker_that_does_not_answer_makes_it_not_ready_until_it_answers_again():
    h, _, probe, metrics = health()
    await h._on_rebalance_complete()
    probe.answers = False
    await h.check()
    first = h.state()
    await h.check()
    assert first["ready"] is False and first["broker_reachable"] is False
    assert h.state()["broker_unreachable_since"] == first["broker_unreachable_since"] is not None
    assert (metrics.broker_reachable._value.get(), metrics.worker_ready._value.get()) == (0, 0)
    probe.answers = True
    await h.check()
    assert h.state()["ready"] is True and metrics.broker_reachable._value.get() == 1


async def test_a_stalled_partition_makes_it_not_ready(monkeypatch):
    h, _, _, metrics = health(stall_s=60)
    await h._on_rebalance_complete()
    clock = iter([1000.0, 1061.0])
    monkeypatch.setattr("stream.pipeline.health.time.time", lambda: next(clock))
    await h.check()
    assert h.state()["ready"] is True
    await h.check()  # the commit stood at 10 for 61 s with records waiting
    assert h.state()["ready"] is False and h.state()["stalled_partitions"] == [f"{TOPIC}:0"]
    assert metrics.stalled_partitions.labels(TOPIC)._value.get() == 1


async def test_no_stall_while_a_rebalance_is_in_progress(monkeypatch):
    h, app, _, _ = health(stall_s=60)
    await h._on_rebalance_complete()
    clock = iter([1000.0, 1061.0])
    monkeypatch.setattr("stream.pipeline.health.time.time", lambda: next(clock))
    await h.check()
    app.rebalancing = True
    await h.check()
    assert h.state()["stalled_partitions"] == [] and h.state()["ready"] is False
