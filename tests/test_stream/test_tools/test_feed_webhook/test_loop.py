"""The Kafka loop: a thread per partition, offsets committed only behind finished records, stops and rebalances.

The consumer is a fake with kafka-python's interface; deliveries are scripted per record.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from kafka.errors import CommitFailedError, TopicAuthorizationFailedError
from kafka.structs import TopicPartition

from stream.errors import CesError
from stream.tools.feed_webhook import loop as loop_module
from stream.tools.feed_webhook.loop import FeedLoop, PartitionLane
from tests.harness import wait_until

TOPIC = "ces.high-effort-answers"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@dataclass(frozen=True)
class FakeRecord:
    partition: int
    offset: int
    topic: str = TOPIC
    timestamp: int = 0
    key: bytes | None = None
    value: bytes | None = b"{}"


def records(partition: int, *offsets: int) -> list[FakeRecord]:
    return [FakeRecord(partition, offset) for offset in offsets]


class FakeConsumer:
    """kafka-python's KafkaConsumer as the loop uses it: scripted poll results, recorded commits."""

    def __init__(self, batches: list[dict[TopicPartition, list[FakeRecord]]] | None = None) -> None:
        self.batches = list(batches or [])
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused_partitions: set[TopicPartition] = set()
        self.listener: Any = None
        self.poll_error: Exception | None = None
        self.commit_error: Exception | None = None
        self.on_commit: Any = None
        self.seeks: list[tuple[TopicPartition, int]] = []  # seek_to_beginning as offset 0
        self.lock = threading.Lock()

    def subscribe(self, topics: list[str], listener: Any) -> None:
        assert topics == [TOPIC]
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[FakeRecord]]:
        if self.poll_error is not None:
            raise self.poll_error
        if self.batches:
            return self.batches.pop(0)
        threading.Event().wait(0.005)  # an idle poll takes its time, as the real one does
        return {}

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_partitions)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused_partitions.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused_partitions.difference_update(partitions)

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        with self.lock:
            self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        if self.on_commit is not None:
            self.on_commit(self.commits[-1])

    def committed(self, partition: TopicPartition) -> int | None:
        with self.lock:
            return next((c[partition] for c in reversed(self.commits) if partition in c), None)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.seeks.extend((partition, 0) for partition in partitions)


class Deliveries:
    """Deliver callbacks: done at once, unless the record's offset is held until released (or the stop)."""

    def __init__(self) -> None:
        self.held: dict[tuple[int, int], threading.Event] = {}
        self.done: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def hold(self, partition: int, offset: int) -> threading.Event:
        release = self.held[(partition, offset)] = threading.Event()
        return release

    def __call__(self, record: Any, stop: threading.Event) -> bool:
        release = self.held.get((record.partition, record.offset))
        while release is not None and not release.is_set():
            if stop.wait(0.005):
                return False
        with self.lock:
            self.done.append((record.partition, record.offset))
        return True


def run_in_thread(loop: FeedLoop) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            loop.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


@pytest.fixture
def stopping() -> Any:
    """Start loops in threads; stop and join every one at the end."""
    started: list[tuple[FeedLoop, threading.Thread]] = []

    def start(loop: FeedLoop) -> list[BaseException]:
        thread, errors = run_in_thread(loop)
        started.append((loop, thread))
        return errors

    yield start
    for loop, thread in started:
        loop.stop.set()
        thread.join(5)
        assert not thread.is_alive(), "the loop did not stop"


def test_every_record_is_delivered_in_order_per_partition_and_committed_behind_it(stopping):
    fetched = {P0: [0, 1, 2, 3], P1: [5, 6]}
    consumer = FakeConsumer([{P0: records(0, 0, 1, 2), P1: records(1, 5, 6)}, {P0: records(0, 3)}])
    deliveries = Deliveries()
    ahead: list[tuple[TopicPartition, int]] = []

    def never_ahead(commit: dict[TopicPartition, int]) -> None:
        # Every record before a committed offset was finished when it was committed.
        with deliveries.lock:
            done = list(deliveries.done)
        ahead.extend(
            (tp, o)
            for tp, offset in commit.items()
            for o in fetched[tp]
            if o < offset and (tp.partition, o) not in done
        )

    consumer.on_commit = never_ahead
    stopping(FeedLoop(consumer, TOPIC, deliveries, threading.Event()))
    wait_until(lambda: consumer.committed(P0) == 4 and consumer.committed(P1) == 7, timeout_s=5, what="commits")
    assert [offset for partition, offset in deliveries.done if partition == 0] == [0, 1, 2, 3]
    assert [offset for partition, offset in deliveries.done if partition == 1] == [5, 6]
    assert ahead == []


def test_a_held_record_holds_back_its_partition_only_and_is_not_committed(stopping):
    consumer = FakeConsumer([{P0: records(0, 0, 1, 2), P1: records(1, 0, 1)}])
    deliveries = Deliveries()
    release = deliveries.hold(0, 1)
    stopping(FeedLoop(consumer, TOPIC, deliveries, threading.Event()))
    wait_until(lambda: consumer.committed(P1) == 2 and consumer.committed(P0) == 1, timeout_s=5, what="commits")
    assert (0, 2) not in deliveries.done  # in order: the held record holds back the next one
    release.set()
    wait_until(lambda: consumer.committed(P0) == 3, timeout_s=5, what="the partition to catch up")


