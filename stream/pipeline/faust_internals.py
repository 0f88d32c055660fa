"""The small pieces of Faust plumbing the stages share (Faust internals live only here).

Every private attribute of Faust, mode or aiokafka used below carries a ``checked:``
comment with the version it was read and tested against (``VERIFIED_VERSIONS``); the
worker warns at start when other versions are installed, and the unit tests in
``tests/test_stream/test_pipeline/test_faust_internals.py`` exercise each use:

- ``batches`` drains a stream's channel queue directly instead of iterating the
  stream: Faust's per-event stream machinery (and ``take_events``, which also waits
  its full ``within`` before every batch) cost more than our whole decision.

- ``BatchSender`` sends a stage's output records (and its table changelog records)
  as one Kafka record batch per topic partition through aiokafka's batch API, instead
  of Faust's record-by-record sends (a future, a channel and a buffer hop each).

- ``seek_uncommitted_to_beginning`` rewinds partitions with no committed offset when
  Faust seeks back to the committed offsets: aiokafka's ``seek_to_committed`` leaves
  them where the fetcher stands, so records fetched and then dropped were lost (issue 9).

- ``ContinuityGuard`` checks that a stage receives every offset of a partition and
  reads any hole back before the stage acks past it; Faust's own gap handling
  commits past such a hole when a partition has no committed offset.

- Table writes find their changelog partition through the "current event" context
  variable that stream iteration sets (``faust.streams._current_event``). Our stages
  write once per batch, and timers write with no event at all, so they name the
  partition explicitly instead (``writing_to_partition``).

- ``hold_stream_until_seeked`` closes a race in Faust's recovery, ``consumer_lag``
  reads the committed and read offsets Faust keeps.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, NoReturn

from faust.streams import _current_event  # checked: faust-streaming 0.15.3
from faust.types import TP

from stream.errors import ContinuityError
from stream.pipeline.continuity import Gap, OffsetContinuity

log = logging.getLogger(__name__)

# Every use of a Faust or aiokafka internal below was read and tested against these
# versions (constraints.txt pins them for the tested set). Another version may move
# or change any of them; the worker says so at start (``unverified_versions``).
VERIFIED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}


def unverified_versions(installed: Callable[[str], str] = importlib.metadata.version) -> list[str]:
    """One line per installed package whose version differs from the one the internals were verified on."""
    problems = []
    for package, verified in VERIFIED_VERSIONS.items():
        try:
            found = f"{installed(package)} is installed"
        except importlib.metadata.PackageNotFoundError:
            found = "is not installed"
        if found != f"{verified} is installed":
            problems.append(f"{package} {found}; ces-stream's Faust plumbing was verified on {verified}")
    return problems


class _PartitionMarker:
    """Stands in for an event: table writes read only ``message.topic`` and ``message.partition``."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


