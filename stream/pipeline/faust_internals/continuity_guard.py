"""Every offset of a partition reaches its stage, or the worker stops (issue 9)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from faust.transport.consumer import Consumer
from faust.types import TP, AppT, ConsumerT, Message

from stream.errors import ContinuityError
from stream.infra.record_reader import RecordReader
from stream.observability.metrics import CesMetrics
from stream.pipeline.continuity import Gap, OffsetContinuity
from stream.pipeline.stage_helpers import on_signal, stop_the_worker
from stream.pipeline.stage_types import StageEvent

log = logging.getLogger(__name__)


class RecoveredEvent:
    """A record read back to fill a hole: the part of a Faust event the stages use."""

    __slots__ = ("_consumer", "message")

    def __init__(self, message: Message, consumer: ConsumerT) -> None:
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

    def __init__(self, app: AppT, reader: RecordReader, metrics: CesMetrics, max_records: int = 100_000) -> None:
        self.app = app
        self.reader = reader
        self.metrics = metrics
        self.max_records = max_records
        self.offsets = OffsetContinuity()

        def forget(sender: object = None, *args: Any, **kwargs: Any) -> None:
            self.offsets.forget()

        # A new assignment starts every partition again from its committed offset.
        on_signal(app.on_partitions_revoked, forget)
        on_signal(app.on_partitions_assigned, forget)

    async def contiguous(self, events: Sequence[StageEvent]) -> list[StageEvent]:
        if self.app.rebalancing:
            # Events taken mid-rebalance may belong to partitions on their way out, whose
            # committed offsets Faust has already dropped: no expectation holds for them.
            # Tracking starts again from the committed offsets the rebalance ends with.
            self.offsets.forget()
            return list(events)
        consumer = cast(Consumer, self.app.consumer)  # the internals below are the base class's
        out: list[StageEvent] = []
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
                log.warning(
                    "reading back %s:%s offsets %s-%s failed (attempt %s): %r",
                    gap.topic,
                    gap.partition,
                    gap.start,
                    gap.end - 1,
                    attempt,
                    exc,
                )
                await asyncio.sleep(attempt)
        if not records:
            log.debug("%s:%s: offsets %s-%s hold no record", gap.topic, gap.partition, gap.start, gap.end - 1)
            self.metrics.offset_gaps.labels(gap.topic, "no_records").inc()
            return []
        log.warning(
            "%s:%s: offsets %s-%s were skipped by the consumer; read back %s records and processing them now",
            gap.topic,
            gap.partition,
            gap.start,
            gap.end - 1,
            len(records),
        )
        self.metrics.offset_gaps.labels(gap.topic, "records_read_back").inc()
        self.metrics.offset_gap_records.labels(gap.topic).inc(len(records))
        consumer = cast(Consumer, self.app.consumer)
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
        await stop_the_worker(self.app, error)  # the worker exits non-zero
        await asyncio.Future()  # and this stage acks nothing more until then
        raise error  # not reached: nothing completes that future
