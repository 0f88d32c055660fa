"""The feed webhook's Kafka loop: one delivery thread per partition, offsets committed behind them.

The main thread owns the consumer (kafka-python's is not thread-safe): it polls, hands each
partition's records to that partition's :class:`PartitionLane`, pauses a partition whose lane
is far behind (and resumes it), and commits per partition the offset after the last record its
lane finished (delivered or dead-lettered). A lane delivers in offset order and never skips a
record, so nothing is committed that was not finished; a record a stop or a rebalance cut off
is read again (at-least-once). Polling goes on while a lane waits on a slow or absent webhook,
so the consumer stays in its group for as long as an outage lasts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.errors import AuthorizationError, KafkaError, SaslAuthenticationFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from stream.errors import CesError
from stream.tools.feed_webhook.delivery import Record

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500
MAX_RECORDS_PER_POLL = 100
# Records fetched ahead of a partition's lane before it is paused (resumed at half).
MAX_AHEAD = 500
COMMIT_TIMEOUT_MS = 3000
# Errors no retry mends: the process says so and exits for its supervisor.
FATAL_KAFKA_ERRORS = (AuthorizationError, SaslAuthenticationFailedError)

Deliver = Callable[[Record, threading.Event], bool]


class PartitionLane:
    """One partition's fetched records, delivered in order by a thread of its own.

    ``next_offset`` is the offset to commit: every record before it is finished.
    """

    def __init__(self, partition: TopicPartition, deliver: Deliver) -> None:
        self.partition = partition
        self.next_offset: int | None = None
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self._deliver = deliver
        self._records: deque[Record] = deque()
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"feed-{partition.topic}-{partition.partition}", daemon=True
        )
        self._thread.start()

    def add(self, records: Iterable[Record]) -> None:
        with self._changed:
            self._records.extend(records)
            self._changed.notify()

    def pending(self) -> int:
        """Records fetched and not finished, the one in delivery included."""
        with self._changed:
            return len(self._records)

    def close(self) -> None:
        """Stop at once: a wait ends now, a POST in flight ends within its timeout and is not counted done."""
        self.stop.set()
        with self._changed:
            self._changed.notify()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _head(self) -> Record | None:
        with self._changed:
            while not self._records and not self.stop.is_set():
                self._changed.wait()  # add() and close() wake it: no polling
            return None if self.stop.is_set() else self._records[0]

    def _run(self) -> None:
        try:
            while (record := self._head()) is not None:
                if not self._deliver(record, self.stop):
                    return
                with self._changed:
                    self._records.popleft()
                self.next_offset = record.offset + 1
        except BaseException as exc:  # a bug: the loop stops the process rather than stall the partition
            log.critical("feed webhook: delivery on %s failed", self.partition, exc_info=True)
            self.failure = exc


class FeedLoop(ConsumerRebalanceListener):
    """Polls, feeds the lanes and commits their progress until ``stop`` is set.

    :param consumer: a kafka-python KafkaConsumer (auto-commit off), not yet subscribed.
    :param deliver: delivers one record (:meth:`Delivery.deliver`), called on the lanes' threads.
    """

    def __init__(self, consumer: Any, topic: str, deliver: Deliver, stop: threading.Event) -> None:
        self.consumer = consumer
        self.topic = topic
        self.deliver = deliver
        self.stop = stop
        self.lanes: dict[TopicPartition, PartitionLane] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.assignment: frozenset[TopicPartition] = frozenset()  # replaced whole: read by the server thread
        self.last_poll = time.monotonic()

    def run(self) -> None:
        """Until ``stop``: poll, deliver, commit. Then stop the lanes and commit what they finished.

        :raises CesError: when Kafka refuses access for good, or a lane failed (a bug).
        """
        self.consumer.subscribe([self.topic], listener=self)
        try:
            while not self.stop.is_set():
                self._poll_once()
                self._flow_control()
                self._check_lanes()
                self.commit(list(self.lanes.values()))
        finally:
            lanes = list(self.lanes.values())
            for lane in lanes:
                lane.close()
            self.commit(lanes, quiet=True)

    def assigned(self) -> list[str]:
        return sorted(f"{tp.topic}:{tp.partition}" for tp in self.assignment)

    def _poll_once(self) -> None:
        try:
            batches = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_POLL)
        except FATAL_KAFKA_ERRORS as exc:
            raise CesError(f"Kafka refused the feed webhook's consumer: {type(exc).__name__}: {exc}") from None
        except KafkaError as exc:
            log.warning("feed webhook: polling %s failed (%s); polling again", self.topic, type(exc).__name__)
            self.stop.wait(POLL_TIMEOUT_MS / 1000)
            return
        self.last_poll = time.monotonic()
        for partition, records in batches.items():
            lane = self.lanes.get(partition)
            if lane is None:
                lane = self.lanes[partition] = PartitionLane(partition, self.deliver)
            lane.add(records)

    def _flow_control(self) -> None:
        paused = self.consumer.paused()
        for partition, lane in self.lanes.items():
            pending = lane.pending()
            if pending >= MAX_AHEAD and partition not in paused:
                self.consumer.pause(partition)
            elif pending < MAX_AHEAD // 2 and partition in paused:
                self.consumer.resume(partition)

    def _check_lanes(self) -> None:
        for lane in self.lanes.values():
            if lane.failure is not None:
                raise CesError(f"the feed webhook failed on {lane.partition}: {lane.failure!r}")

    def commit(self, lanes: list[PartitionLane], *, quiet: bool = False) -> None:
        """Commit each lane's progress that is not committed yet; a failure is logged (the records come again)."""
        offsets = {}
        for lane in lanes:
            done = lane.next_offset
            if done is not None and self.committed.get(lane.partition) != done:
                offsets[lane.partition] = OffsetAndMetadata(done, "", -1)
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except FATAL_KAFKA_ERRORS as exc:
            if not quiet:
                raise CesError(f"Kafka refused the feed webhook's commit: {type(exc).__name__}: {exc}") from None
            log.error("feed webhook: the last commit was refused (%s)", type(exc).__name__)
        except KafkaError as exc:
            log.warning(
                "feed webhook: committing %d partitions failed (%s); their records since the last commit come again",
                len(offsets),
                type(exc).__name__,
            )
        else:
            for partition, offset in offsets.items():
                self.committed[partition] = offset.offset

    # ConsumerRebalanceListener: called inside poll(), on the main thread.

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = set(revoked)
        self.assignment = self.assignment - revoked
        lanes = [lane for tp in revoked if (lane := self.lanes.pop(tp, None)) is not None]
        for lane in lanes:
            lane.close()
        self.commit(lanes, quiet=True)
        for lane in lanes:
            self.committed.pop(lane.partition, None)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        assigned = set(assigned)
        self.assignment = self.assignment | assigned
        # kafka-python keeps the fetch position of a partition assigned again (checked: 3.0.12), past
        # records its revoked lane fetched and never finished: a new lane starts from the commit.
        for tp in sorted(assigned - set(self.lanes)):
            committed = self.consumer.committed(tp)
            if committed is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
        log.info("feed webhook: assigned %s", ", ".join(self.assigned()) or "no partition")

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        # Another member owns them already: nothing may be committed.
        lost = set(lost)
        self.assignment = self.assignment - lost
        for tp in lost:
            lane = self.lanes.pop(tp, None)
            if lane is not None:
                lane.close()
            self.committed.pop(tp, None)
