"""Who waits for which user's prompts: the open streams and long-polls, on the event loop.

The prompt reader hands each poll's records to :meth:`Hub.take` (through the loop); a new prompt
goes into the buffer and, at once, to every connection of its user. A connection subscribes
before it reads what the buffer owes it, with nothing awaited in between, so no prompt falls
between the two; it remembers the prompts it wrote, so none is written twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from stream.ces.gateway import Closure, EventId, PromptBuffer, PromptRecord
from stream.observability.gateway_metrics import GatewayMetrics

EXPIRY_INTERVAL_S = 1.0


def _answer(waiter: asyncio.Future[bool], arrived: bool) -> None:
    if not waiter.done():
        waiter.set_result(arrived)


class Subscriber:
    """One open stream or waiting long-poll of one user."""

    __slots__ = ("_queue", "_waiter", "closing", "sent", "user_ref")

    def __init__(self, user_ref: str) -> None:
        self.user_ref = user_ref
        self.closing = False
        self.sent: set[str] = set()
        """The prompt ids written on this connection."""
        self._queue: list[PromptRecord] = []
        # A bare future and a timer, not an Event under wait_for: thousands of streams wait at once.
        self._waiter: asyncio.Future[bool] | None = None

    def push(self, prompt: PromptRecord) -> None:
        self._queue.append(prompt)
        if self._waiter is not None:
            _answer(self._waiter, True)

    def close(self) -> None:
        self.closing = True
        if self._waiter is not None:
            _answer(self._waiter, True)

    async def wait(self, timeout_s: float) -> bool:
        """Wait until a prompt arrives or the gateway stops; False after ``timeout_s`` without either."""
        if self._queue or self.closing:
            return True
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(max(timeout_s, 0.0), _answer, waiter, False)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> list[PromptRecord]:
        """The prompts that arrived since the last call, not yet written here."""
        queue, self._queue = self._queue, []
        return [prompt for prompt in queue if prompt.prompt_id not in self.sent]


class TooMany(Exception):
    """No more connections: of this gateway (``per_user`` False) or of this user."""

    def __init__(self, per_user: bool) -> None:
        super().__init__("too many connections of this user" if per_user else "too many connections")
        self.per_user = per_user


class Hub:
    """The buffer of unexpired prompts and the connections waiting for them.

    :param user_ref: the pseudonymous reference of a user id.
    """

    def __init__(
        self,
        buffer: PromptBuffer,
        user_ref: Callable[[str], str],
        metrics: GatewayMetrics,
        max_connections: int,
        max_per_user: int,
    ) -> None:
        self.buffer = buffer
        self.user_ref = user_ref
        self.metrics = metrics
        self.max_connections = max_connections
        self.max_per_user = max_per_user
        self.closing = False
        self.connections = 0
        self._subscribers: dict[str, set[Subscriber]] = {}

    def take(
        self, prompts: list[tuple[str, PromptRecord]], closures: list[tuple[str, Closure]], unreadable: int
    ) -> None:
        """What the prompt reader read: new prompts buffered and handed to their user's connections, closures noted."""
        now_s = time.time()
        read = self.metrics.prompts_read
        for user_ref, prompt in prompts:
            if self.buffer.add(user_ref, prompt, now_s):
                read.labels("buffered").inc()
                for subscriber in self._subscribers.get(user_ref, ()):
                    subscriber.push(prompt)
            else:
                read.labels("expired" if prompt.expires_s <= now_s else "repeated").inc()
        for user_ref, closure in closures:
            self.buffer.close(user_ref, closure.prompt_id, now_s)
        if unreadable:
            read.labels("unreadable").inc(unreadable)

    def subscribe(self, user_ref: str) -> Subscriber:
        """A new connection of the user.

        :raises TooMany: beyond the gateway's or the user's bound.
        """
        if self.connections >= self.max_connections:
            raise TooMany(per_user=False)
        mine = self._subscribers.setdefault(user_ref, set())
        if len(mine) >= self.max_per_user:
            raise TooMany(per_user=True)
        subscriber = Subscriber(user_ref)
        mine.add(subscriber)
        self.connections += 1
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        mine = self._subscribers.get(subscriber.user_ref)
        if mine is None or subscriber not in mine:
            return
        mine.discard(subscriber)
        self.connections -= 1
        if not mine:
            del self._subscribers[subscriber.user_ref]

    def pending(self, user_ref: str, after: EventId | None) -> list[PromptRecord]:
        """The unexpired prompts owed to a connection of the user that saw ``after`` (None: nothing yet)."""
        return self.buffer.pending(user_ref, after, time.time())

    def close_all(self) -> None:
        """The gateway stops: every connection ends (streams are told nothing: the browser reconnects elsewhere)."""
        self.closing = True
        for mine in self._subscribers.values():
            for subscriber in mine:
                subscriber.close()

    async def expire_forever(self) -> None:
        """Drop expired prompts every second (they are never handed out in any case)."""
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL_S)
            self.buffer.expire(time.time())
