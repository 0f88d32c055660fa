"""Sending a batch's output records as one Kafka record batch per topic partition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable
from typing import cast

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.transport.drivers.aiokafka import Producer
from faust.types import TP, AppT, StoreT

from stream.pipeline.faust_internals.streams import writing_to_partition
from stream.pipeline.stage_types import RawTable


def track_topic(producer: AIOKafkaProducer, topic: str) -> Awaitable[None]:
    """Make the producer's metadata refreshes include ``topic`` (await the result).

    aiokafka 0.14 tracks a topic only when a send misses it in the cache, and each refresh asks
    for the tracked topics alone and replaces the cache: an untracked topic drops out, a batch
    queued for it waits out the 20-minute request timeout, and Faust's commit (which flushes the
    producer first) stops fetching: the stall of issue 9. A tracked topic stays in every refresh.
    """
    tracked: Awaitable[None] = producer.client.add_topic(topic)  # checked: aiokafka 0.14.0 (a done future when tracked)
    return tracked


class BatchSender:
    """One batch's output records, sent together: one record batch per topic partition.

    ``add`` queues a record (``partition=None``: by key, with the same murmur2
    partitioner as Kafka's Java clients); ``put`` writes a table key to the store
    and queues its changelog record. ``send`` submits everything and waits until
    Kafka has it, then records the tables' persisted changelog offsets (what Faust
    does per record), so a caller acks its input only after its effects are durable.
    """

    def __init__(self, app: AppT) -> None:
        self._app = app
        self._records: list[tuple[str, int | None, bytes | None, bytes | None]] = []
        self._tables: dict[tuple[str, int], RawTable] = {}

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self._records.append((topic, partition, key, value))

    def put(self, table: RawTable, partition: int, key: bytes, value: bytes | None) -> None:
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
        producer = cast(Producer, self._app.producer)._ensure_producer()  # the aiokafka producer
        builders: dict[tuple[str, int], list[BatchBuilder]] = defaultdict(list)
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
                pending.append(
                    (topic, partition, count, await producer.send_batch(builder, topic, partition=partition))
                )
        for topic, partition, count, delivered in pending:
            metadata = await delivered
            table = self._tables.get((topic, partition))
            if table is not None and metadata is not None:
                store = cast("StoreT[bytes, bytes]", table.data)  # a Faust table's data is its store
                store.set_persisted_offset(TP(topic, partition), metadata.offset + count - 1)
