"""Small helpers the stages share that need only Faust's public API."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from faust.tables.table import Table
from faust.types import AppT, ChannelT, StreamT
from mode.types.signals import BaseSignalT

from stream.pipeline.stage_types import Event, RawTable
from stream.pipeline.stop_deadline import StopDeadline
from stream.settings import Settings

log = logging.getLogger(__name__)

#: A stage doing much work at once on a timer (closing windows, reading release verdicts) hands the
#: event loop back to the other stages at least this often.
HAND_BACK_EVERY_S = 0.005

STOP_GRACE_S = 20.0
EX_SOFTWARE = 70  # sysexits.h: an internal software error


async def stop_the_worker(app: AppT, exc: BaseException) -> None:
    """Crash the app so the worker exits non-zero; exit hard if its shutdown does not end in time.

    A graceful stop waits for every stream to ack what it holds (Faust's ``stream_wait_empty``),
    and a stage that failed never acks its batch: the stop would wait for ever.
    """
    StopDeadline(STOP_GRACE_S, exit_code=EX_SOFTWARE).arm(repr(exc))
    await app.crash(exc)


def stage_agent(
    app: AppT, channel: ChannelT[bytes], name: str, run: Callable[[StreamT[bytes]], Awaitable[None]]
) -> None:
    """Run ``run`` as the agent ``name`` over ``channel``; if it raises, the worker exits non-zero.

    Faust's own answer to a crashed agent is to start it again, past the batch it did not ack:
    Faust then commits nothing more on those partitions and the worker looks alive while it
    processes nothing. Exiting lets the supervisor restart the worker, which re-reads from the
    last commit.
    """

    async def run_or_stop_the_worker(stream: StreamT[bytes]) -> None:
        try:
            await run(stream)
        except asyncio.CancelledError:
            raise  # a rebalance or a shutdown
        except Exception as exc:
            log.critical(
                "stage %s crashed: %r; the worker stops, to be restarted from its last commit", name, exc, exc_info=True
            )
            await stop_the_worker(app, exc)  # the worker exits non-zero
            await asyncio.Future()  # and this stage takes nothing more until then

    run_or_stop_the_worker.__doc__ = run.__doc__
    app.agent(channel, name=name)(run_or_stop_the_worker)


#: A receiver of one of Faust's signals: called with the sender, then keyword arguments (one is ``signal``).
SignalReceiver = Callable[..., None] | Callable[..., Awaitable[None]]


def on_signal(signal: BaseSignalT[Any], receiver: SignalReceiver) -> None:
    """Connect ``receiver`` to ``signal`` (``app.on_rebalance_complete`` and the like).

    mode declares the receiver type with ``mypy_extensions`` argument constructors that mypy
    matches no function against, not even one of exactly that signature; this one checks.
    """
    signal.connect(receiver)


def by_partition(events: Sequence[Event]) -> dict[int, list[Event]]:
    """A batch of events grouped by partition, each group in offset order."""
    groups: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        groups[event.message.partition].append(event)
    return groups


def owned_partitions(app: AppT, topic: str) -> set[int]:
    """Partitions of ``topic`` this worker actively consumes (never standbys)."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}


def raw_table(app: AppT, name: str, settings: Settings, topic_configs: dict[str, str] | None = None) -> RawTable:
    """A table of bytes -> bytes whose changelog holds exactly those bytes, one partition per topic partition.

    Faust picks a table's serializers from its key/value *types* and falls back to
    JSON for bytes; our values are already encoded, so both are set to raw.

    :param topic_configs: extra configs of the changelog topic, applied when Faust creates it.
    """
    # The app's Table class is Faust's ``Table`` (``TableT`` declares no serializers).
    table = cast(
        "Table[bytes, bytes]",
        app.Table(
            name,
            partitions=settings.topic_partitions,
            default=None,
            key_type=bytes,
            value_type=bytes,
            extra_topic_configs=topic_configs or {},
            # Read by the rocksdb:// store (Faust's RocksDBOptions), ignored by memory://.
            options={"write_buffer_size": settings.rocksdb_write_buffer_mb * 1024 * 1024},
        ),
    )
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table
