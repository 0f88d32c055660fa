"""Tests for stream.pipeline.faust_internals: batch grouping and the explicit changelog partition for table writes."""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import pytest
from faust.streams import _current_event, current_event
from faust.types import TP

from stream.pipeline.faust_internals import writing_to_partition
from stream.pipeline.stage_helpers import by_partition
from tests.paths import PROJECT_ROOT


def event(partition: int, offset: int, topic: str = "t") -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


def offsets(groups):
    return {p: [e.message.offset for e in events] for p, events in groups.items()}


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ([], {}),
        ([(0, 1)], {0: [1]}),
        ([(0, 1), (0, 2), (0, 3)], {0: [1, 2, 3]}),
        ([(1, 10), (0, 5), (1, 11), (2, 7), (0, 6), (1, 12)], {1: [10, 11, 12], 0: [5, 6], 2: [7]}),
        ([(3, 9), (3, 4)], {3: [9, 4]}),  # kept in arrival order, not re-sorted
    ],
    ids=["empty", "one", "one-partition", "interleaved", "arrival-order"],
)
def test_by_partition_groups_and_keeps_order(batch, expected):
    events = [event(p, o) for p, o in batch]
    groups = by_partition(events)
    assert offsets(groups) == expected
    assert list(groups) == list(expected)  # partitions in order of first appearance


def test_by_partition_keeps_the_event_objects():
    events = [event(0, 1), event(1, 2), event(0, 3)]
    groups = by_partition(events)
    assert groups[0][0] is events[0] and groups[0][1] is events[2] and groups[1][0] is events[1]


def test_writing_to_partition_sets_the_current_event_and_resets_it():
    assert current_event() is None
    with writing_to_partition("ces-stream-user-events", 5):
        ev = current_event()
        assert ev is not None
        assert ev.message.topic == "ces-stream-user-events"
        assert ev.message.partition == 5
    assert current_event() is None


def test_writing_to_partition_nests_and_restores_the_outer_one():
    with writing_to_partition("a", 1):
        with writing_to_partition("b", 2):
            assert (current_event().message.topic, current_event().message.partition) == ("b", 2)
        assert (current_event().message.topic, current_event().message.partition) == ("a", 1)
    assert current_event() is None


def test_writing_to_partition_restores_a_real_stream_event():
    class Event:  # SimpleNamespace cannot be weakly referenced
        message = SimpleNamespace(topic="ces.goal-events", partition=0)

    real = Event()
    token = _current_event.set(weakref.ref(real))
    try:
        with writing_to_partition("ces-stream-goal-partials", 3):
            assert current_event().message.partition == 3
        assert current_event() is real
    finally:
        _current_event.reset(token)


def test_writing_to_partition_resets_after_an_exception():
    with pytest.raises(RuntimeError), writing_to_partition("t", 7):
        raise RuntimeError("boom")
    assert current_event() is None


async def test_writing_to_partition_holds_across_awaits():
    import asyncio

    with writing_to_partition("t", 4):
        await asyncio.sleep(0)
        assert current_event().message.partition == 4
    assert current_event() is None


# --- the batch drain, the batch sender, the flow hold and the seek of uncommitted partitions,
# on Faust's and aiokafka's own objects (never started; nothing talks to a broker) -------------

import asyncio  # noqa: E402
import importlib.metadata  # noqa: E402
import time  # noqa: E402
from unittest.mock import AsyncMock, Mock, call  # noqa: E402

import faust  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.structs import RecordMetadata, TopicPartition  # noqa: E402
from kafka.partitioner.default import murmur2  # noqa: E402

from stream.pipeline.faust_internals import (  # noqa: E402
    VERIFIED_VERSIONS,
    BatchSender,
    batches,
    hold_stream_until_seeked,
    seek_uncommitted_to_beginning,
    unverified_versions,
)


@pytest.fixture
def app():
    app = faust.App("internals-test", broker="kafka://127.0.0.1:9", autodiscover=False)
    app.flow_control.resume()  # else a channel's put waits forever
    return app


async def drain(app, puts, *, max_events=3, idle_s=None, linger_s=0.0, want=1):
    """Start draining a channel, put the items (lists put together, numbers are pauses), collect ``want`` batches."""
    channel = app.channel()
    got: list[list] = []

    async def consume():
        async for batch in batches(app.stream(channel), max_events, linger_s, idle_s):
            got.append([event.value for event in batch])
            if len(got) == want:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)  # subscribed
    for item in puts:
        if isinstance(item, float):
            await asyncio.sleep(item)
        else:
            for value in item:
                await channel.put(fake_event(value))
    await asyncio.wait_for(task, 5)
    return got


def fake_event(value: int) -> SimpleNamespace:
    """What the conductor queues, as far as batches reads it: the value, and the message's partition."""
    return SimpleNamespace(value=value, message=SimpleNamespace(tp=TP("t", value % 2)))


async def test_batches_take_everything_queued_up_to_the_maximum(app):
    assert await drain(app, [[1, 2, 3, 4, 5]], max_events=3, want=2) == [[1, 2, 3], [4, 5]]


async def test_batches_mark_their_partitions_as_taken_by_a_stream(app):
    # Faust's consumer logs "Stream has not started processing" for a lagging partition without a mark.
    inbound = app.monitor.stream_inbound_time
    inbound.clear()
    before = time.monotonic()
    assert await drain(app, [[1, 2, 3]], max_events=2, want=2) == [[1, 2], [3]]
    assert set(inbound) == {TP("t", 0), TP("t", 1)}
    assert all(before <= at <= time.monotonic() for at in inbound.values())


async def test_batches_yield_an_empty_batch_after_the_idle_time(app):
    assert await drain(app, [[1], 0.3], idle_s=0.1, want=2) == [[1], []]


