"""How much Faust's stream consumer asks the broker for per fetch, and how long the broker may wait to gather it.

Faust builds its stream consumer with ``fetch_max_wait_ms=1500`` and aiokafka's
``fetch_min_bytes=1``: the broker answers a fetch as soon as one record is there. At a
steady rate that is a fetch round trip per record or two, on every topic the worker
reads (the inputs, its own user events and partials); the fetches, not the decisions,
then take most of the worker's CPU. Kafka's ``fetch.min.bytes`` and ``fetch.max.wait.ms``
trade that against latency; Faust exposes neither, so :func:`install_fetch_limits`
sets them on the consumer Faust creates (measured in docs/performance.md).

The limits hold only while records keep coming: a fetch that brought nothing is followed by
one that answers at the first record (waiting up to :data:`IDLE_FETCH_WAIT_MS`), so a quiet
worker long-polls instead of asking every few ms, and its first record is not held back.
"""

from __future__ import annotations

from typing import Any

# How long the broker may hold a fetch while nothing comes (Faust's own fetch.max.wait.ms).
IDLE_FETCH_WAIT_MS = 1500


def install_fetch_limits(min_bytes: int, max_wait_ms: int) -> None:
    """Faust's stream consumer fetches at least ``min_bytes``, or what came within ``max_wait_ms``.

    Idempotent: a second call replaces the values for consumers created after it.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    # checked: faust-streaming 0.15.3 (AIOKafkaConsumerThread._create_worker_consumer(transport)
    # returns the unstarted aiokafka.AIOKafkaConsumer of the streams) and aiokafka 0.14.0
    # (AIOKafkaConsumer.start() builds its Fetcher from _fetch_min_bytes and _fetch_max_wait_ms)
    create = AIOKafkaConsumerThread._create_worker_consumer
    original = getattr(create, "__wrapped__", create)

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_min_bytes = min_bytes
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    _create_worker_consumer.__wrapped__ = original  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]  # the patch
    _install_idle_fallback()


def _install_idle_fallback() -> None:
    """A fetcher asking for more than one byte asks for one after a fetch that brought nothing, and back after one that did.

    Fetchers built with ``fetch_min_bytes=1`` (every other consumer of the process, and the
    stream consumer by default) keep their own values. The mode is the fetcher's, not a
    broker's: with several brokers a quiet one's fetch may be built in the busy mode (a short
    wait) or the other way round (an answer at the first record); neither loses a record.
    """
    from aiokafka.consumer.fetcher import Fetcher

    # checked: aiokafka 0.14.0 (Fetcher._proc_fetch_request(assignment, node_id, request) sends one
    # fetch and returns True when it buffered records (or an error to raise); _get_actions_per_node
    # builds each FetchRequest from _fetch_max_wait_ms and _fetch_min_bytes)
    proc = Fetcher._proc_fetch_request
    original = getattr(proc, "__wrapped__", proc)

    async def _proc_fetch_request(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        gather = getattr(self, "_ces_gather", None)
        if gather is None:
            gather = self._ces_gather = (self._fetch_min_bytes, self._fetch_max_wait_ms)
        got = await original(self, assignment, node_id, request)
        if gather[0] > 1:
            self._fetch_min_bytes, self._fetch_max_wait_ms = gather if got else (1, IDLE_FETCH_WAIT_MS)
        return got

    _proc_fetch_request.__wrapped__ = original  # type: ignore[attr-defined]
    Fetcher._proc_fetch_request = _proc_fetch_request  # the patch
