"""The eager ``wait_first`` of Faust's fetch loop: no task when the callback does not wait, mode's own otherwise."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
from mode import Service
from mode.utils.locks import Event

from stream.pipeline.faust_internals.dispatch import eager_wait_first, install_eager_dispatch


class Fetcher(Service):
    """A mode service with the eager ``wait_first``, as Faust's consumer gets it."""

    wait_first = eager_wait_first(Service.wait_first)


def tasks_now() -> int:
    return len(asyncio.all_tasks())


def never_awaited(caught: list[warnings.WarningMessage]) -> list[str]:
    """Python's warnings about coroutines collected without being awaited (other warnings are not ours)."""
    return [str(w.message) for w in caught if "was never awaited" in str(w.message)]


async def test_a_callback_that_does_not_wait_runs_to_its_end_without_a_task():
    fetcher, suspend, ran = Fetcher(), Event(), []
    tasks_seen = []

    async def callback(n: int) -> int:
        tasks_seen.append(tasks_now())
        ran.append(n)
        return n * 2

    before = tasks_now()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await fetcher.wait_first(callback(21), suspend.wait())
        gc.collect()
    assert never_awaited(caught) == []  # the suspension wait it did not need was closed
    assert ran == [21]
    assert result.done and result.results == [42] and not result.stopped
    assert tasks_seen == [before]  # no task was made to run it


async def test_a_callback_that_waits_finishes_through_modes_wait_first():
    fetcher, suspend, gate = Fetcher(), Event(), asyncio.get_running_loop().create_future()
    steps = []

    async def callback() -> str:
        steps.append("before")
        value = await gate
        steps.append(value)
        await asyncio.sleep(0)
        steps.append("after")
        return "done"

    waiting = asyncio.ensure_future(fetcher.wait_first(callback(), suspend.wait()))
    await asyncio.sleep(0.01)
    assert steps == ["before"] and not waiting.done()
    gate.set_result("opened")
    result = await asyncio.wait_for(waiting, 1)
    assert steps == ["before", "opened", "after"]
    assert result.results == ["done"]


async def test_a_waiting_callback_is_cancelled_when_the_flow_is_suspended():
    fetcher, suspend, gate = Fetcher(), Event(), asyncio.get_running_loop().create_future()
    cancelled = []

    async def callback() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    waiting = asyncio.ensure_future(fetcher.wait_first(callback(), suspend.wait()))
    await asyncio.sleep(0.01)
    suspend.set()
    await asyncio.wait_for(waiting, 1)
    await asyncio.sleep(0)
    assert cancelled == [True]
    assert gate.cancelled()  # the future the callback waited on was cancelled with it


async def test_an_error_of_the_callback_reaches_the_fetch_loop():
    fetcher, suspend = Fetcher(), Event()

    async def callback() -> None:
        raise ValueError("bad record")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="bad record"):
            await fetcher.wait_first(callback(), suspend.wait())
        gc.collect()
    assert never_awaited(caught) == []


async def test_other_calls_take_modes_own_path():
    fetcher, suspend = Fetcher(), Event()
    suspend.set()
    result = await fetcher.wait_first(suspend, timeout=1)  # one event, a timeout: mode's own wait_first
    assert result.done == [suspend]


async def test_a_stopped_consumer_does_not_run_the_callback_eagerly():
    fetcher, suspend, ran = Fetcher(), Event(), []

    async def callback() -> None:
        ran.append(True)

    fetcher._stopped.set()
    result = await fetcher.wait_first(callback(), suspend.wait())
    assert result.stopped  # mode's answer for a stopped service


def test_installing_twice_wraps_modes_wait_first_once(monkeypatch: pytest.MonkeyPatch):
    from faust.transport.consumer import Consumer

    monkeypatch.setattr(Consumer, "wait_first", Consumer.wait_first)  # put back after the test
    install_eager_dispatch()
    install_eager_dispatch()
    assert Consumer.wait_first.__wrapped__ is Service.wait_first