@contextmanager
def writing_to_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside this block go to changelog partition ``partition``.

    :param topic: the source topic the table is co-partitioned with.
    """
    marker = _PartitionMarker(topic, partition)
    token = _current_event.set(weakref.ref(marker))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


def hold_stream_until_seeked(app: Any) -> None:
    """Keep the consumer's flow stopped from the end of recovery until Faust has sought.

    Faust 0.15's ``Recovery.on_recovery_completed`` sends ``on_rebalance_complete``, then
    resumes the stream partitions and only then awaits ``perform_seek`` (one broker round
    trip per partition) while the flow is still running from changelog recovery. Records
    fetched meanwhile reach the agents and move ``_read_offset`` on; ``perform_seek`` resets
    it, ``flow_control.resume()`` clears the agents' queues, and the same records, fetched
    again from the committed offset, are then dropped as already read. They are never
    processed nor acked, so that partition's committed offset never moves again. Stopping
    the flow here (Faust resumes it right after the seek) leaves nothing to race.
    """

    async def stop_flow(sender: Any = None, **kwargs: Any) -> None:
        app.consumer.stop_flow()  # checked: faust-streaming 0.15.3 (Recovery._resume_streams order)

    app.on_rebalance_complete.connect(stop_flow)


def seek_uncommitted_to_beginning(app: Any) -> None:
    """Make Faust's seek to the committed offsets also rewind partitions with none committed.

    Faust seeks back to the committed offsets after a rebalance and whenever a fetch
    returns while the flow is stopped (it drops those records). aiokafka 0.14's
    ``seek_to_committed`` only moves partitions whose committed offset is above 0, so a
    partition never committed stays where the fetcher got to: after a backlog's first
    fetch was dropped, reading went on at offset 5 000 and the group committed past
    0-4 999 (issue 9). Such partitions go back to their beginning instead (our
    ``auto_offset_reset`` is earliest, so that is where their reading started).
    Checked against faust-streaming 0.15.3 (``Consumer.perform_seek``,
    ``AIOKafkaConsumerThread.seek_to_committed``) and aiokafka 0.14.0.
    """

    async def patch(sender: Any = None, *args: Any, **kwargs: Any) -> None:
        thread = app.consumer._thread  # checked: faust-streaming 0.15.3, aiokafka 0.14.0 (whole function)
        if getattr(thread, "_ces_seeks_uncommitted", False):
            return

        async def seek_in_thread() -> Any:
            consumer = thread._ensure_consumer()
            committed = await consumer.seek_to_committed()
            # Stream partitions only: changelog partitions are never committed, and their
            # positions belong to Faust's recovery.
            changelogs = app.tables.changelog_topics
            uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
            if uncommitted:
                await consumer.seek_to_beginning(*uncommitted)
            return committed

        async def seek_to_committed() -> Any:
            return await thread.call_thread(seek_in_thread)

        thread.seek_to_committed = seek_to_committed
        thread._ces_seeks_uncommitted = True

    # The consumer exists once partitions are assigned, before recovery's first seek.
    app.on_partitions_assigned.connect(patch)


class RecoveredEvent:
    """A record read back to fill a hole: the part of a Faust event the stages use."""

    __slots__ = ("message", "_consumer")

    def __init__(self, message: Any, consumer: Any) -> None:
        self.message = message
        self._consumer = consumer

    def ack(self) -> bool:
        return self.message.ack(self._consumer)


class ContinuityGuard:
    """Hands a stage every offset of its partitions, in order, or stops the worker.

    Each batch passes through :meth:`contiguous`. Per partition the guard expects the
    offset after the last one received (from the committed offset after an
    assignment). A record past that leaves a hole, which is read back from the broker
    with a group-less consumer: an empty hole is legitimate (transaction markers,
    compaction, retention) and counted; records in it were skipped by the consumer,
    so they are logged, counted and put into the batch before the record that showed
    the hole. The stage acks in order, so nothing is acked (or committed) past a
    record it did not process. A hole that cannot be read stops the worker. While a
    rebalance is in progress batches pass unchecked (see :meth:`contiguous`).

    :param reader: a :class:`stream.infra.record_reader.RecordReader`.
    :param max_records: the largest hole read back; a bigger one stops the worker.
    """

    ATTEMPTS = 3

    def __init__(self, app: Any, reader: Any, metrics: Any, max_records: int = 100_000) -> None:
        self.app = app
        self.reader = reader
        self.metrics = metrics
        self.max_records = max_records
        self.offsets = OffsetContinuity()

        def forget(sender: Any = None, *args: Any, **kwargs: Any) -> None:
            self.offsets.forget()

        # A new assignment starts every partition again from its committed offset.
        app.on_partitions_revoked.connect(forget)
        app.on_partitions_assigned.connect(forget)

    async def contiguous(self, events: Sequence[Any]) -> list[Any]:
        if self.app.rebalancing:
            # Events taken mid-rebalance may belong to partitions on their way out, whose
            # committed offsets Faust has already dropped: no expectation holds for them.
            # Tracking starts again from the committed offsets the rebalance ends with.
            self.offsets.forget()
            return list(events)
        consumer = self.app.consumer
        out: list[Any] = []
        for event in events:
            message = event.message
            if not self.offsets.knows(message.topic, message.partition):
                # checked: faust-streaming 0.15.3 (the next offset to read, None when nothing was committed)
                committed = consumer._committed_offset.get(TP(message.topic, message.partition))
                self.offsets.start_at(message.topic, message.partition, committed or 0)
            gap = self.offsets.observe(message.topic, message.partition, message.offset)
            if gap is not None:
                out.extend(await self._read_back(gap))
            out.append(event)
        return out

    async def _read_back(self, gap: Gap) -> list[RecoveredEvent]:
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                records = await self.reader.read_range(gap.topic, gap.partition, gap.start, gap.end, self.max_records)
                break
            except ValueError as exc:  # too big to hold: not worth retrying
                await self._stop(gap, exc)
            except Exception as exc:
                if attempt == self.ATTEMPTS:
                    await self._stop(gap, exc)
                log.warning("reading back %s:%s offsets %s-%s failed (attempt %s): %r",
                            gap.topic, gap.partition, gap.start, gap.end - 1, attempt, exc)
                await asyncio.sleep(attempt)
        if not records:
            log.debug("%s:%s: offsets %s-%s hold no record", gap.topic, gap.partition, gap.start, gap.end - 1)
            self.metrics.offset_gaps.labels(gap.topic, "no_records").inc()
            return []
        log.warning("%s:%s: offsets %s-%s were skipped by the consumer; read back %s records and processing them now",
                    gap.topic, gap.partition, gap.start, gap.end - 1, len(records))
        self.metrics.offset_gaps.labels(gap.topic, "records_read_back").inc()
        self.metrics.offset_gap_records.labels(gap.topic).inc(len(records))
        consumer = self.app.consumer
        tp = TP(gap.topic, gap.partition)
        # checked: faust-streaming 0.15.3 (aiokafka record -> Faust message, timestamp in seconds)
        return [RecoveredEvent(consumer._to_message(tp, record), consumer) for record in records]

    async def _stop(self, gap: Gap, cause: BaseException) -> NoReturn:
        error = ContinuityError(
            f"{gap.topic}:{gap.partition}: offsets {gap.start}-{gap.end - 1} were not received and could not be "
            f"read back ({cause!r}); stopping without committing past them"
        )
        log.critical("%s", error)
        self.metrics.offset_gaps.labels(gap.topic, "unreadable").inc()
        await self.app.crash(error)  # the worker exits non-zero
        await asyncio.Future()  # and this stage acks nothing more until then


def consumer_lag(consumer: Any, topics: set[str]) -> dict[str, int]:
    """Lag of the partitions a consumer owns, per topic: high-water mark minus committed offset.

    Measured from the commit, as Kafka's own tools do: records read but never committed
    (a stuck partition) count as lag, not as done. Reads Faust internals (checked against
    faust-streaming 0.15.3): the committed offset (the next to read), else the last
    offset handed to a stream.
    """
    lag: dict[str, int] = dict.fromkeys(topics, 0)
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # not fetched yet
            continue
        if highwater is None:
            continue
        committed = consumer._committed_offset.get(tp)  # checked: faust-streaming 0.15.3
        read = consumer._read_offset.get(tp)
        next_offset = committed if committed is not None else (read + 1 if read is not None else 0)
        lag[tp.topic] += max(0, highwater - next_offset)
    return lag


async def batches(
    stream: Any, max_events: int, linger_s: float = 0.0, idle_s: float | None = None,
    guard: ContinuityGuard | None = None,
) -> AsyncIterator[list[Any]]:
    """Events as they arrive: everything queued (up to ``max_events``) in one batch.

    After the first event a batch waits ``linger_s`` for more (unless it is full
    already), then takes everything queued; under load batches also grow by
    themselves while the previous one is processed. A batch has a fixed cost (one
    record batch per partition written, one produce request), so a couple of
    milliseconds of linger cut the CPU per event and with it the queueing that makes
    the latency tail. With ``idle_s``, an empty batch comes after that long without
    events, so a stage can finish deferred work. With ``guard``, every batch is made
    contiguous per partition (see :class:`ContinuityGuard`).

    The caller acks (``ack``) once a batch's effects are durable; events stay unacked
    (never committed) until then. The queue is the one the conductor fills for
    ordinary stream iteration, so flow control, back-pressure and clearing on
    rebalance work as usual.
    """
    # checked: faust-streaming 0.15.3 (the conductor fills this queue; flow control clears it)
    channel = stream.channel.__aiter__()  # subscribes like stream iteration does
    queue = channel.queue
    while True:
        try:
            if idle_s is None:
                batch = [await queue.get()]
            else:
                try:
                    batch = [await asyncio.wait_for(queue.get(), idle_s)]
                except asyncio.TimeoutError:
                    yield []
                    continue
        except StopAsyncIteration:  # Faust ends its channels this way on shutdown
            return
        if linger_s and queue.qsize() < max_events - 1:
            await asyncio.sleep(linger_s)
        while len(batch) < max_events and not queue.empty():
            batch.append(queue.get_nowait())
        yield batch if guard is None else await guard.contiguous(batch)


def ack(events: Sequence[Any]) -> None:
    """Mark events processed, in order: Faust commits up to the first unacked offset."""
    for event in events:
        event.ack()


def track_topic(producer: Any, topic: str) -> Any:
    """Make the producer's metadata refreshes include ``topic`` (await the result).

    aiokafka 0.14 tracks a topic only when a send misses it in the cache, and each refresh asks
    for the tracked topics alone and replaces the cache: an untracked topic drops out, a batch
    queued for it waits out the 20-minute request timeout, and Faust's commit (which flushes the
    producer first) stops fetching: the stall of issue 9. A tracked topic stays in every refresh.
    """
    return producer.client.add_topic(topic)  # checked: aiokafka 0.14.0 (a done future when tracked)


class BatchSender:
    """One batch's output records, sent together: one record batch per topic partition.

    ``add`` queues a record (``partition=None``: by key, with the same murmur2
    partitioner as Kafka's Java clients); ``put`` writes a table key to the store
    and queues its changelog record. ``send`` submits everything and waits until
    Kafka has it, then records the tables' persisted changelog offsets (what Faust
    does per record), so a caller acks its input only after its effects are durable.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._records: list[tuple[str, int | None, bytes | None, bytes | None]] = []
        self._tables: dict[tuple[str, int], Any] = {}

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self._records.append((topic, partition, key, value))

    def put(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        """Set (or, with ``value=None``, delete) ``key`` in ``table`` on changelog partition ``partition``."""
        changelog = table.changelog_topic.get_topic_name()
        with writing_to_partition(changelog, partition):  # rocksdb:// picks its per-partition db by it
            if value is None:
                if key not in table.data:
                    return
                del table.data[key]
            else:
                table.data[key] = value
        self._tables[(changelog, partition)] = table
        self.add(changelog, key, value, partition)

    async def send(self) -> None:
        if not self._records:
            return
        # checked: faust-streaming 0.15.3, aiokafka 0.14.0 (_ensure_producer, _wait_on_metadata,
        # _partition, create_batch/send_batch, set_persisted_offset)
        producer = self._app.producer._ensure_producer()  # the aiokafka producer
        builders: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for topic, partition, key, value in self._records:
            if partition is None:
                await producer.client._wait_on_metadata(topic)  # returns at once once known
                partition = producer._partition(topic, None, None, None, key, value)
            batch = builders[(topic, partition)]
            if not batch or batch[-1].append(timestamp=None, key=key, value=value) is None:
                batch.append(producer.create_batch())  # an empty batch takes a record of any size
                batch[-1].append(timestamp=None, key=key, value=value)
        self._records = []
        for topic in {topic for topic, _ in builders}:
            await track_topic(producer, topic)
        pending = []
        for (topic, partition), batch_list in builders.items():
            for builder in batch_list:
                count = builder.record_count()
                pending.append((topic, partition, count, await producer.send_batch(builder, topic, partition=partition)))
        for topic, partition, count, delivered in pending:
            metadata = await delivered
            table = self._tables.get((topic, partition))
            if table is not None and metadata is not None:
                table.data.set_persisted_offset(TP(topic, partition), metadata.offset + count - 1)
