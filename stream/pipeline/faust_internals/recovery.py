"""Two races in Faust's rebalance and recovery that lost or stuck records (issue 9), closed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP, AppT

from stream.pipeline.stage_helpers import on_signal


def hold_stream_until_seeked(app: AppT) -> None:
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

    async def stop_flow(sender: object = None, **kwargs: Any) -> None:
        app.consumer.stop_flow()  # checked: faust-streaming 0.15.3 (Recovery._resume_streams order)

    on_signal(app.on_rebalance_complete, stop_flow)


def seek_uncommitted_to_beginning(app: AppT) -> None:
    """Make Faust's seek to the committed offsets also rewind partitions with none committed.

    Faust seeks back to the committed offsets after a rebalance and whenever a fetch
    returns while the flow is stopped (it drops those records). aiokafka 0.14's
    ``seek_to_committed`` only moves partitions whose committed offset is above 0, so a
    partition never committed stays where the fetcher got to: after a backlog's first
    fetch was dropped, reading went on at offset 5 000 and the group committed past
    0-4 999 (issue 9). Such partitions go back to their beginning instead (our
    ``auto_offset_reset`` is earliest, so that is where their reading started): to offset 0,
    which a log that was truncated since resets to its earliest offset at the first fetch.
    Checked against faust-streaming 0.15.3 (``Consumer.perform_seek``,
    ``AIOKafkaConsumerThread.seek_to_committed``) and aiokafka 0.14.0.
    """

    async def patch(sender: object = None, *args: Any, **kwargs: Any) -> None:
        # checked: faust-streaming 0.15.3, aiokafka 0.14.0 (whole function)
        thread = cast(AIOKafkaConsumerThread, cast(ThreadDelegateConsumer, app.consumer)._thread)
        if getattr(thread, "_ces_seeks_uncommitted", False):
            return

        async def seek_in_thread() -> Mapping[TP, int]:
            consumer = thread._ensure_consumer()
            committed: Mapping[TP, int] = await consumer.seek_to_committed()
            # Stream partitions only: changelog partitions are never committed, and their
            # positions belong to Faust's recovery.
            changelogs = app.tables.changelog_topics
            uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
            # Offset 0, set at once: a log that no longer starts there is reset to its earliest
            # offset by the first fetch (auto_offset_reset). aiokafka's seek_to_beginning
            # instead waits for its fetcher to ask the broker, behind the fetch in flight
            # (a long poll of up to 1.5 s at every start and rebalance).
            for tp in uncommitted:
                consumer.seek(tp, 0)
            return committed

        async def seek_to_committed() -> Mapping[TP, int]:
            committed: Mapping[TP, int] = await thread.call_thread(seek_in_thread)
            return committed

        thread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]  # the patch itself
        thread._ces_seeks_uncommitted = True  # type: ignore[attr-defined]  # our mark: patched once

    # The consumer exists once partitions are assigned, before recovery's first seek.
    on_signal(app.on_partitions_assigned, patch)
