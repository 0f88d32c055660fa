"""The prompt stream and the long-poll in-process: live delivery, resume after an id, never twice, never expired."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.test_stream.test_tools.test_gateway.gateway_fakes import (
    ORIGIN,
    Gateway,
    prompt_record,
)


async def until(check: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Poll ``check`` on the loop until it holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


async def next_event(response: ClientResponse, timeout_s: float = 2.0) -> dict[str, Any]:
    """The next event of a stream (comments skipped): its fields, ``data`` parsed."""
    event: dict[str, Any] = {}
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await response.content.readline()).decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value


async def open_stream(client: TestClient, gateway: Gateway, user: str = "alice", **headers: str) -> ClientResponse:
    response = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket(user)}", headers=headers)
    assert response.status == 200, await response.text()
    return response


async def test_a_stream_gets_its_users_prompts_live_and_no_one_elses(client, gateway):
    stream = await open_stream(client, gateway)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    mine, theirs = prompt_record(5), prompt_record(6, "bob")
    gateway.publish(theirs, mine)
    event = await next_event(stream)
    assert (event["id"], event["event"], event["data"]["prompt_id"]) == ("0-5", "prompt", mine.prompt_id)
    assert gateway.metrics.registry.get_sample_value("ces_gateway_delivery_lag_seconds_count", {"via": "stream"}) == 1
    assert gateway.metrics.registry.get_sample_value("ces_gateway_open_streams") == 1
    stream.close()


async def test_a_reconnect_with_last_event_id_gets_what_it_missed_and_nothing_twice(client, gateway):
    first, second, third = prompt_record(1), prompt_record(2), prompt_record(3)
    stream = await open_stream(client, gateway)
    gateway.publish(first)
    assert (await next_event(stream))["id"] == "0-1"
    stream.close()
    gateway.publish(second, third)  # while disconnected
    again = await open_stream(client, gateway, **{"Last-Event-ID": "0-1"})
    assert [(await next_event(again))["id"], (await next_event(again))["id"]] == ["0-2", "0-3"]
    gateway.publish(second)  # read again (a gateway replay, or a worker's re-send)
    fourth = prompt_record(4)
    gateway.publish(fourth)
    assert (await next_event(again))["id"] == "0-4"
    again.close()


async def test_a_new_connection_gets_the_unexpired_prompts_and_after_picks_up_from_an_id(client, gateway):
    gateway.publish(prompt_record(1), prompt_record(2, expires_in_s=0.05), prompt_record(3))
    await asyncio.sleep(0.1)  # the second expires
    fresh = await open_stream(client, gateway)
    assert [(await next_event(fresh))["id"], (await next_event(fresh))["id"]] == ["0-1", "0-3"]
    fresh.close()
    resumed = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket()}&after=0-1")
    assert (await next_event(resumed))["id"] == "0-3"
    resumed.close()


async def test_a_bad_last_event_id_is_400(client, gateway):
    response = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket()}", headers={"Last-Event-ID": "x"})
    assert response.status == 400
    assert (await response.json())["error"] == "bad_event_id"


async def test_a_stream_without_a_valid_ticket_is_401(client, gateway):
    response = await client.get("/v1/prompts/stream?ticket=nope")
    assert response.status == 401
    expired = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket(ttl_s=-1)}")
    assert expired.status == 401 and "expired" in (await expired.json())["detail"]
    nothing = await client.get("/v1/prompts/stream")
    assert (nothing.status, (await nothing.json())["error"]) == (401, "missing_token")
    failures = {
        reason: gateway.metrics.registry.get_sample_value("ces_gateway_auth_failures_total", {"reason": reason})
        for reason in ("malformed", "expired", "missing")
    }
    assert failures == {"malformed": 1, "expired": 1, "missing": 1}


async def test_the_stream_says_expired_and_ends_when_its_ticket_does(client, gateway):
    stream = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket(ttl_s=1)}")
    assert stream.status == 200
    event = await next_event(stream, timeout_s=3)
    assert event["event"] == "expired"
    assert await stream.content.read() == b""


async def test_an_idle_stream_gets_heartbeats(client, gateway):
    stream = await open_stream(client, gateway)
    async with asyncio.timeout(2):
        lines = [await stream.content.readline() for _ in range(5)]
    assert b": keepalive\n" in lines
    stream.close()


async def test_a_user_has_a_bounded_number_of_connections(client, gateway):
    streams = [await open_stream(client, gateway) for _ in range(2)]
    third = await client.get(f"/v1/prompts/stream?ticket={gateway.ticket()}")
    assert third.status == 429
    other_user = await open_stream(client, gateway, "bob")
    for stream in [*streams, other_user]:
        stream.close()


async def test_a_client_that_hangs_up_leaves_no_open_stream(client, gateway):
    stream = await open_stream(client, gateway)
    stream.close()
    await until(lambda: gateway.hub.connections == 0)
    assert gateway.metrics.registry.get_sample_value("ces_gateway_open_streams") == 0


async def test_a_stream_from_an_allowed_origin_carries_cors_headers(client, gateway):
    stream = await open_stream(client, gateway, Origin=ORIGIN)
    assert stream.headers["Access-Control-Allow-Origin"] == ORIGIN
    stream.close()


async def test_the_stop_ends_every_stream(client, gateway):
    stream = await open_stream(client, gateway)
    gateway.hub.close_all()
    async with asyncio.timeout(2):
        assert await stream.content.read() is not None
    assert stream.content.at_eof()


async def poll(client: TestClient, gateway: Gateway, query: str = "") -> tuple[int, dict[str, Any]]:
    response = await client.get(f"/v1/prompts?ticket={gateway.ticket()}{query}")
    return response.status, await response.json()


async def test_a_long_poll_answers_at_once_with_what_is_owed(client, gateway):
    gateway.publish(prompt_record(1), prompt_record(2))
    status, body = await poll(client, gateway, "&wait=20")
    assert status == 200
    assert [p["id"] for p in body["prompts"]] == ["0-1", "0-2"]
    assert body["last_id"] == "0-2" and "prompt_id" in body["prompts"][0]["prompt"]
    status, body = await poll(client, gateway, "&after=0-2&wait=0")
    assert body == {"prompts": [], "last_id": "0-2"}


async def test_a_long_poll_waits_for_the_next_prompt(client, gateway):
    gateway.publish(prompt_record(1))
    started = time.monotonic()
    waiting = asyncio.ensure_future(poll(client, gateway, "&after=0-1&wait=10"))
    await until(lambda: gateway.hub.connections == 1)
    gateway.publish(prompt_record(2))
    _, body = await waiting
    assert [p["id"] for p in body["prompts"]] == ["0-2"]
    assert time.monotonic() - started < 2


async def test_a_long_poll_ends_empty_after_its_wait(client, gateway):
    started = time.monotonic()
    status, body = await poll(client, gateway, "&after=3-9&wait=0.3")
    assert (status, body) == (200, {"prompts": [], "last_id": "3-9"})
    assert 0.25 < time.monotonic() - started < 2


async def test_a_long_poll_wait_that_is_no_number_is_400(client, gateway):
    status, body = await poll(client, gateway, "&wait=soon")
    assert (status, body["error"]) == (400, "bad_wait")