async def test_batches_linger_collects_what_arrives_soon_after_the_first_event(app):
    assert await drain(app, [[1], 0.01, [2, 3]], max_events=10, linger_s=0.1) == [[1, 2, 3]]
    assert await drain(app, [[1], 0.2, [2, 3]], max_events=10, want=2) == [[1], [2, 3]]


def test_the_flow_stays_stopped_from_rebalance_complete_until_faust_resumes_it(app):
    hold_stream_until_seeked(app)
    app.consumer.resume_flow()
    asyncio.run(app.on_rebalance_complete.send())
    assert app.consumer.flow_active is False


async def test_seek_to_committed_rewinds_partitions_with_no_committed_offset(app, monkeypatch):
    never, zero, committed = (TopicPartition("in", p) for p in range(3))
    table = app.Table("state", default=None)
    changelog = TopicPartition(table.changelog_topic.get_topic_name(), 0)  # never committed, left to recovery

    class Consumer:  # the aiokafka consumer inside Faust's consumer thread
        seek_to_committed = AsyncMock(return_value={never: None, zero: 0, committed: 42, changelog: None})
        seek = Mock()

    thread = app.consumer._thread
    monkeypatch.setattr(thread, "_ensure_consumer", lambda: Consumer)
    monkeypatch.setattr(thread, "call_thread", lambda fun, *args: fun(*args))
    seek_uncommitted_to_beginning(app)
    await app.on_partitions_assigned.send(set())
    assert await app.consumer.seek_to_committed() == {never: None, zero: 0, committed: 42, changelog: None}
    assert Consumer.seek.call_args_list == [call(never, 0), call(zero, 0)]


class FakeProducer(AIOKafkaProducer):
    """aiokafka's producer with its partitioner and record batches, and a broker that numbers what it gets."""

    def __init__(self, partitions: int) -> None:
        super().__init__(bootstrap_servers="127.0.0.1:9")
        self.client._wait_on_metadata = AsyncMock()
        self.client.add_topic = self._track
        self._metadata.partitions_for_topic = lambda topic: set(range(partitions))
        self._metadata.available_partitions_for_topic = lambda topic: set(range(partitions))
        self.sent: list[tuple[str, int, int]] = []
        self.tracked: list[str] = []

    def _track(self, topic):
        self.tracked.append(topic)
        done = asyncio.get_running_loop().create_future()
        done.set_result(True)
        return done

    async def send_batch(self, batch, topic, *, partition):
        assert topic in self.tracked, "a topic is tracked for metadata before the first batch is sent to it"
        self.sent.append((topic, partition, batch.record_count()))
        done = asyncio.get_running_loop().create_future()
        done.set_result(RecordMetadata(topic, partition, TopicPartition(topic, partition), 100, None, 0, 0))
        return done


def sender_for(producer) -> BatchSender:
    return BatchSender(SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer)))


async def test_batch_sender_partitions_keys_as_the_java_client_does_and_sends_one_batch_per_partition():
    producer = FakeProducer(partitions=8)
    out = sender_for(producer)
    keys = [f"user-{i}".encode() for i in range(200)]
    for key in keys:
        out.add("prompts", key, b"v")
    out.add("partials", b"g", b"x", partition=5)
    out.add("partials", b"g", b"y", partition=5)
    await out.send()
    expected: dict[int, int] = {}
    for key in keys:
        partition = (murmur2(key) & 0x7FFFFFFF) % 8  # kafka-python's copy of the Java client's partitioner
        expected[partition] = expected.get(partition, 0) + 1
    assert {p: n for topic, p, n in producer.sent if topic == "prompts"} == expected
    assert [(t, p, n) for t, p, n in producer.sent if t == "partials"] == [("partials", 5, 2)]
    await out.send()  # nothing left: nothing sent again
    assert sum(n for _, _, n in producer.sent) == 202


async def test_batch_sender_writes_the_store_and_records_the_changelog_offset():
    producer = FakeProducer(partitions=4)
    out = sender_for(producer)

    class Store(dict):
        def __init__(self):
            super().__init__()
            self.persisted = {}

        def set_persisted_offset(self, tp, offset):
            self.persisted[tp] = offset

    table = SimpleNamespace(data=Store(), changelog_topic=SimpleNamespace(get_topic_name=lambda: "app-users-changelog"))
    out.put(table, 2, b"u1", b"state-1")
    out.put(table, 2, b"u2", b"state-2")
    out.put(table, 2, b"gone", None)  # deleting a key that is not there writes nothing
    await out.send()
    assert table.data == {b"u1": b"state-1", b"u2": b"state-2"}
    assert producer.sent == [("app-users-changelog", 2, 2)]
    assert table.data.persisted == {TP("app-users-changelog", 2): 101}  # base offset 100 + 2 records - 1


def test_the_installed_versions_are_the_verified_ones():
    """constraints.txt and VERIFIED_VERSIONS must move together."""
    assert unverified_versions() == []
    pinned = dict(
        line.split("==")
        for line in (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert {package: pinned[package] for package in VERIFIED_VERSIONS} == VERIFIED_VERSIONS


def test_unverified_versions_names_each_difference():
    def installed(package):
        if package == "mode-streaming":
            raise importlib.metadata.PackageNotFoundError(package)
        return "0.16.0" if package == "faust-streaming" else VERIFIED_VERSIONS[package]

    assert unverified_versions(installed) == [
        "faust-streaming 0.16.0 is installed; ces-stream's Faust plumbing was verified on 0.15.3",
        "mode-streaming is not installed; ces-stream's Faust plumbing was verified on 0.7.1",
    ]