def test_a_stop_commits_what_was_finished_and_nothing_past_a_record_in_delivery():
    consumer = FakeConsumer([{P0: records(0, 0, 1, 2)}])
    deliveries = Deliveries()
    deliveries.hold(0, 1)  # a webhook that never answers
    stop = threading.Event()
    loop = FeedLoop(consumer, TOPIC, deliveries, stop)
    thread, errors = run_in_thread(loop)
    wait_until(lambda: (0, 0) in deliveries.done, timeout_s=5, what="the first delivery")
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and errors == []
    assert consumer.committed(P0) == 1
    assert deliveries.done == [(0, 0)]


def test_a_revoked_partition_commits_its_progress_and_its_lane_stops():
    consumer = FakeConsumer([{P0: records(0, 0, 1)}])
    deliveries = Deliveries()
    deliveries.hold(0, 1)
    loop = FeedLoop(consumer, TOPIC, deliveries, threading.Event())
    loop._poll_once()  # the loop's own steps, without its commits
    lane = loop.lanes[P0]
    wait_until(lambda: lane.next_offset == 1, timeout_s=5, what="the first delivery")
    loop.on_partitions_revoked([P0])
    assert consumer.commits == [{P0: 1}]
    assert lane.stop.is_set() and P0 not in loop.lanes
    lane.join(5)
    assert deliveries.done == [(0, 0)]


def test_a_partition_assigned_again_starts_again_from_its_commit_not_from_where_the_fetch_was():
    # kafka-python keeps the fetch position of a partition in the old and the new assignment: the
    # records its closed lane had fetched and not finished would never come again.
    consumer = FakeConsumer([{P0: records(0, 0, 1, 2)}])
    deliveries = Deliveries()
    deliveries.hold(0, 1)
    loop = FeedLoop(consumer, TOPIC, deliveries, threading.Event())
    loop.on_partitions_assigned([P0, P1])
    assert consumer.seeks == [(P0, 0), (P1, 0)]  # never committed: from the beginning
    loop._poll_once()
    wait_until(lambda: loop.lanes[P0].next_offset == 1, timeout_s=5, what="the first delivery")
    loop.on_partitions_revoked([P0, P1])
    loop.on_partitions_assigned([P0, P1])
    assert consumer.seeks[2:] == [(P0, 1), (P1, 0)]  # from the commit of the revoked lane


def test_a_lost_partition_commits_nothing():
    consumer = FakeConsumer([{P0: records(0, 0)}])
    loop = FeedLoop(consumer, TOPIC, Deliveries(), threading.Event())
    loop._poll_once()
    loop.lanes[P0].next_offset = 1
    loop.on_partitions_lost([P0])
    assert consumer.commits == [] and loop.lanes == {}


def test_a_partition_far_ahead_of_its_lane_is_paused_and_resumed(monkeypatch, stopping):
    monkeypatch.setattr(loop_module, "MAX_AHEAD", 4)
    consumer = FakeConsumer([{P0: records(0, *range(6))}])
    deliveries = Deliveries()
    release = deliveries.hold(0, 0)
    stopping(FeedLoop(consumer, TOPIC, deliveries, threading.Event()))
    wait_until(lambda: consumer.paused() == {P0}, timeout_s=5, what="the pause")
    release.set()
    wait_until(lambda: consumer.paused() == set() and consumer.committed(P0) == 6, timeout_s=5, what="the resume")


def test_a_commit_that_fails_is_tried_again_with_the_next(stopping):
    consumer = FakeConsumer([{P0: records(0, 0)}])
    consumer.commit_error = CommitFailedError("rebalanced")
    loop = FeedLoop(consumer, TOPIC, Deliveries(), threading.Event())
    stopping(loop)
    wait_until(lambda: P0 in loop.lanes and loop.lanes[P0].next_offset == 1, timeout_s=5, what="the delivery")
    consumer.commit_error = None
    wait_until(lambda: consumer.committed(P0) == 1, timeout_s=5, what="the commit")


def test_kafka_refusing_access_stops_the_loop_with_a_clear_error():
    consumer = FakeConsumer()
    consumer.poll_error = TopicAuthorizationFailedError("no read on the topic")
    with pytest.raises(CesError, match="TopicAuthorizationFailedError"):
        FeedLoop(consumer, TOPIC, Deliveries(), threading.Event()).run()


def test_a_bug_in_a_delivery_stops_the_loop_instead_of_stalling_the_partition():
    def broken(record: Any, stop: threading.Event) -> bool:
        raise RuntimeError("a bug")

    consumer = FakeConsumer([{P0: records(0, 0)}])
    with pytest.raises(CesError, match="a bug"):
        FeedLoop(consumer, TOPIC, broken, threading.Event()).run()
    assert consumer.commits == []


def test_a_lane_sleeps_until_records_or_a_stop_come(monkeypatch):
    """No polling in an idle lane: its thread waits on the condition that add() and close() notify."""
    calls: list[int] = []

    def deliver(record: Any, stop: threading.Event) -> bool:
        calls.append(record.offset)
        return True

    lane = PartitionLane(P0, deliver)
    lane.add(records(0, 0, 1))
    wait_until(lambda: lane.next_offset == 2, timeout_s=5, what="the lane")
    assert lane.pending() == 0
    lane.close()
    lane.join(5)
    assert calls == [0, 1]


def test_the_loop_lists_its_assigned_partitions_for_health():
    loop = FeedLoop(FakeConsumer(), TOPIC, Deliveries(), threading.Event())
    loop.on_partitions_assigned([P1, P0])
    assert loop.assigned() == [f"{TOPIC}:0", f"{TOPIC}:1"]
    loop.on_partitions_revoked([P0])
    assert loop.assigned() == [f"{TOPIC}:1"]
    loop.on_partitions_lost([P1])
    assert loop.assigned() == []
