"""Reading records back by offset: one started event, or a hole a stage found."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from stream.infra.kafka_config import aiokafka_options
from stream.settings import Settings

log = logging.getLogger(__name__)


class RecordReader:
    """Reads records back by (topic, partition, offset) with its own group-less consumer.

    Two uses: the expiry timer reads one started event back (:meth:`read`), and a
    stage that finds a hole in the offsets it received reads the hole back
    (:meth:`read_range`). Partitions are assigned on first use and kept paused, so
    the consumer fetches only what a read asks for.
    """

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._consumer: Any = None
        self._lock = asyncio.Lock()

    async def _started(self) -> Any:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(
                **aiokafka_options(self.settings),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # a read below the log start begins at the log start
                max_partition_fetch_bytes=1024 * 1024,
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def read_range(self, topic: str, partition: int, start: int, end: int, limit: int) -> list[Any]:
        """The records with ``start <= offset < end``, in offset order (aiokafka ConsumerRecords).

        ``end`` must be the offset of a record that exists (a hole ends at the record that
        showed it). An empty list means the partition holds no record in that range
        (transaction markers, compaction, retention). Raises ``TimeoutError`` when the whole
        read (connecting included) takes over ``timeout_s``, ``ValueError`` when the range
        holds more than ``limit`` records.
        """
        try:
            return await asyncio.wait_for(self._read_range(topic, partition, start, end, limit), self.timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"reading {topic}:{partition} offsets {start}-{end - 1} took over {self.timeout_s} s"
            ) from None

    async def _read_range(self, topic: str, partition: int, start: int, end: int, limit: int) -> list[Any]:
        from aiokafka import TopicPartition

        async with self._lock:
            consumer = await self._started()
            tp = TopicPartition(topic, partition)
            if tp not in consumer.assignment():
                consumer.assign([*consumer.assignment(), tp])
                consumer.pause(*consumer.assignment())
            consumer.seek(tp, start)
            consumer.resume(tp)
            records: list[Any] = []
            try:
                while True:
                    fetched = (await consumer.getmany(tp, timeout_ms=500)).get(tp, [])
                    records.extend(r for r in fetched if start <= r.offset < end)
                    if len(records) > limit:
                        raise ValueError(f"{topic}:{partition} holds over {limit} records in offsets {start}-{end - 1}")
                    # Done once the read is past the range: the record at ``end`` was seen, or the
                    # position moved beyond it (markers and compacted offsets are skipped silently).
                    if (fetched and fetched[-1].offset >= end - 1) or await consumer.position(tp) >= end:
                        return records
            finally:
                consumer.pause(tp)

    async def read(self, topic: str, partition: int, offset: int) -> tuple[bytes | None, bytes | None] | None:
        """The (key, value) at ``offset``, or None if it is gone or cannot be read in time."""
        try:
            records = await self.read_range(topic, partition, offset, offset + 1, limit=1)
        except Exception:  # a lookup only improves a prompt's address; never fail the timer
            log.warning("could not read %s:%s@%s back", topic, partition, offset, exc_info=True)
            return None
        return (records[0].key, records[0].value) if records else None

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
