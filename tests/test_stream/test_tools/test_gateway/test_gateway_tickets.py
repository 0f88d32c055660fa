"""Stream tickets in-process: ``POST /v1/prompts/ticket`` mints one for a token in the header; the stream and the
long-poll take it in the URL (no user id there); a token in the URL is refused everywhere."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from stream.ces.gateway import mint_ticket
from tests.test_stream.test_tools.test_gateway.gateway_fakes import (
    API_KEY,
    ORIGIN,
    SECRET,
    Gateway,
    build_gateway,
    goal_event_body,
    prompt_record,
    started_server,
    user_ref,
)
from tests.test_stream.test_tools.test_gateway.test_gateway_delivery import next_event

USER = "customer-secret-4711"


def failures(gateway: Gateway, reason: str) -> float:
    value = gateway.metrics.registry.get_sample_value("ces_gateway_auth_failures_total", {"reason": reason})
    return 0.0 if value is None else value


def payload_of(ticket: str) -> dict[str, Any]:
    text = ticket.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


async def fetch_ticket(client: TestClient, token: str, **headers: str) -> dict[str, Any]:
    response = await client.post("/v1/prompts/ticket", headers={"Authorization": f"Bearer {token}", **headers})
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return await response.json()


async def test_the_ticket_names_the_users_pseudonym_never_the_user_and_expires_with_the_token(client, gateway):
    token = gateway.token(USER, ttl_s=300)
    exp = payload_of(token)["exp"]
    body = await fetch_ticket(client, token)
    ticket = body["ticket"]
    assert payload_of(ticket) == {"ref": user_ref(USER), "exp": exp}
    assert USER not in ticket and USER not in base64.urlsafe_b64decode(ticket.split(".")[0] + "==").decode()
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == exp and body["expires_at"].endswith("Z")
    assert ticket == mint_ticket(SECRET.encode(), user_ref(USER), exp)  # the same at every instance


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer nope"}, "malformed"),
        ({"Authorization": f"Bearer {API_KEY}"}, "malformed"),  # the API key reads no one's prompts
    ],
)
async def test_the_ticket_endpoint_needs_a_user_token_in_the_header(client, gateway, headers, reason):
    response = await client.post("/v1/prompts/ticket", headers=headers)
    assert response.status == 401 and "WWW-Authenticate" in response.headers
    assert failures(gateway, reason) == 1


async def test_a_ticket_is_no_token_and_a_token_no_ticket(client, gateway):
    ticket = gateway.ticket()
    as_token = await client.post("/v1/prompts/ticket", headers={"Authorization": f"Bearer {ticket}"})
    assert as_token.status == 401
    posted = await client.post("/v1/goal-events", data=goal_event_body(), headers={"Authorization": f"Bearer {ticket}"})
    assert posted.status == 401 and gateway.producer.sent == []
    as_ticket = await client.get(f"/v1/prompts/stream?ticket={gateway.token()}")
    assert as_ticket.status == 401
    assert failures(gateway, "bad_signature") == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/prompts/ticket"),
        ("GET", "/v1/prompts/stream"),
        ("GET", "/v1/prompts?wait=0"),
        ("POST", "/v1/goal-events"),
        ("POST", "/v1/answers"),
    ],
)
async def test_a_token_in_the_url_is_refused_everywhere_even_beside_the_header(client, gateway, method, path):
    token = gateway.token()
    url = f"{path}{'&' if '?' in path else '?'}token={token}"
    for headers in ({}, gateway.auth()):
        response = await client.request(method, url, data=goal_event_body(), headers=headers)
        assert response.status == 401
        body = await response.json()
        assert body["error"] == "token_in_url"
        assert "Authorization header" in body["detail"] and "POST /v1/prompts/ticket" in body["detail"]
    assert failures(gateway, "token_in_url") == 2 and gateway.producer.sent == []


async def test_a_stream_opened_with_a_fetched_ticket_delivers_its_users_prompts_and_no_one_elses(client, gateway):
    ticket = (await fetch_ticket(client, gateway.token(USER)))["ticket"]
    stream = await client.get(f"/v1/prompts/stream?ticket={ticket}")
    assert stream.status == 200
    theirs, mine = prompt_record(1, "bob"), prompt_record(2, USER)
    gateway.publish(theirs, mine)
    event = await next_event(stream)
    assert (event["id"], event["data"]["prompt_id"]) == ("0-2", mine.prompt_id)
    gateway.publish(prompt_record(3, "bob"))
    with pytest.raises(TimeoutError):
        await next_event(stream, timeout_s=0.5)  # bob's prompt never comes
    stream.close()


async def test_a_long_poll_takes_a_ticket_or_the_token_in_the_header(client, gateway):
    gateway.publish(prompt_record(1, "bob"), prompt_record(2, USER))
    by_ticket = await client.get(f"/v1/prompts?ticket={gateway.ticket(USER)}&wait=0")
    by_header = await client.get("/v1/prompts?wait=0", headers=gateway.auth(USER))
    for response in (by_ticket, by_header):
        assert response.status == 200
        assert [p["id"] for p in (await response.json())["prompts"]] == ["0-2"]
    waiting = asyncio.ensure_future(client.get(f"/v1/prompts?ticket={gateway.ticket(USER)}&after=0-2&wait=5"))
    await asyncio.sleep(0.1)
    gateway.publish(prompt_record(3, "bob"), prompt_record(4, USER))
    assert [p["id"] for p in (await (await waiting).json())["prompts"]] == ["0-4"]


async def test_the_stream_of_a_fetched_ticket_ends_with_expired_when_the_token_would(client, gateway):
    ticket = (await fetch_ticket(client, gateway.token(USER, ttl_s=2)))["ticket"]
    started = time.monotonic()
    stream = await client.get(f"/v1/prompts/stream?ticket={ticket}")
    assert stream.status == 200
    assert (await next_event(stream, timeout_s=4))["event"] == "expired"
    assert await stream.content.read() == b""
    assert time.monotonic() - started < 3
    again = await client.get(f"/v1/prompts/stream?ticket={ticket}")
    assert again.status == 401


async def test_during_a_rotation_tickets_of_the_previous_secret_are_accepted():
    rotated = build_gateway(gateway_token_secret="n" * 32, gateway_previous_token_secret=SECRET)
    async with TestClient(await started_server(rotated.app)) as client:
        old = await client.get(f"/v1/prompts?ticket={rotated.ticket(USER)}&wait=0")  # signed under SECRET
        assert old.status == 200
        fresh = (await fetch_ticket(client, rotated.token(USER)))["ticket"]  # minted under the new secret
        assert (await client.get(f"/v1/prompts?ticket={fresh}&wait=0")).status == 200
        foreign = mint_ticket(b"f" * 32, user_ref(USER), int(time.time()) + 60)
        assert (await client.get(f"/v1/prompts?ticket={foreign}&wait=0")).status == 401


async def test_the_ticket_endpoint_answers_an_allowed_origin_cross_origin(client, gateway):
    preflight = await client.options(
        "/v1/prompts/ticket",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.post("/v1/prompts/ticket", headers={**gateway.auth(), "Origin": ORIGIN})
    assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == ORIGIN
