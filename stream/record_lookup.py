"""Reading single records back from ``<app_id>-user-events`` by offset.

The raw user id is never stored in state. An inferred abandonment that falls due
after a restart therefore has no address for its prompt in memory; the ``started``
event that opened the goal still has it, at the offset the open goal records.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from stream.envelope import Envelope, EnvelopeKind
from stream.kafka_config import client_options, ssl_context
from stream.settings import Settings

log = logging.getLogger(__name__)


def user_id_from_record(key: bytes | None, value: bytes | None, user_ref: str, event_id: str) -> str | None:
    """The raw user id in a re-keyed ``started`` event, if the record is that event of that user.

    :param key: the record key (the pseudonymous user reference).
    :param value: the record value (an envelope around the original goal event).
    :param user_ref: whose event it must be.
    :param event_id: which event it must be (the open goal's).
    :returns: the user id, or None when the record is anything else.
    """
    if key != user_ref.encode() or value is None:
        return None
    try:
        envelope = Envelope.decode(value)
        if envelope.kind is not EnvelopeKind.goal_event:
            return None
        event = json.loads(envelope.payload)
    except (ValueError, KeyError):
        return None
    if not isinstance(event, dict) or event.get("event_id") != event_id:
        return None
    user_id = event.get("user_id")
    return user_id if isinstance(user_id, str) and user_id else None


class RecordLookup:
    """Random reads of one topic by (partition, offset), with its own group-less consumer."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.topic = topic
        self.timeout_s = timeout_s
        self._consumer: Any = None
        self._lock = asyncio.Lock()

    async def _started(self) -> Any:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer, TopicPartition

            # aiokafka spells the options as kafka-python does, but takes TLS as a context.
            options = {k: v for k, v in client_options(self.settings).items() if k != "ssl_cafile"}
            consumer = AIOKafkaConsumer(
                **options, ssl_context=ssl_context(self.settings), group_id=None, enable_auto_commit=False,
                max_partition_fetch_bytes=256 * 1024,
            )
            await consumer.start()
            consumer.assign([TopicPartition(self.topic, p) for p in range(self.settings.topic_partitions)])
            consumer.pause(*consumer.assignment())  # fetch only what a read asks for
            self._consumer = consumer
        return self._consumer

    async def read(self, partition: int, offset: int) -> tuple[bytes | None, bytes | None] | None:
        """The (key, value) at ``offset``, or None if it is gone or cannot be read in time."""
        from aiokafka import TopicPartition

        async with self._lock:
            tp = TopicPartition(self.topic, partition)
            try:
                consumer = await self._started()
                consumer.seek(tp, offset)
                consumer.resume(tp)
                try:
                    batches = await consumer.getmany(tp, timeout_ms=int(self.timeout_s * 1000), max_records=1)
                finally:
                    consumer.pause(tp)
            except Exception:  # a lookup only improves a prompt's address; never fail the timer
                log.warning("could not read %s:%s@%s back", self.topic, partition, offset, exc_info=True)
                return None
            for record in batches.get(tp, []):
                if record.offset == offset:
                    return record.key, record.value
            return None

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
