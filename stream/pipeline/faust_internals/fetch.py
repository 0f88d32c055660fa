"""How much Faust's stream consumer asks the broker for per fetch, and how long the broker may wait to gather it.

Faust builds its stream consumer with ``fetch_max_wait_ms=1500`` and aiokafka's
``fetch_min_bytes=1``: the broker answers a fetch as soon as one record is there. At a
steady rate that is a fetch round trip per record or two, on every topic the worker
reads (the inputs, its own user events and partials); the fetches, not the decisions,
then take most of the worker's CPU. Kafka's ``fetch.min.bytes`` and ``fetch.max.wait.ms``
trade that against latency; Faust exposes neither, so :func:`install_fetch_limits`
sets them on the consumer Faust creates (measured in docs/performance.md).
"""

from __future__ import annotations

from typing import Any


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
