"""A bounded, jittered wait between attempts to connect to a broker, for every aiokafka client of the worker.

aiokafka 0.14 tries to connect again as soon as anything asks for a connection, with no
wait of its own. One caller asks in a loop: the producer's sender, while it holds records
for a partition whose leader is unknown, forces a metadata update and waits for it; the
update fails at once (connection refused), so the sender loops. With records in flight as
the broker went away, that was 2 000-5 700 connection attempts and metadata updates a
second (issue 25: 80-96 % of a core, "Unable connect to node with id 1 ... and 301 623
more like it in the last 30 s").

The Java client has ``reconnect.backoff.ms`` and ``reconnect.backoff.max.ms`` for this;
:func:`install_reconnect_backoff` gives every ``AIOKafkaClient`` the same: after a failed
attempt to connect to a node, the next attempt waits ``initial_s`` doubling up to
``max_s``, each wait drawn within +-20 %, per client and connection; a connection that
succeeds resets it. Callers wait inside ``_get_conn`` (the one place every client
connects through), so every loop that reconnects is bounded by the wait; callers that ask
while an attempt waits share its outcome (one attempt, not one per caller). The broker
back, the next attempt is at most ``max_s`` (+20 %) away.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JITTER = 0.2


@dataclass
class ReconnectBackoff:
    """The waits between attempts to connect, per connection (pure: no aiokafka).

    :param initial_s: the wait after the first failed attempt.
    :param max_s: the longest wait.
    :param jitter: each wait is drawn from ``wait * (1 +- jitter)``.
    """

    initial_s: float = 0.05
    max_s: float = 1.0
    jitter: float = JITTER
    rand: Callable[[], float] = random.random
    _failures: dict[Any, tuple[int, float, float]] = field(default_factory=dict)  # key -> (count, at, wait)
    attempts: dict[Any, Any] = field(default_factory=dict)  # key -> the future of the attempt under way

    def wait_s(self, key: Any, now: float) -> float:
        """How long an attempt to connect ``key`` must still wait (0: try now)."""
        state = self._failures.get(key)
        if state is None:
            return 0.0
        _, at, wait = state
        return max(0.0, at + wait - now)

    def failed(self, key: Any, now: float) -> float:
        """An attempt failed at ``now``; returns the wait before the next one."""
        count = self._failures.get(key, (0, 0.0, 0.0))[0] + 1
        base = min(self.max_s, self.initial_s * 2 ** min(count - 1, 30))
        wait = base * (1 + self.jitter * (2 * self.rand() - 1))
        self._failures[key] = (count, now, wait)
        return wait

    def succeeded(self, key: Any) -> None:
        self._failures.pop(key, None)


_BACKOFF_ATTR = "_ces_reconnect_backoff"


def install_reconnect_backoff(initial_s: float = 0.05, max_s: float = 1.0) -> None:
    """Make every ``AIOKafkaClient`` (Faust's consumer and producer, the probe, the reader) back off.

    Idempotent: a second call only changes the waits of clients created after it.
    """
    from aiokafka.client import AIOKafkaClient

    # checked: aiokafka 0.14.0 (AIOKafkaClient._get_conn(node_id, *, group, no_hint) returns a
    # connection or None after logging "Unable connect to node with id ..."; every client connects
    # to a known node through it)
    original = getattr(AIOKafkaClient._get_conn, "__wrapped__", AIOKafkaClient._get_conn)
    AIOKafkaClient._get_conn = backing_off(original, initial_s, max_s)


def backing_off(get_conn: Callable[..., Any], initial_s: float, max_s: float) -> Callable[..., Any]:
    """``get_conn`` (aiokafka's ``_get_conn``) made to wait between failed attempts, per client and connection."""
    from aiokafka.client import ConnectionGroup

    async def _get_conn(self: Any, node_id: Any, *, group: Any = ConnectionGroup.DEFAULT, no_hint: bool = False) -> Any:
        backoff = self.__dict__.get(_BACKOFF_ATTR)
        if backoff is None:
            backoff = self.__dict__[_BACKOFF_ATTR] = ReconnectBackoff(initial_s, max_s)
        key = (node_id, group)
        if key not in backoff._failures:  # the hot path: this connection has not failed, nothing to wait for
            conn = await get_conn(self, node_id, group=group, no_hint=no_hint)
            if conn is None:
                backoff.failed(key, time.monotonic())
            return conn
        attempt = backoff.attempts.get(key)
        if attempt is not None:  # callers that ask while an attempt waits or runs share its outcome
            return await asyncio.shield(attempt)
        attempt = backoff.attempts[key] = asyncio.get_running_loop().create_future()
        conn = None
        try:
            wait = backoff.wait_s(key, time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            conn = await get_conn(self, node_id, group=group, no_hint=no_hint)
            if conn is None:
                backoff.failed(key, time.monotonic())
            else:
                backoff.succeeded(key)
            return conn
        finally:
            del backoff.attempts[key]
            attempt.set_result(conn)

    _get_conn.__wrapped__ = get_conn  # type: ignore[attr-defined]
    return _get_conn
