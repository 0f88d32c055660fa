"""``ces-stream gateway`` through the real broker: HTTP in, prompts out, as the Kafka path does it.

A goal event POSTed to the gateway is on the input topic keyed by its user; a real worker decides a
prompt and the user's Server-Sent Events stream has it within a second of the decision; after a
disconnect, a reconnect with ``Last-Event-ID`` (to the same or another gateway instance) brings the
prompts it missed and none twice. Hostile bodies are answered 4xx and dead-lettered with the reason
and bytes the worker's intake gives the same record sent straight to Kafka. A wrong or expired token
is 401 and nothing reaches any topic. With the broker stopped a POST is 503 with Retry-After, and
every record answered 202 is on its topic. SIGTERM ends open streams and the process at once.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas import DeadLetter, SurveyPrompt
from schemas.examples import example_payload
from stream.ces.gateway import GATEWAY_DETAIL, mint_token
from stream.infra.local_services import free_port
from stream.infra.producer import make_producer
from stream.infra.topics import create_topics
from tests.gateway_process import API_KEY, TOKEN_SECRET, GatewayProcess, SseStream, stream_ticket, token
from tests.harness import (
    GoalTraffic,
    TopicReader,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

GOAL = "download-invoice"
STOP_BOUND_S = 3.0


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Factory: a gateway subprocess, ready; each is stopped (SIGTERM) at the end and must exit 0 promptly."""
    started: list[GatewayProcess] = []

    def start(env: dict[str, str], *, ready: bool = True, **more: str) -> GatewayProcess:
        gateway = GatewayProcess({**env, **more}, log_path=tmp_path / f"gateway-{len(started)}.log", cwd=tmp_path)
        started.append(gateway)
        return gateway.start(ready=ready)

    yield start
    for gateway in started:
        code, took_s = gateway.stop()
        assert code in (0, None), gateway.log()[-3000:]
        assert took_s < STOP_BOUND_S + 2


