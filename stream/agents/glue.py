"""The small pieces of Faust plumbing the stages share (Faust internals live only here).

Pinned against faust-streaming 0.15.x:

- ``batches`` drains a stream's channel queue directly instead of iterating the
  stream: Faust's per-event stream machinery (and ``take_events``, which also waits
  its full ``within`` before every batch) cost more than our whole decision.

- ``BatchSender`` sends a stage's output records (and its table changelog records)
  as one Kafka record batch per topic partition through aiokafka's batch API, instead
  of Faust's record-by-record sends (a future, a channel and a buffer hop each).

- Table writes find their changelog partition through the "current event" context
  variable that stream iteration sets (``faust.streams._current_event``). Our stages
  write once per batch, and timers write with no event at all, so they name the
  partition explicitly instead (``writing_to_partition``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from faust.streams import _current_event
from faust.types import TP


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
        app.consumer.stop_flow()

    app.on_rebalance_complete.connect(stop_flow)


def by_partition(events: Sequence[Any]) -> dict[int, list[Any]]:
    """A batch of events grouped by partition, each group in offset order."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        groups[event.message.partition].append(event)
    return groups


def owned_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker actively consumes (never standbys)."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


def raw_table(app: Any, name: str, partitions: int) -> Any:
    """A table of bytes -> bytes whose changelog holds exactly those bytes.

    Faust picks a table's serializers from its key/value *types* and falls back to
    JSON for bytes; our values are already encoded, so both are set to raw.
    """
    table = app.Table(name, partitions=partitions, default=None, key_type=bytes, value_type=bytes)
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table


async def batches(
    stream: Any, max_events: int, linger_s: float = 0.0, idle_s: float | None = None
) -> AsyncIterator[list[Any]]:
    """Events as they arrive: everything queued (up to ``max_events``) in one batch.

    After the first event a batch waits ``linger_s`` for more (unless it is full
    already), then takes everything queued; under load batches also grow by
    themselves while the previous one is processed. A batch has a fixed cost (one
    record batch per partition written, one produce request), so a couple of
    milliseconds of linger cut the CPU per event and with it the queueing that makes
    the latency tail. With ``idle_s``, an empty batch comes after that long without
    events, so a stage can finish deferred work.

    The caller acks (``ack``) once a batch's effects are durable; events stay unacked
    (never committed) until then. The queue is the one the conductor fills for
    ordinary stream iteration, so flow control, back-pressure and clearing on
    rebalance work as usual.
    """
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
        yield batch


def ack(events: Sequence[Any]) -> None:
    """Mark events processed, in order: Faust commits up to the first unacked offset."""
    for event in events:
        event.ack()


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
