"""Reading a stream in batches, acking in order, and writing tables from outside stream iteration."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from faust.streams import _current_event  # checked: faust-streaming 0.15.3
from faust.types import ChannelT, StreamT

from stream.pipeline.stage_types import StageEvent

if TYPE_CHECKING:
    from stream.pipeline.faust_internals.continuity_guard import ContinuityGuard


class _PartitionMarker:
    """Stands in for an event: table writes read only ``message.topic`` and ``message.partition``."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition)


@contextmanager
def writing_to_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside this block go to changelog partition ``partition``.

    :param topic: the source topic the table is co-partitioned with.
    """
    marker = _PartitionMarker(topic, partition)
    # The variable holds a weak reference to an EventT; only the marker's message is ever read.
    token = _current_event.set(weakref.ref(marker))  # type: ignore[arg-type]  # a stand-in, not an EventT
    try:
        yield
    finally:
        _current_event.reset(token)


async def batches(
    stream: StreamT[bytes],
    max_events: int,
    linger_s: float = 0.0,
    idle_s: float | None = None,
    guard: ContinuityGuard | None = None,
) -> AsyncIterator[list[StageEvent]]:
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

    Each batch also marks its partitions as taken by a stream, as stream iteration does:
    Faust's consumer logs "Stream has not started processing" at ERROR, every few seconds,
    for a partition that lags while its stream never took an event (after
    ``stream_processing_timeout``, 5 minutes), which without this is every lagging
    partition of a worker up that long.
    """
    # checked: faust-streaming 0.15.3 (the conductor fills this queue; flow control clears it;
    # Monitor.on_stream_event_in sets stream_inbound_time[tp] = monotonic(), which
    # AIOKafkaConsumerThread.verify_event_path reads; the monitor clears the dict, never replaces it)
    channel = cast("ChannelT[bytes]", stream.channel).__aiter__()  # subscribes like stream iteration does
    queue = channel.queue
    monitor = getattr(stream.app, "monitor", None)
    inbound: dict[Any, float] | None = getattr(monitor, "stream_inbound_time", None)
    while True:
        try:
            if idle_s is None:
                batch = [await queue.get()]
            else:
                try:
                    batch = [await asyncio.wait_for(queue.get(), idle_s)]
                except TimeoutError:
                    yield []
                    continue
        except StopAsyncIteration:  # Faust ends its channels this way on shutdown
            return
        if linger_s and queue.qsize() < max_events - 1:
            await asyncio.sleep(linger_s)
        while len(batch) < max_events and not queue.empty():
            batch.append(queue.get_nowait())
        if inbound is not None:
            now = time.monotonic()
            for event in batch:
                inbound[event.message.tp] = now
        yield batch if guard is None else await guard.contiguous(batch)


def ack(events: Sequence[StageEvent]) -> None:
    """Mark events processed, in order: Faust commits up to the first unacked offset."""
    for event in events:
        event.ack()