def records(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` so far (key and value), read by offset without a group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[Any] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(batch)
        return found
    finally:
        consumer.close()


def created_s(prompt: dict[str, Any]) -> float:
    return datetime.fromisoformat(prompt["created_at"]).timestamp()


def test_a_workers_prompt_reaches_the_users_stream_within_a_second_and_a_reconnect_misses_none(
    kafka_bootstrap, tmp_path, start_worker, start_gateway, record_property
):
    traffic = GoalTraffic(kafka_bootstrap, tmp_path, [{"slug": GOAL, "scale": {"kind": "five_point"}}])
    try:
        worker = start_worker(traffic.env)
        gateway = start_gateway(traffic.env)
        user = f"gateway-user-{uuid.uuid4().hex}"
        stream = SseStream(gateway.port, token(user))
        assert stream.status == 200

        first_event = make_goal_event(GOAL, "completed", user)
        posted_s = time.time()
        answer = gateway.post("/v1/goal-events", first_event.model_dump_json().encode(), user=user)
        assert answer.status == 202, answer.body
        first = stream.next(timeout_s=30)
        lag_s = first.received_s - created_s(first.data)
        record_property("prompt_delivery_lag_seconds", round(lag_s, 4))
        record_property("post_to_prompt_seconds", round(first.received_s - posted_s, 4))
        print(
            f"\ngateway: decision to stream {lag_s * 1000:.0f} ms, POST to stream {(first.received_s - posted_s) * 1000:.0f} ms"
        )
        assert first.event == "prompt" and first.data["event_id"] == str(first_event.event_id)
        assert lag_s < 1.0, f"decision to stream took {lag_s:.3f} s"

        inputs = records(kafka_bootstrap, traffic.settings.topic_goal_events)
        assert [(r.key, r.value) for r in inputs] == [(user.encode(), first_event.model_dump_json().encode())]

        # The user answers through the gateway, leaves, and meanwhile completes another goal.
        answered = gateway.post("/v1/answers", make_answer(first.data, 4).model_dump_json().encode(), user=user)
        assert answered.status == 202, answered.body
        stream.close()
        # Answers and goal events are read from two topics: the next goal event waits until the answer is
        # counted, else the worker could see it while the first prompt is still open (and not ask again).
        wait_until(
            lambda: worker.metric("ces_survey_answers_total", goal=GOAL, sentiment="positive") == 1,
            timeout_s=30,
            what="the worker counting the answer",
        )
        second_event = make_goal_event(GOAL, "completed", user)
        assert gateway.post("/v1/goal-events", second_event.model_dump_json().encode(), user=user).status == 202
        prompts = TopicReader(kafka_bootstrap, traffic.settings.topic_survey_prompts)
        prompts.wait_for(lambda found: len(found) == 2, timeout_s=30, what="the second prompt")
        prompts.close()

        again = SseStream(gateway.port, token(user), last_event_id=first.id)
        second = again.next(timeout_s=10)
        assert second.data["event_id"] == str(second_event.event_id)
        bearer = {"Authorization": f"Bearer {token(user)}"}  # a client that can set headers needs no ticket
        owed = gateway.request("GET", f"/v1/prompts?after={first.id}&wait=0", headers=bearer).body
        assert [p["id"] for p in owed["prompts"]] == [second.id]
        again.close()

        log = gateway.log()
        assert "POST /v1/goal-events 202" in log  # the access log is on (debug) ...
        assert user not in log and "token=" not in log and "ticket=" not in log  # ... and no user, token or ticket
    finally:
        traffic.close()


USERS = 25


def test_the_prompts_of_many_users_reach_their_streams_within_a_second(
    kafka_bootstrap, tmp_path, start_worker, start_gateway, record_property
):
    traffic = GoalTraffic(kafka_bootstrap, tmp_path, [{"slug": GOAL, "scale": {"kind": "five_point"}}])
    try:
        start_worker(traffic.env)
        gateway = start_gateway(traffic.env)
        users = [f"gateway-user-{uuid.uuid4().hex}" for _ in range(USERS)]
        streams = [SseStream(gateway.port, token(user)) for user in users]
        events = [make_goal_event(GOAL, "completed", user) for user in users]
        batch = b"[" + b",".join(event.model_dump_json().encode() for event in events) + b"]"
        answer = gateway.post("/v1/goal-events", batch, bearer=API_KEY)  # a backend posts for its users
        assert (answer.status, answer.body["accepted"]) == (200, USERS), answer.body
        lags = []
        for user, event, stream in zip(users, events, streams, strict=True):
            prompt = stream.next(timeout_s=30)
            assert (prompt.data["user_id"], prompt.data["event_id"]) == (user, str(event.event_id))
            lags.append(prompt.received_s - created_s(prompt.data))
            stream.close()
        lags.sort()
        record_property("prompt_delivery_lag_p50_seconds", round(lags[len(lags) // 2], 4))
        record_property("prompt_delivery_lag_max_seconds", round(lags[-1], 4))
        print(
            f"\ngateway: {USERS} users, decision to stream median {lags[len(lags) // 2] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
        )
        assert lags[-1] < 1.0, f"decision to stream: {lags}"
        count = re.search(
            r'^ces_gateway_delivery_lag_seconds_count\{via="stream"\} (\S+)$', gateway.metrics_text(), re.M
        )
        assert count is not None and float(count.group(1)) == USERS
    finally:
        traffic.close()


def prompt_value(user: str, *, created: datetime, expires: datetime) -> bytes:
    payload = {**example_payload(SurveyPrompt), "prompt_id": str(uuid.uuid4()), "user_id": user}
    prompt = SurveyPrompt(**{**payload, "created_at": created, "expires_at": expires})
    return prompt.model_dump_json().encode()


def test_a_stream_resumes_at_another_instance_and_answered_or_expired_prompts_are_not_brought(
    kafka_bootstrap, tmp_path, start_gateway
):
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}")
    settings = settings_from_env(env)
    create_topics(settings)
    producer = make_producer(kafka_bootstrap)
    user = f"gateway-user-{uuid.uuid4().hex}"
    now = datetime.now(UTC)

    def publish(**times: datetime) -> bytes:
        value = prompt_value(
            user,
            created=times.get("created", datetime.now(UTC)),
            expires=times.get("expires", now + timedelta(minutes=30)),
        )
        producer.send(settings.topic_survey_prompts, key=user.encode(), value=value).get(10)
        return value

    try:
        publish(created=now - timedelta(hours=1), expires=now - timedelta(minutes=1))  # expired before anyone saw it
        a, b = start_gateway(env), start_gateway(env)
        stream = SseStream(a.port, token(user))
        publish()
        p1 = stream.next()
        stream.close()
        publish()
        publish()
        _, ticket = stream_ticket(a.port, token(user))
        resumed = SseStream(b.port, None, last_event_id=p1.id, ticket=ticket)  # a's ticket, at b: no affinity
        p2, p3 = resumed.next(), resumed.next()
        assert [p1.id, p2.id, p3.id] == sorted([p1.id, p2.id, p3.id], key=lambda i: int(i.split("-")[1]))
        assert len({p1.data["prompt_id"], p2.data["prompt_id"], p3.data["prompt_id"]}) == 3
        caught_up = a.request("GET", f"/v1/prompts?ticket={ticket}&after={p3.id}&wait=0").body
        assert caught_up == {"prompts": [], "last_id": p3.id}

        def fresh_ids() -> list[str]:
            body = b.request("GET", f"/v1/prompts?ticket={ticket}&wait=0").body
            return [p["id"] for p in body["prompts"]]

        assert fresh_ids() == [p1.id, p2.id, p3.id]  # the expired one never
        answer = {
            "answer_id": str(uuid.uuid4()),
            "prompt_id": p2.data["prompt_id"],
            "user_id": user,
            "goal": p2.data["goal"],
            "score": 5,
            "answered_at": datetime.now(UTC).isoformat(),
            "channel": "web",
        }
        assert a.post("/v1/answers", json.dumps(answer).encode(), user=user).status == 202
        wait_until(
            lambda: fresh_ids() == [p1.id, p3.id], timeout_s=10, what="the answered prompt closed at the other instance"
        )

        # SIGTERM ends the open stream and the process at once.
        code, took_s = b.stop()
        assert (code, took_s < STOP_BOUND_S) == (0, True), b.log()[-2000:]
        with pytest.raises(EOFError):
            resumed.next(timeout_s=5)
    finally:
        producer.close()


HOSTILE = [
    ("goal-events", b"this is not json {", 400, "not_json"),
    ("goal-events", b'{"event_id": "x", "type": "completed"}', 422, "schema_violation"),
    ("goal-events", "unknown_goal", 422, "unknown_goal"),
    ("goal-events", "future", 422, "future_timestamp"),
    ("goal-events", "oversize", 422, "oversize"),
    ("answers", b'{"answer_id": 5, "score": "5"}', 422, "schema_violation"),
    ("prompt-events", b'{"type": "clicked"}', 422, "schema_violation"),
]


def hostile_bytes(spec: bytes | str, user: str) -> bytes:
    if isinstance(spec, bytes):
        return spec
    event = json.loads(make_goal_event(GOAL, "completed", user).model_dump_json())
    if spec == "unknown_goal":
        event["goal"] = "no-such-goal"
    elif spec == "future":
        event["occurred_at"] = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    else:
        event["attributes"] = {"pad": "x" * 1500}
    return json.dumps(event).encode()


def test_hostile_bodies_are_4xx_and_dead_lettered_as_the_kafka_path_dead_letters_them(
    kafka_bootstrap, tmp_path, start_worker, start_gateway
):
    traffic = GoalTraffic(
        kafka_bootstrap, tmp_path, [{"slug": GOAL, "scale": {"kind": "five_point"}}], CES_MAX_EVENT_BYTES="1024"
    )
    try:
        start_worker(traffic.env)
        gateway = start_gateway(traffic.env, CES_GATEWAY_MAX_BODY_BYTES="4096")
        user = f"gateway-user-{uuid.uuid4().hex}"
        topics = {
            "goal-events": traffic.settings.topic_goal_events,
            "answers": traffic.settings.topic_survey_answers,
            "prompt-events": traffic.settings.topic_prompt_events,
        }
        sent: list[tuple[str, bytes, str]] = []
        for endpoint, spec, status, reason in HOSTILE:
            value = hostile_bytes(spec, user)
            answer = gateway.post(f"/v1/{endpoint}", value, user=user)
            assert (answer.status, answer.body.get("reason")) == (status, reason), (endpoint, answer.body)
            traffic.producer.send(topics[endpoint], key=user.encode(), value=value)  # the Kafka path
            sent.append((topics[endpoint], value, reason))
        traffic.producer.flush()

        too_big = gateway.post("/v1/goal-events", b"[" + b" " * 5000 + b"]", user=user)
        assert (too_big.status, too_big.body["error"]) == (413, "body_too_large")
        theirs = make_goal_event(GOAL, "completed", "someone-else").model_dump_json().encode()
        assert gateway.post("/v1/goal-events", theirs, user=user).status == 403

        reader = TopicReader(kafka_bootstrap, traffic.settings.topic_dead_letter)
        letters = [
            DeadLetter.model_validate(r) for r in reader.wait_for(lambda f: len(f) >= 2 * len(HOSTILE), timeout_s=60)
        ]
        reader.close()
        assert len(letters) == 2 * len(HOSTILE)
        by_gateway = sorted(
            (letter.source_topic, letter.original_bytes(), letter.reason.value)
            for letter in letters
            if letter.detail.endswith(GATEWAY_DETAIL)
        )
        by_worker = sorted(
            (letter.source_topic, letter.original_bytes(), letter.reason.value)
            for letter in letters
            if not letter.detail.endswith(GATEWAY_DETAIL)
        )
        assert by_gateway == by_worker == sorted(sent)
        assert all(letter.source_key_bytes() == user.encode() for letter in letters)
        assert theirs not in [r.value for r in records(kafka_bootstrap, traffic.settings.topic_goal_events)]  # 403
        metrics = gateway.metrics_text()
        assert 'ces_gateway_dead_letters_total{input="goal-events",reason="oversize"} 1.0' in metrics
    finally:
        traffic.close()


def test_a_wrong_or_expired_token_is_401_and_nothing_reaches_any_topic(kafka_bootstrap, tmp_path, start_gateway):
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}")
    settings = settings_from_env(env)
    create_topics(settings)
    gateway = start_gateway(env)
    user = f"gateway-user-{uuid.uuid4().hex}"
    body = make_goal_event(GOAL, "completed", user).model_dump_json().encode()
    wrong_secret = mint_token(b"another-secret-of-enough-length-000000", user, int(time.time()) + 60)
    expired = mint_token(TOKEN_SECRET.encode(), user, int(time.time()) - 1)
    for bearer in ("", "garbage", wrong_secret, expired, API_KEY + "x"):
        for path, payload in (("/v1/goal-events", body), ("/v1/answers", b"not json"), ("/v1/prompt-events", b"{}")):
            answer = gateway.post(path, payload, bearer=bearer or None)
            assert answer.status == 401, (path, answer.body)
            assert answer.body["error"] in ("invalid_token", "missing_token")
    for credential in ("garbage", wrong_secret, expired):
        refused = SseStream(gateway.port, credential)
        assert refused.status == 401
        refused.close()
        assert (
            gateway.request("GET", "/v1/prompts?wait=0", headers={"Authorization": f"Bearer {credential}"}).status
            == 401
        )
        assert gateway.request("GET", f"/v1/prompts?ticket={credential}&wait=0").status == 401
    in_url = gateway.request("GET", f"/v1/prompts?token={token(user)}&wait=0")  # a valid token, in the URL
    assert (in_url.status, in_url.body["error"]) == (401, "token_in_url")
    assert gateway.post(f"/v1/goal-events?token={token(user)}", body, user=user).status == 401
    for topic in (
        settings.topic_goal_events,
        settings.topic_survey_answers,
        settings.topic_prompt_events,
        settings.topic_dead_letter,
    ):
        assert records(kafka_bootstrap, topic) == [], topic


def test_with_the_broker_away_a_post_is_503_with_retry_after_and_nothing_accepted_is_lost(
    own_broker, tmp_path, start_gateway
):
    env = worker_env(own_broker.bootstrap, f"t{uuid.uuid4().hex[:10]}")
    settings = settings_from_env(env)
    create_topics(settings)
    gateway = start_gateway(env, CES_GATEWAY_PRODUCE_TIMEOUT_SECONDS="2", CES_GATEWAY_RETRY_AFTER_SECONDS="1")
    user = f"gateway-user-{uuid.uuid4().hex}"
    accepted: list[bytes] = []

    def post(body: bytes) -> int:
        answer = gateway.post("/v1/goal-events", body, user=user)
        if answer.status == 202:
            accepted.append(body)
        return answer.status

    assert post(make_goal_event(GOAL, "completed", user).model_dump_json().encode()) == 202
    own_broker.stop()
    during = make_goal_event(GOAL, "completed", user).model_dump_json().encode()
    started = time.monotonic()
    answer = gateway.post("/v1/goal-events", during, user=user)
    assert answer.status == 503 and answer.headers["Retry-After"] == "1", answer.body
    assert time.monotonic() - started < 5
    own_broker.start()
    wait_until(lambda: post(during) == 202, timeout_s=60, interval_s=1.0, what="the gateway writing again")
    assert post(during) == 200  # the retry that was accepted is now a duplicate
    on_topic = [r.value for r in records(own_broker.bootstrap, settings.topic_goal_events)]
    assert set(accepted) <= set(on_topic)
    unavailable = re.search(r"^ces_gateway_broker_unavailable_total (\S+)$", gateway.metrics_text(), re.M)
    assert unavailable is not None and float(unavailable.group(1)) >= 1


def test_a_gateway_without_a_broker_serves_and_answers_503(tmp_path, start_gateway):
    closed = f"127.0.0.1:{free_port()}"
    env = {**worker_env(closed, "no-broker"), "CES_KAFKA_BOOTSTRAP": closed}
    gateway = start_gateway(env, ready=False)
    user = "someone"
    answer = gateway.post(
        "/v1/goal-events", make_goal_event(GOAL, "completed", user).model_dump_json().encode(), user=user
    )
    assert answer.status == 503 and "Retry-After" in answer.headers
    assert gateway.post("/v1/goal-events", b"{}", bearer="wrong").status == 401
    status, health = gateway.health()
    assert (status, health["producer"]) == (503, "connecting")
