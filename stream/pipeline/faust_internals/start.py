"""What a start costs: the tables' changelogs read in runs of records, and no fixed second of waiting.

**Changelogs.**
Faust's ``Recovery._slurp_changelogs`` takes the changelog records off the table manager's
queue one at a time, and for every record it: wraps the queue's ``get`` in
``asyncio.wait_for`` (a task and a timer), formats three debug messages whatever the log
level, and asks whether recovery is over by summing the remaining offsets of every active
changelog partition (a ``Counter`` over all of them), and whether the standbys are ready.
At a start with a memory store that replays every user's state, this bookkeeping cost more
than applying the records (docs/performance.md): about 60 µs a record.

:func:`install_batched_changelog_reading` gives ``Recovery`` the same loop, with the same
per-record rules (offsets, buffers, ``on_changelog_event``, the buffer flush at the table's
buffer size), over every record already waiting in the queue at once: one awaited ``get``
and then ``get_nowait`` until the queue is empty (at most :data:`RUN` records), then the
end-of-recovery and standby checks once per run. Ending recovery a few records later in
the same run changes nothing: the records are applied either way and recovery ends as soon
as the run is done. One change of behaviour: a record of a partition that is neither
active nor standby (Faust logs a warning and then applies it to the previous record's
table) is skipped after the same warning.

**The table manager's second.** Faust's ``TableManager.on_start`` sleeps one second before it
registers the tables' changelogs and starts recovery, so that tables an app declares late
(in an agent, say) are there. Every table of the worker is declared before the app starts
(``stage_helpers``), so :func:`install_table_manager_start_without_wait` starts at once.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any

from faust.tables.manager import TableManager  # checked: faust-streaming 0.15.3
from faust.tables.recovery import Recovery  # checked: faust-streaming 0.15.3
from faust.utils.tracing import finish_span  # checked: faust-streaming 0.15.3
from mode import Service  # checked: mode-streaming 0.7.1

log = logging.getLogger("faust.tables.recovery")

#: Most records taken off the queue between two checks of the end of recovery (and turns of the event loop).
RUN = 1000


async def _read_changelogs(self: Recovery) -> None:
    """Faust 0.15.3's ``Recovery._slurp_changelogs``, over runs of queued records (checked: the whole body)."""
    changelog_queue = self.tables.changelog_queue
    timeout_count = 0
    while not self.should_stop:
        try:
            self.signal_recovery_end.clear()
            try:
                event = await asyncio.wait_for(changelog_queue.get(), timeout=5.0)
            except TimeoutError:
                timeout_count += 1
                if self.should_stop:
                    return
                await _end_if_recovered(self, timed_out=True, timeout_count=timeout_count)
                continue
            timeout_count = 0
            taken = 0
            while True:
                await _take(self, event)
                taken += 1
                if taken >= RUN or changelog_queue.empty():
                    break
                event = changelog_queue.get_nowait()
            await _end_if_recovered(self)
            standby_ready = self._standbys_span is None and self.tables.standbys_ready
            if not standby_ready and not self.standby_remaining_total():
                if self._standbys_span:
                    finish_span(self._standbys_span)
                    self._standbys_span = None
                self.tables.on_standbys_ready()
        except Exception as ex:
            log.warning("Error in recovery %s", ex)


async def _take(self: Recovery, event: Any) -> None:
    """One changelog record: Faust's per-record body, without the debug messages."""
    message = event.message
    tp = message.tp
    offset = message.offset
    now = monotonic()
    is_active = False
    if tp in self.active_tps:
        is_active = True
        table = self.tp_to_table[tp]
        offsets = self.active_offsets
        bufsize = self.buffer_sizes.get(tp)
        if bufsize is None:
            bufsize = self.buffer_sizes[tp] = table.recovery_buffer_size
        self._active_events_received_at[tp] = now
    elif tp in self.standby_tps:
        table = self.tp_to_table[tp]
        offsets = self.standby_offsets
        bufsize = self.buffer_sizes.get(tp)
        if bufsize is None:
            bufsize = self.buffer_sizes[tp] = table.standby_buffer_size
            self._standby_events_received_at[tp] = now
    else:
        log.warning("recovery unknown topic %s offset %s", tp, offset)
        return
    seen_offset = offsets.get(tp, None)
    if seen_offset is not None and offset <= seen_offset:
        return
    offsets[tp] = offset
    buf = self.buffers[table]
    buf.append(event)
    await table.on_changelog_event(event)
    if len(buf) >= bufsize:
        table.apply_changelog_batch(buf)
        buf.clear()
        self._last_flush_at = now
    if is_active:
        now_after = monotonic()
        last_processed_at = self._last_active_event_processed_at
        if last_processed_at is not None:
            processing_times = self._processing_times
            processing_times.append(now_after - last_processed_at)
            if len(processing_times) > self.num_samples_required_for_estimate:
                processing_times.popleft()
        self._last_active_event_processed_at = now_after


async def _end_if_recovered(self: Recovery, timed_out: bool = False, timeout_count: int = 0) -> None:
    """Faust's ``_maybe_signal_recovery_end``: once every active partition is read to its highwater,
    apply what the buffers hold and say that recovery ended."""
    # Faust waits two empty cycles before looking for aborted transactions (the consumer's
    # position and the queue's draining may race).
    if timed_out and self.app.in_transaction and timeout_count > 1:
        await _detect_aborted_tx(self)
    if self.in_recovery and not self.need_recovery():
        self.flush_buffers()
        self._set_recovery_ended()
        if self._actives_span is not None:
            self._actives_span.set_tag("Actives-Ready", True)
        self.signal_recovery_end.set()


async def _detect_aborted_tx(self: Recovery) -> None:
    """Faust's ``detect_aborted_tx`` (with a position of ``None`` taken as not there yet)."""
    offsets = self.active_offsets
    for tp, highwater in self.active_highwaters.items():
        if highwater is not None and offsets[tp] is not None and offsets[tp] < highwater:
            position = await self.app.consumer.position(tp)
            if position is not None and position >= highwater:
                log.info("Aborted tx until highwater for %s", tp)
                offsets[tp] = highwater


def install_batched_changelog_reading() -> None:
    """Make every ``Recovery`` read its changelogs with :func:`_read_changelogs` (once per process).

    mode starts a service's background tasks by attribute name, so the class attribute
    replaced here is the task Faust's recovery starts.
    """
    task = Recovery.__dict__["_slurp_changelogs"]
    if getattr(task, "_ces_batched", False):
        return
    replacement = Service.task(_read_changelogs)
    replacement._ces_batched = True  # type: ignore[attr-defined]  # our mark: installed once
    Recovery._slurp_changelogs = replacement  # type: ignore[method-assign]  # the patch itself


async def _start_table_manager(self: TableManager) -> None:
    """Faust 0.15.3's ``TableManager.on_start`` without its first ``sleep(1.0)`` (checked: the whole body)."""
    if not self.should_stop:
        await self._update_channels()
        await self.recovery.start()


def install_table_manager_start_without_wait() -> None:
    """Make ``TableManager`` register the changelogs and start recovery without waiting a second first."""
    TableManager.on_start = _start_table_manager  # type: ignore[method-assign]  # the patch itself
