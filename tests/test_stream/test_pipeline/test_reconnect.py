"""The reconnect backoff: bounded, jittered, per connection, and every aiokafka client goes through it."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from stream.pipeline.faust_internals import install_reconnect_backoff
from stream.pipeline.faust_internals.reconnect import ReconnectBackoff, backing_off


def test_waits_double_up_to_the_bound():
    backoff = ReconnectBackoff(0.05, 1.0, rand=lambda: 0.5)  # no jitter
    waits = [backoff.failed("n", now=0.0) for _ in range(8)]
    assert waits == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.8), (0.999999, 1.2)])
def test_each_wait_is_drawn_within_twenty_percent(rand, factor):
    backoff = ReconnectBackoff(0.05, 1.0, rand=lambda: rand)
    for _ in range(10):
        wait = backoff.failed("n", now=0.0)
    assert wait == pytest.approx(factor, rel=1e-4)


def test_the_wait_counts_from_the_failure_and_a_success_resets_it():
    backoff = ReconnectBackoff(0.05, 1.0, rand=lambda: 0.5)
    assert backoff.wait_s("n", now=5.0) == 0.0
    backoff.failed("n", now=10.0)
    backoff.failed("n", now=10.0)  # 0.1 s from 10.0
    assert backoff.wait_s("n", now=10.04) == pytest.approx(0.06)
    assert backoff.wait_s("other", now=10.04) == 0.0
    backoff.succeeded("n")
    assert backoff.wait_s("n", now=10.04) == 0.0
    assert backoff.failed("n", now=11.0) == pytest.approx(0.05)


async def test_an_unreachable_broker_is_tried_about_once_per_bound_not_in_a_loop():
    attempts: list[float] = []

    async def refused(client, node_id, *, group=None, no_hint=False):
        attempts.append(time.monotonic())
        return  # aiokafka's _get_conn when the connection is refused

    get_conn = backing_off(refused, initial_s=0.01, max_s=0.1)
    client = SimpleNamespace()
    started = time.monotonic()
    while time.monotonic() - started < 1.0:  # a caller that asks again at once, like the producer's sender
        assert await get_conn(client, 1) is None
    # 0.01, 0.02, 0.04, 0.08, then 0.1 (+-20 %): about 13 attempts in a second instead of thousands.
    assert 8 <= len(attempts) <= 16


async def test_callers_waiting_together_make_one_attempt_and_a_success_clears_the_wait():
    attempts: list[int] = []
    up = False

    async def connect(client, node_id, *, group=None, no_hint=False):
        attempts.append(node_id)
        await asyncio.sleep(0.01)  # connecting takes a while: the others must not start attempts of their own
        return "conn" if up else None

    get_conn = backing_off(connect, initial_s=0.05, max_s=0.05)
    client = SimpleNamespace()
    assert await get_conn(client, 1) is None
    results = await asyncio.gather(*(get_conn(client, 1) for _ in range(10)))
    assert results == [None] * 10 and len(attempts) == 2  # ten callers, one more attempt
    up = True
    assert await get_conn(client, 1) == "conn"
    assert await get_conn(client, 1) == "conn" and len(attempts) == 4  # no wait once connected


def test_installing_twice_wraps_aiokafka_once():
    from aiokafka.client import AIOKafkaClient

    install_reconnect_backoff()
    first = AIOKafkaClient._get_conn.__wrapped__
    install_reconnect_backoff()
    assert AIOKafkaClient._get_conn.__wrapped__ is first
    assert "node_id" in first.__code__.co_varnames  # aiokafka's own _get_conn(node_id, *, group, no_hint)


async def test_a_failing_broker_does_not_slow_the_connections_to_the_others():
    async def connect(client, node_id, *, group=None, no_hint=False):
        return None if node_id == 1 else f"conn-{node_id}"

    get_conn = backing_off(connect, initial_s=10.0, max_s=10.0)
    client = SimpleNamespace()
    assert await get_conn(client, 1) is None  # node 1 now waits 10 s before its next attempt
    assert await asyncio.wait_for(get_conn(client, 2), 1.0) == "conn-2"
