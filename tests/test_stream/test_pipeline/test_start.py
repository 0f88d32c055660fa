"""Tests for stream.pipeline.faust_internals.start: changelogs read in runs, the table manager without its second."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import SimpleNamespace

import faust
import pytest
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from stream.pipeline.faust_internals import install_batched_changelog_reading, install_table_manager_start_without_wait
from stream.pipeline.faust_internals.start import RUN, _read_changelogs
from stream.pipeline.stage_helpers import raw_table
from stream.settings import Settings

ACTIVE = TP("app-users-changelog", 0)
STANDBY = TP("app-users-changelog", 1)
UNKNOWN = TP("elsewhere", 0)


def record(tp: TP, offset: int, key: bytes, value: bytes | None) -> SimpleNamespace:
    """A changelog event as Faust's memory store reads it."""
    message = SimpleNamespace(tp=tp, topic=tp.topic, partition=tp.partition, offset=offset, key=key, value=value)
    return SimpleNamespace(message=message, key=key, value=value)


@pytest.fixture
def recovery():
    app = faust.App("start-test", broker="kafka://127.0.0.1:9", autodiscover=False, store="memory://")
    app.flow_control.resume()
    table = raw_table(app, "users", Settings(topic_partitions=8))
    recovery = Recovery(app, app.tables)
    recovery.active_tps = {ACTIVE}
    recovery.standby_tps = {STANDBY}
    recovery.tp_to_table = {ACTIVE: table, STANDBY: table}
    recovery.active_offsets = Counter({ACTIVE: -1})
    recovery.standby_offsets = Counter({STANDBY: -1})
    recovery.active_highwaters = Counter({ACTIVE: 0})
    recovery._set_recovery_started()  # as Faust does before reading
    return SimpleNamespace(app=app, table=table, recovery=recovery, queue=app.tables.changelog_queue)


async def read_until_recovered(recovery: Recovery, timeout_s: float = 5.0) -> None:
    """Run the reading task until it signals the end of recovery, then stop it."""
    task = asyncio.ensure_future(_read_changelogs(recovery))
    try:
        await asyncio.wait_for(recovery.signal_recovery_end.wait(), timeout_s)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_run_applies_every_record_once_and_ends_recovery_at_the_highwater(recovery):
    ctx = recovery
    records = [record(ACTIVE, offset, f"u{offset % 700}".encode(), f"v{offset}".encode()) for offset in range(2500)]
    # At the end: a record seen again (Faust may fetch a partition again), one of a partition
    # that is neither active nor standby, a deletion.
    records.append(record(ACTIVE, 10, b"u10", b"stale"))
    records.append(record(UNKNOWN, 3, b"u1", b"elsewhere"))
    records.append(record(ACTIVE, 2500, b"u5", None))
    ctx.recovery.active_highwaters = Counter({ACTIVE: 2500})
    for item in records:
        ctx.queue.put_nowait(item)

    await read_until_recovered(ctx.recovery)

    newest: dict[bytes, bytes] = {}
    for offset in range(2500):
        newest[f"u{offset % 700}".encode()] = f"v{offset}".encode()
    del newest[b"u5"]
    assert dict(ctx.table.data.items()) == newest
    assert ctx.recovery.active_offsets[ACTIVE] == 2500
    assert not ctx.recovery.in_recovery
    assert not ctx.app.in_recovery
    assert ctx.queue.empty()


async def test_recovery_ends_only_at_the_highwater_of_every_active_partition(recovery):
    ctx = recovery
    ctx.recovery.active_highwaters = Counter({ACTIVE: 5})
    for offset in range(3):
        ctx.queue.put_nowait(record(ACTIVE, offset, b"k", str(offset).encode()))
    task = asyncio.ensure_future(_read_changelogs(ctx.recovery))
    try:
        for _ in range(500):  # up to 5 s for the first three records
            if ctx.recovery.active_offsets[ACTIVE] == 2:
                break
            await asyncio.sleep(0.01)
        assert ctx.recovery.active_offsets[ACTIVE] == 2
        assert ctx.recovery.in_recovery  # offsets 3..5 still to come
        for offset in range(3, 6):
            ctx.queue.put_nowait(record(ACTIVE, offset, b"k", str(offset).encode()))
        await asyncio.wait_for(ctx.recovery.signal_recovery_end.wait(), 5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ctx.table.data[b"k"] == b"5"
    assert not ctx.recovery.in_recovery


async def test_standby_records_count_under_the_standby_offsets(recovery):
    ctx = recovery
    ctx.recovery.active_highwaters = Counter({ACTIVE: 0})
    ctx.queue.put_nowait(record(STANDBY, 0, b"s", b"standby"))
    ctx.queue.put_nowait(record(ACTIVE, 0, b"a", b"active"))
    await read_until_recovered(ctx.recovery)
    assert ctx.recovery.standby_offsets[STANDBY] == 0
    assert ctx.recovery.active_offsets[ACTIVE] == 0
    assert ctx.table.data[b"a"] == b"active"


async def test_the_loop_turns_between_runs(recovery):
    """A long changelog is read in runs of RUN records; other tasks run between them."""
    ctx = recovery
    total = 3 * RUN + 10
    ctx.recovery.active_highwaters = Counter({ACTIVE: total - 1})
    for offset in range(total):
        ctx.queue.put_nowait(record(ACTIVE, offset, str(offset).encode(), b"v"))
    seen_sizes: set[int] = set()  # table sizes another task saw while the changelog was read
    stop = asyncio.Event()

    async def other() -> None:
        while not stop.is_set():
            seen_sizes.add(len(ctx.table.data))
            await asyncio.sleep(0)

    other_task = asyncio.ensure_future(other())
    await read_until_recovered(ctx.recovery)
    stop.set()
    await other_task
    assert len(ctx.table.data) == total
    assert len({size for size in seen_sizes if 0 < size < total}) >= 3


def test_installing_replaces_the_recovery_task_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Recovery, "_slurp_changelogs", Recovery.__dict__["_slurp_changelogs"])
    install_batched_changelog_reading()
    installed = Recovery.__dict__["_slurp_changelogs"]
    install_batched_changelog_reading()
    assert Recovery.__dict__["_slurp_changelogs"] is installed
    assert installed.fun is _read_changelogs
    # mode starts a service's tasks by attribute name: the replaced one is what a Recovery starts.
    assert "_slurp_changelogs" in Recovery._tasks[Recovery._get_class_id()]


async def test_the_table_manager_starts_recovery_without_waiting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(TableManager, "on_start", TableManager.on_start)
    install_table_manager_start_without_wait()
    started: list[str] = []
    manager = SimpleNamespace(should_stop=False)

    async def update_channels() -> None:
        started.append("channels")

    async def start_recovery() -> None:
        started.append("recovery")

    manager._update_channels = update_channels
    manager.recovery = SimpleNamespace(start=start_recovery)
    began = time.monotonic()
    await TableManager.on_start(manager)  # type: ignore[arg-type]
    assert started == ["channels", "recovery"]
    assert time.monotonic() - began < 0.5
