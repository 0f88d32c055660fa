"""install_fetch_limits: Faust's stream consumer gets Kafka's fetch.min.bytes and fetch.max.wait.ms from the settings."""

from __future__ import annotations

import faust
import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from stream.pipeline.faust_internals import install_fetch_limits


@pytest.fixture
def restore_faust():
    from aiokafka.consumer.fetcher import Fetcher

    original = AIOKafkaConsumerThread._create_worker_consumer
    proc = Fetcher._proc_fetch_request
    yield
    AIOKafkaConsumerThread._create_worker_consumer = original  # type: ignore[method-assign]
    Fetcher._proc_fetch_request = proc


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


@pytest.fixture
def fake_fetch():
    """Fetcher._proc_fetch_request replaced by one whose result the test sets, wrapped by the idle fallback."""
    from aiokafka.consumer.fetcher import Fetcher

    from stream.pipeline.faust_internals import fetch

    real = Fetcher._proc_fetch_request
    outcome = {"got": True}

    async def fake(self, assignment, node_id, request):
        self.requests.append((self._fetch_min_bytes, self._fetch_max_wait_ms))
        return outcome["got"]

    Fetcher._proc_fetch_request = fake
    fetch._install_idle_fallback()
    yield Fetcher, outcome
    Fetcher._proc_fetch_request = real


def fetcher(min_bytes, max_wait_ms):
    from types import SimpleNamespace

    return SimpleNamespace(_fetch_min_bytes=min_bytes, _fetch_max_wait_ms=max_wait_ms, requests=[])


async def test_the_limits_hold_while_records_come_and_an_empty_fetch_waits_for_the_first_record(fake_fetch):
    from stream.pipeline.faust_internals.fetch import IDLE_FETCH_WAIT_MS

    Fetcher, outcome = fake_fetch
    f = fetcher(16_384, 5)
    for got in (True, True, False, False, True, True):
        outcome["got"] = got
        await Fetcher._proc_fetch_request(f, None, 0, None)
    idle = (1, IDLE_FETCH_WAIT_MS)
    busy = (16_384, 5)
    # each request is built from what the one before brought
    assert f.requests == [busy, busy, busy, idle, idle, busy]
    assert (f._fetch_min_bytes, f._fetch_max_wait_ms) == busy


async def test_a_fetcher_without_limits_keeps_its_own_values(fake_fetch):
    Fetcher, outcome = fake_fetch
    f = fetcher(1, 500)
    for got in (True, False, True):
        outcome["got"] = got
        await Fetcher._proc_fetch_request(f, None, 0, None)
    assert f.requests == [(1, 500)] * 3


def test_the_idle_fallback_wraps_aiokafka_once(restore_faust):
    from aiokafka.consumer.fetcher import Fetcher

    real = Fetcher._proc_fetch_request
    install_fetch_limits(16_384, 5)
    install_fetch_limits(16_384, 5)
    assert Fetcher._proc_fetch_request.__wrapped__ is getattr(real, "__wrapped__", real)


def test_aiokafka_builds_each_fetch_request_from_the_fetchers_attributes():
    """The fallback changes attributes between fetches: the request builder must read them each time."""
    import inspect

    from aiokafka.consumer.fetcher import Fetcher

    source = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms,\n                self._fetch_min_bytes," in source
