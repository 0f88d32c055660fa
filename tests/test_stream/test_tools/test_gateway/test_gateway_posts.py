"""The POST endpoints in-process over a fake producer: the order of the checks, what is written, what is answered."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator

import pytest

from schemas import DeadLetter, DeadLetterReason
from stream.ces.gateway import mint_token
from tests.test_stream.test_tools.test_gateway.gateway_fakes import (
    API_KEY,
    ORIGIN,
    SECRET,
    Gateway,
    build_gateway,
    goal_event_body,
)

GOAL_TOPIC = "ces.goal-events"


def sample(gateway: Gateway, name: str, **labels: str) -> float:
    value = gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_an_accepted_event_is_on_its_topic_keyed_by_its_user_with_the_request_time(client, gateway):
    body = goal_event_body()
    before_ms = int(time.time() * 1000)
    response = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    assert response.status == 202
    assert (await response.json())["status"] == "accepted"
    ((record, timestamp_ms),) = gateway.producer.sent
    assert (record.topic, record.key, record.value) == (GOAL_TOPIC, b"alice", body)
    assert before_ms <= timestamp_ms <= int(time.time() * 1000)
    assert sample(gateway, "ces_gateway_records_total", input="goal-events", result="accepted") == 1


async def test_a_repeat_is_a_duplicate_and_is_not_produced_again(client, gateway):
    body = goal_event_body()
    first = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    again = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    assert (first.status, again.status) == (202, 200)
    assert (await again.json())["status"] == "duplicate"
    assert len(gateway.producer.sent) == 1


async def test_a_repeat_while_the_first_is_in_flight_waits_for_it(client, gateway):
    gateway.producer.gate = asyncio.Event()
    body = goal_event_body()
    first = asyncio.ensure_future(client.post("/v1/goal-events", data=body, headers=gateway.auth()))
    await gateway.producer.called.wait()
    second = asyncio.ensure_future(client.post("/v1/goal-events", data=body, headers=gateway.auth()))
    await asyncio.sleep(0.1)  # the second request reaches the gateway while the first waits for the broker
    assert not second.done()
    gateway.producer.gate.set()
    responses = await asyncio.gather(first, second)
    assert [r.status for r in responses] == [202, 200]
    assert gateway.producer.calls == 1


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Bearer nonsense"}, "invalid_token"),
        ({"Authorization": f"Bearer {mint_token(b'x' * 32, 'alice', int(time.time()) + 60)}"}, "invalid_token"),
        ({"Authorization": f"Bearer {mint_token(SECRET.encode(), 'alice', int(time.time()) - 1)}"}, "invalid_token"),
    ],
)
async def test_no_valid_token_is_401_before_anything_is_written(client, gateway, headers, error):
    response = await client.post("/v1/goal-events", data=goal_event_body(), headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == error
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert gateway.producer.sent == []


async def test_a_token_is_checked_before_the_body_is_read(client, gateway):
    response = await client.post("/v1/goal-events", data=b"x" * 10_000, headers={"Authorization": "Bearer no"})
    assert response.status == 401


async def test_a_body_over_the_limit_is_413_unread_and_not_dead_lettered(client, gateway):
    response = await client.post("/v1/goal-events", data=b"[" + b" " * 5000 + b"]", headers=gateway.auth())
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"
    assert gateway.producer.sent == []


async def test_a_chunked_body_over_the_limit_is_413_too(client, gateway):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await client.post("/v1/goal-events", data=chunks(), headers=gateway.auth())
    assert response.status == 413
    assert gateway.producer.sent == []


async def test_another_users_record_is_403_and_nothing_is_written(client, gateway):
    body = b"[" + goal_event_body("alice") + b"," + goal_event_body("bob") + b"]"
    response = await client.post("/v1/goal-events", data=body, headers=gateway.auth("alice"))
    assert response.status == 403
    assert "bob" not in await response.text()
    assert gateway.producer.sent == []
    assert sample(gateway, "ces_gateway_auth_failures_total", reason="forbidden") == 1


async def test_the_api_key_posts_for_any_user(client, gateway):
    body = b"[" + goal_event_body("alice") + b"," + goal_event_body("bob") + b"]"
    response = await client.post("/v1/goal-events", data=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status == 200
    assert [r.key for r in gateway.producer.on(GOAL_TOPIC)] == [b"alice", b"bob"]


async def test_a_hostile_record_is_422_and_dead_lettered_with_its_bytes(client, gateway):
    body = goal_event_body(goal="no-such-goal")
    response = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    assert response.status == 422
    answer = await response.json()
    assert (answer["status"], answer["reason"]) == ("rejected", "unknown_goal")
    ((record, _),) = gateway.producer.sent
    letter = DeadLetter.model_validate_json(record.value)
    assert (record.topic, record.key) == ("ces.dead-letter", GOAL_TOPIC.encode())
    assert (letter.reason, letter.source_topic, letter.original_bytes()) == (
        DeadLetterReason.unknown_goal,
        GOAL_TOPIC,
        body,
    )
    assert letter.source_key == base64.b64encode(b"alice").decode()
    assert sample(gateway, "ces_gateway_dead_letters_total", input="goal-events", reason="unknown_goal") == 1


async def test_a_body_that_is_not_json_is_400_and_dead_lettered(client, gateway):
    response = await client.post("/v1/answers", data=b"\xff{oops", headers=gateway.auth())
    assert response.status == 400
    assert (await response.json())["reason"] == "not_json"
    letter = DeadLetter.model_validate_json(gateway.producer.on("ces.dead-letter")[0].value)
    assert (letter.source_topic, letter.original_bytes()) == ("ces.survey-answers", b"\xff{oops")


async def test_a_batch_answers_per_item(client, gateway):
    good, bad = goal_event_body(), goal_event_body(occurred_at="yesterday")
    response = await client.post(
        "/v1/goal-events", data=b"[" + good + b", " + bad + b", " + good + b"]", headers=gateway.auth()
    )
    assert response.status == 200
    answer = await response.json()
    assert (answer["accepted"], answer["rejected"], answer["duplicate"]) == (1, 1, 1)
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected", "duplicate"]
    assert answer["results"][1]["reason"] == "schema_violation"
    assert [r.value for r in gateway.producer.on(GOAL_TOPIC)] == [good]
    assert DeadLetter.model_validate_json(gateway.producer.on("ces.dead-letter")[0].value).original_bytes() == bad


async def test_a_batch_of_rejects_only_is_422(client, gateway):
    response = await client.post("/v1/goal-events", data=b'[{"a": 1}, 2]', headers=gateway.auth())
    assert response.status == 422
    assert len(gateway.producer.on("ces.dead-letter")) == 2


async def test_an_unacknowledged_write_is_503_with_retry_after_and_a_retry_is_accepted(client, gateway):
    body = goal_event_body()
    gateway.producer.fail = True
    refused = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "5"
    assert (await refused.json())["status"] == "unavailable"
    gateway.producer.fail = False
    retried = await client.post("/v1/goal-events", data=body, headers=gateway.auth())
    assert retried.status == 202  # the first was not accepted: no duplicate
    assert sample(gateway, "ces_gateway_broker_unavailable_total") == 1


async def test_a_rejected_record_whose_dead_letter_is_not_written_is_503(client, gateway):
    gateway.producer.fail = True
    response = await client.post("/v1/goal-events", data=b"{}", headers=gateway.auth())
    assert response.status == 503
    answer = await response.json()
    assert (answer["status"], answer["reason"]) == ("unavailable", "schema_violation")


async def test_cors_preflight_and_headers_for_an_allowed_origin_only(client, gateway):
    preflight = await client.options(
        "/v1/goal-events", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    stranger = await client.options(
        "/v1/goal-events", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert stranger.status == 403
    assert "Access-Control-Allow-Origin" not in stranger.headers
    posted = await client.post("/v1/goal-events", data=goal_event_body(), headers={**gateway.auth(), "Origin": ORIGIN})
    assert posted.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_unknown_paths_and_methods_are_json_4xx(client):
    missing = await client.get("/v2/nothing")
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"
    wrong = await client.get("/v1/goal-events")
    assert wrong.status == 405


async def test_the_access_log_names_no_token_and_no_user(client, gateway, caplog):
    token = gateway.token("customer-secret-4711")
    with caplog.at_level(logging.DEBUG):
        await client.get(f"/v1/prompts?token={token}&wait=0")  # refused, and not logged either
        await client.get(f"/v1/prompts?ticket={gateway.ticket('customer-secret-4711')}&wait=0")
        await client.post(
            "/v1/goal-events",
            data=goal_event_body("customer-secret-4711"),
            headers={"Authorization": f"Bearer {token}"},
        )
        await client.post("/v1/goal-events", data=b"{}", headers={"Authorization": "Bearer bad"})
    text = caplog.text
    assert "/v1/prompts" in text and "/v1/goal-events 202" in text
    assert token not in text and "customer-secret-4711" not in text and "token=" not in text and "ticket=" not in text


def test_the_metrics_render_without_a_user_or_token_label():
    gateway = build_gateway()
    text = gateway.metrics.render().decode()
    assert "ces_gateway_requests_total" in text and "ces_gateway_delivery_lag_seconds" in text
    labels = {
        part.split("=")[0]
        for line in text.splitlines()
        if "{" in line
        for part in line[line.index("{") + 1 : line.index("}")].split(",")
    }
    assert labels <= {"endpoint", "status", "input", "result", "reason", "via", "kind", "le"}
