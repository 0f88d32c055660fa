"""Handing a fetched record to the stages without four asyncio tasks per record.

Faust's fetch loop (``Consumer._drain_messages``) hands each record to the conductor as
``await self.wait_first(callback(message), self.suspend_flow.wait())``: the callback runs
unless the flow is suspended (a rebalance) or the consumer stops first. mode's
``wait_first`` makes a task of each of the two, and of the consumer's ``stopped`` and
``crashed`` events, then ``asyncio.wait``\\s for the first and cancels the rest: four
tasks and a wait per record, on every topic the worker reads. In a py-spy profile of the
answer path that machinery took about a quarter of the worker's samples, more than the
stages' own decisions (docs/performance.md).

The callback almost never waits: it puts the record's event on a stream queue that has
room. :func:`install_eager_dispatch` gives the consumer a ``wait_first`` that first runs
the callback up to its first suspension, as a task's first step would; when it finishes
there (the usual case), that is the outcome, with no task. When it suspends (a full
queue, flow control, a full producer buffer), the rest of it goes through mode's own
``wait_first`` against the suspension event, exactly as before. The fast path is taken
only for that call's shape: two awaitables, the first a coroutine, no timeout, the
consumer neither stopped nor crashed. Fairness stays: the fetch loop yields to the event
loop every 100 records by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from mode.services import WaitResults  # checked: mode-streaming 0.7.1


class _Rest:
    """The rest of a coroutine that already ran to its first suspension on ``pending``, as an awaitable.

    A task awaiting it waits on ``pending`` first, then drives the coroutine on; a
    cancellation (or any exception the task throws in) goes into the coroutine.
    """

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # thrown in by the task (a cancellation): the coroutine handles it
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(None)
                except StopIteration as stop:
                    return stop.value


def _close(awaitable: Any) -> None:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()  # never awaited: closed, so Python does not warn about it


def eager_wait_first(original: Callable[..., Awaitable[WaitResults]]) -> Callable[..., Awaitable[WaitResults]]:
    """``Service.wait_first`` that runs its first coroutine up to its first suspension before making any task.

    :param original: mode's ``Service.wait_first``; it takes over when the coroutine suspends.
    """

    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109  # mode's signature
        first = coros[0] if coros else None
        if (
            len(coros) != 2
            or timeout is not None
            or not asyncio.iscoroutine(first)
            or self._stopped.is_set()
            or self._crashed.is_set()
        ):
            return await original(self, *coros, timeout=timeout)
        try:
            pending = first.send(None)
        except StopIteration as stop:
            _close(coros[1])
            return WaitResults([first], [stop.value], False)
        except BaseException:
            _close(coros[1])
            raise
        return await original(self, _Rest(first, pending), coros[1])

    wait_first.__wrapped__ = original  # type: ignore[attr-defined]
    return wait_first


def install_eager_dispatch() -> None:
    """Faust's stream consumer runs each record's callback without tasks when it does not wait (idempotent)."""
    from faust.transport.consumer import Consumer

    # checked: faust-streaming 0.15.3 (Consumer._drain_messages awaits
    # self.wait_first(callback(message), self.suspend_flow.wait()) per record; the consumer
    # inherits wait_first from mode.Service) and mode-streaming 0.7.1 (Service.wait_first)
    current = Consumer.wait_first
    original = getattr(current, "__wrapped__", current)
    Consumer.wait_first = eager_wait_first(original)  # type: ignore[method-assign,assignment]  # the patch
