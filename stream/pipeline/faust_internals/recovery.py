"""Two races in Faust's rebalance and recovery that lost or stuck records (issue 9), closed."""

from __future__ import annotations

from typing import Any


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
