"""install_fetch_limits: Faust's stream consumer gets Kafka's fetch.min.bytes and fetch.max.wait.ms from the settings."""

from __future__ import annotations

import faust
import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from stream.pipeline.faust_internals import install_fetch_limits


@pytest.fixture
def restore_faust():
    original = AIOKafkaConsumerThread._create_worker_consumer
    yield
    AIOKafkaConsumerThread._create_worker_consumer = original  # type: ignore[method-assign]


def stream_consumer():
    app = faust.App("fetch-limits-test", broker="kafka://127.0.0.1:9", autodiscover=False)
    thread = app.consumer._thread
    return thread._create_worker_consumer(app.transport)


async def test_faust_alone_answers_each_fetch_at_once():
    consumer = stream_consumer()
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (1, 1500)


async def test_the_stream_consumer_takes_the_limits_and_a_second_call_replaces_them(restore_faust):
    install_fetch_limits(16_384, 5)
    consumer = stream_consumer()
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (16_384, 5)
    install_fetch_limits(1, 1500)  # not wrapped twice: the original builds, the new values apply
    consumer = stream_consumer()
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (1, 1500)
    assert AIOKafkaConsumerThread._create_worker_consumer.__wrapped__.__name__ == "_create_worker_consumer"


def test_aiokafka_builds_its_fetcher_from_those_attributes():
    """The patch sets attributes of an unstarted consumer: its start() must be what reads them."""
    import inspect

    from aiokafka import AIOKafkaConsumer

    source = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_min_bytes=self._fetch_min_bytes" in source
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in source
