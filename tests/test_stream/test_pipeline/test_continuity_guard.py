"""The stage guard against skipped offsets, on Faust's own ack and commit bookkeeping.

The consumer here is Faust's real aiokafka consumer object (never started): its
``ack`` and ``_new_offset`` decide what a commit would cover. The broker read of a
hole is replaced by a fake reader that answers from a list of records.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar
from unittest.mock import AsyncMock

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from stream.observability.metrics import CesMetrics
from stream.pipeline import stage_helpers
from stream.pipeline.faust_internals import ContinuityGuard, ack

TOPIC = "answers"
TP0 = TP(TOPIC, 0)


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 1_700_000_000_000, 0, b"k", b"v%d" % offset, None, 1, 2, ())


class Event:
    """What Faust hands a stage: a message and an ack."""

    def __init__(self, message, consumer) -> None:
        self.message = message
        self._consumer = consumer

    def ack(self) -> bool:
        return self.message.ack(self._consumer)


class FakeReader:
    def __init__(self, records=(), error: Exception | None = None) -> None:
        self.records = list(records)
        self.error = error
        self.reads: list[tuple[str, int, int, int]] = []

    async def read_range(self, topic, partition, start, end, limit):
        self.reads.append((topic, partition, start, end))
        if self.error is not None:
            raise self.error
        return [r for r in self.records if start <= r.offset < end]


@pytest.fixture
async def consumer():
    app = faust.App("guard-test", broker="kafka://127.0.0.1:9", autodiscover=False)
    app.topics.add(app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"))
    await app.topics._update_indices()  # the conductor learns that the topic is acked
    return app.consumer


def metrics() -> CesMetrics:
    return CesMetrics(goals=[], input_topics=[TOPIC], consumed_topics=[TOPIC])


def events(consumer, offsets) -> list[Event]:
    return [Event(consumer._to_message(TP0, record(o)), consumer) for o in offsets]


async def test_faust_alone_commits_past_a_hole_on_a_partition_with_no_committed_offset(consumer):
    """The hazard the guard exists for (issue 9): acked 5000-5002, Faust would commit 5003."""
    ack(events(consumer, [5000, 5001, 5002]))
    assert consumer._new_offset(TP0) == 5003


async def test_a_skipped_first_fetch_is_read_back_in_order_and_the_commit_covers_it(consumer):
    m = metrics()
    reader = FakeReader(record(o) for o in range(5000))
    guard = ContinuityGuard(consumer.app, reader, m)
    batch = await guard.contiguous(events(consumer, [5000, 5001, 5002]))
    assert [e.message.offset for e in batch] == list(range(5003))
    assert reader.reads == [(TOPIC, 0, 0, 5000)]
    assert batch[0].message.value == b"v0" and batch[0].message.timestamp == 1_700_000_000.0
    ack(batch)
    assert consumer._new_offset(TP0) == 5003
    assert m.offset_gaps.labels(TOPIC, "records_read_back")._value.get() == 1
    assert m.offset_gap_records.labels(TOPIC)._value.get() == 5000


async def test_a_hole_in_the_middle_after_a_commit_is_read_back(consumer):
    consumer._committed_offset[TP0] = 10
    reader = FakeReader(record(o) for o in range(12, 15))
    guard = ContinuityGuard(consumer.app, reader, metrics())
    first = await guard.contiguous(events(consumer, [10, 11]))
    second = await guard.contiguous(events(consumer, [15, 16]))
    assert [e.message.offset for e in first + second] == [10, 11, 12, 13, 14, 15, 16]
    ack(first)
    assert consumer._new_offset(TP0) == 12
    consumer._committed_offset[TP0] = 12  # what Faust's commit records
    ack(second)
    assert consumer._new_offset(TP0) == 17


async def test_an_empty_hole_is_legitimate_and_only_counted(consumer):
    """Transaction markers, compaction and retention leave holes with no record in them."""
    m = metrics()
    guard = ContinuityGuard(consumer.app, FakeReader([]), m)
    batch = await guard.contiguous(events(consumer, [0, 1, 3, 4]))
    assert [e.message.offset for e in batch] == [0, 1, 3, 4]
    assert m.offset_gaps.labels(TOPIC, "no_records")._value.get() == 1
    assert m.offset_gaps.labels(TOPIC, "records_read_back")._value.get() == 0


async def test_replays_after_a_seek_back_pass_without_a_read(consumer):
    reader = FakeReader([])
    guard = ContinuityGuard(consumer.app, reader, metrics())
    batch = await guard.contiguous(events(consumer, [0, 1, 2, 0, 1, 2, 3]))
    assert [e.message.offset for e in batch] == [0, 1, 2, 0, 1, 2, 3] and reader.reads == []


class RecordedDeadline:
    """Stands in for the stop deadline: the real one would end the test process."""

    armed: ClassVar[list[tuple[float, int, str]]] = []

    def __init__(self, timeout_s: float, exit_code: int) -> None:
        self.timeout_s, self.exit_code = timeout_s, exit_code

    def arm(self, cause: str) -> None:
        self.armed.append((self.timeout_s, self.exit_code, cause))


async def test_a_hole_that_cannot_be_read_stops_the_worker_and_nothing_past_it_is_acked(consumer, monkeypatch):
    m = metrics()
    crash = AsyncMock()
    monkeypatch.setattr(consumer.app, "crash", crash)
    monkeypatch.setattr(stage_helpers, "StopDeadline", RecordedDeadline)
    RecordedDeadline.armed.clear()
    monkeypatch.setattr(ContinuityGuard, "ATTEMPTS", 1)
    guard = ContinuityGuard(consumer.app, FakeReader(error=TimeoutError("broker gone")), m)
    batch = events(consumer, [0, 1, 7, 8])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(guard.contiguous(batch), timeout=0.5)  # the stage never gets the batch
    crash.assert_awaited_once()
    assert "offsets 2-6" in str(crash.await_args.args[0])
    [(_, exit_code, cause)] = RecordedDeadline.armed  # and a shutdown that hangs still ends
    assert exit_code == stage_helpers.EX_SOFTWARE and "offsets 2-6" in cause
    assert consumer._new_offset(TP0) is None  # nothing acked, nothing to commit
    assert m.offset_gaps.labels(TOPIC, "unreadable")._value.get() == 1


async def test_a_new_assignment_starts_again_from_the_committed_offset(consumer):
    reader = FakeReader([])
    guard = ContinuityGuard(consumer.app, reader, metrics())
    await guard.contiguous(events(consumer, [0, 1, 2]))
    await consumer.app.on_partitions_assigned.send(set())
    consumer._committed_offset[TP0] = 40
    await guard.contiguous(events(consumer, [40, 41]))
    assert reader.reads == []


async def test_mid_rebalance_batches_pass_unchecked_and_tracking_restarts_after_it(consumer):
    """A revoked partition's committed offset is gone mid-rebalance: no false hole from offset 0."""
    reader = FakeReader([])
    guard = ContinuityGuard(consumer.app, reader, metrics())
    await guard.contiguous(events(consumer, [500, 501]))  # committed 0: a hole 0-499 is read (empty here)
    assert reader.reads == [(TOPIC, 0, 0, 500)]
    consumer.app.rebalancing = True
    assert [e.message.offset for e in await guard.contiguous(events(consumer, [900, 901]))] == [900, 901]
    consumer.app.rebalancing = False
    consumer._committed_offset[TP0] = 902
    assert [e.message.offset for e in await guard.contiguous(events(consumer, [902]))] == [902]
    assert reader.reads == [(TOPIC, 0, 0, 500)]
