"""``ces-stream feed-webhook`` through the real broker against a local webhook that fails, then recovers, then hangs.

High-effort answers of four goals and a few values that are no high-effort answer go to a topic
of the test's own. The feed starts while nothing listens on the webhook's port (connection
refused), then the webhook answers 500, then 429 with ``Retry-After``, then 200, and 400 to one
answer. Every valid answer arrives exactly once with a 2xx (counted by ``Idempotency-Key``; nothing
is killed, so no repeat is expected), each bad value and the refused answer are on the dead-letter
topic with their original bytes and reason, and every partition is committed to its end. Then the
webhook hangs on one more answer: SIGTERM stops the feed within seconds (exit 0) and that
answer's offset is not committed, so the next run delivers it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from schemas import DeadLetter
from schemas.high_effort_answer import HighEffortAnswer
from stream.infra.local_services import free_port
from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from tests.harness import (
    PROJECT_ROOT,
    TopicReader,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    write_registry,
)
from tests.planted import PlantedData

pytestmark = pytest.mark.integration

GOALS = ("download-invoice", "view-policy", "file-claim", "change-address")
SECRET_PATH = "/hook/T000/B000/s3cret-webhook-token"
FAILING_500 = 6  # the first POSTs after the webhook comes up answer 500, the next ones 429
FAILING_429 = 3
TIMEOUT_S = 5.0  # a hanging POST outlasts the stop bound: the stop must not wait for it
STOP_BOUND_S = 4.0


class Webhook:
    """A local webhook on a fixed port, started late: 500s, then 429s with Retry-After, then 2xx (400 for one key).

    ``delivered`` counts the 2xx answers by Idempotency-Key; ``hang`` holds every answer until released.
    """

    def __init__(self, port: int, refused_key: str) -> None:
        self.port = port
        self.refused_key = refused_key
        self.delivered: Counter[str] = Counter()
        self.answers: Counter[int] = Counter()
        self.bodies: dict[str, dict[str, Any]] = {}
        self.paths: set[str] = set()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hanging_on: list[str] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def answer(self, key: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            posts = sum(self.answers.values())
            if posts < FAILING_500:
                status, headers = 500, {}
            elif posts < FAILING_500 + FAILING_429:
                status, headers = 429, {"Retry-After": "1"}
            else:
                status, headers = (400, {}) if key == self.refused_key else (200, {})
            self.answers[status] += 1
            if status == 200:
                self.delivered[key] += 1
            return status, headers

    def start(self) -> None:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                webhook.paths.add(self.path)
                if webhook.hang.is_set():
                    webhook.hanging_on.append(key)
                    webhook.release.wait(30)
                    return
                status, headers = webhook.answer(key)
                if status == 200:
                    webhook.bodies[key] = json.loads(body)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "2"}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def high_effort_answer(goal: str, n: int) -> HighEffortAnswer:
    return HighEffortAnswer(
        answer_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        goal=goal,
        survey="ces",
        outcome="abandoned" if n % 2 else "completed",
        score=1 + n % 2,
        user_ref=uuid.uuid4().hex,
        comment=f"Answer {n} on {goal}: <!channel> it took ages & I gave up.",
        answered_at=datetime.now(UTC),
        channel="web",
        app_version="4.12.0",
        may_contact=n % 3 == 0,
    )


def feed_samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (n, found), value in samples.items() if n == name and wanted <= found)


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition of ``topic`` (None: never committed); joins no group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in consumer.partitions_for_topic(topic)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


@pytest.fixture
def feed_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The feed subprocess (started by the test through ``start``), killed at the end if still running."""
    holder: dict[str, Any] = {"log": tmp_path / "feed.log"}

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = holder["log"].open("wb")
        holder["proc"] = subprocess.Popen(
            [sys.executable, "-m", "stream.tools.cli", "feed-webhook"],
            env={**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return holder["proc"]

    holder["start"] = start
    yield holder
    proc = holder.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def test_every_answer_is_delivered_once_through_an_outage_and_a_stop_leaves_the_hung_one_uncommitted(
    kafka_bootstrap: str, unique_env: dict[str, str], feed_process: dict[str, Any]
) -> None:
    env = {
        **unique_env,
        "CES_TOPIC_HIGH_EFFORT_ANSWERS": f"{unique_env['CES_APP_ID']}.high-effort-answers",
        "CES_MAX_EVENT_BYTES": "4096",
    }
    settings = settings_from_env(env)
    create_topics(settings)
    topic, dead_letter_topic = settings.topic_high_effort_answers, settings.topic_dead_letter

    answers = [high_effort_answer(goal, n) for n in range(3) for goal in GOALS]
    refused = high_effort_answer(GOALS[0], 9)
    bad_values = {
        b"not json at all": "not_json",
        b"": "not_json",
        json.dumps({"goal": GOALS[1], "score": 1}).encode(): "schema_violation",
        json.dumps({**json.loads(answers[0].model_dump_json()), "user_id": "customer-4711"}).encode(): (
            "schema_violation"
        ),
        b'{"comment": "' + b"x" * 5000 + b'"}': "oversize",
    }
    producer = make_producer(kafka_bootstrap)
    for record in [*answers, refused]:
        producer.send(topic, key=record.goal.encode(), value=record.model_dump_json().encode())
    for n, value in enumerate(bad_values):
        producer.send(topic, key=GOALS[n % len(GOALS)].encode(), value=value)
    producer.flush()

    webhook_port, metrics_port = free_port(), free_port()
    webhook = Webhook(webhook_port, refused_key=str(refused.answer_id))
    dead_letters = TopicReader(kafka_bootstrap, dead_letter_topic)
    try:
        proc = feed_process["start"](
            {
                **env,
                "CES_FEED_WEBHOOK_URL": f"http://127.0.0.1:{webhook_port}{SECRET_PATH}",
                "CES_FEED_WEBHOOK_FORMAT": "slack",
                "CES_FEED_WEBHOOK_METRICS_PORT": str(metrics_port),
                "CES_WEB_HOST": "127.0.0.1",
                "CES_FEED_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_S),
                "CES_FEED_WEBHOOK_BACKOFF_INITIAL_SECONDS": "0.05",
                "CES_FEED_WEBHOOK_BACKOFF_MAX_SECONDS": "0.3",
                "CES_FEED_WEBHOOK_RATE_PER_GOAL_PER_MINUTE": "6000",
            }
        )

        def log_text() -> str:
            return feed_process["log"].read_text(errors="replace")

        def alive() -> None:
            assert proc.poll() is None, f"the feed exited with {proc.returncode}:\n{log_text()}"

        # 1. Nothing listens on the webhook's port: connection refused, retried, nothing delivered or lost.
        def refused_and_retried() -> bool:
            alive()
            samples = feed_samples(metrics_port)
            return total(samples, "ces_feed_webhook_retries_total") >= 3

        wait_until(refused_and_retried, timeout_s=30, what="retries while the webhook refuses connections")
        assert total(feed_samples(metrics_port), "ces_feed_webhook_delivered_total") == 0

        # 2. The webhook comes up: 500s, then 429 with Retry-After, then 2xx (and 400 for one answer).
        webhook.start()
        expected = {str(a.answer_id) for a in answers}

        def all_delivered() -> bool:
            alive()
            return set(webhook.delivered) == expected

        wait_until(all_delivered, timeout_s=30, what="every answer delivered", describe=lambda: webhook.answers)
        assert webhook.answers[500] == FAILING_500 and webhook.answers[429] == FAILING_429
        letters: list[DeadLetter] = []

        def all_dead_lettered() -> bool:
            alive()
            letters[:] = [DeadLetter.model_validate(value) for value in dead_letters.poll()]
            return len(letters) >= len(bad_values) + 1

        wait_until(all_dead_lettered, timeout_s=20, what="the dead letters")
        assert webhook.delivered == Counter(dict.fromkeys(expected, 1))  # each exactly once, none twice
        assert webhook.answers[400] == 1 and str(refused.answer_id) not in webhook.delivered
        assert webhook.paths == {SECRET_PATH}
        body = webhook.bodies[str(answers[0].answer_id)]
        assert body["blocks"][0]["text"]["text"].startswith("High-effort CES answer")
        assert "&lt;!channel&gt;" in json.dumps(body) and "<!channel>" not in json.dumps(body)

        by_value = {letter.original_bytes(): letter for letter in letters}
        assert len(letters) == len(bad_values) + 1 == len(by_value)  # one each, no repeat
        for value, reason in bad_values.items():
            assert by_value[value].reason.value == reason, value[:40]
            assert by_value[value].source_topic == topic
        refused_letter = by_value[refused.model_dump_json().encode()]
        assert refused_letter.reason.value == "undeliverable"
        assert refused_letter.detail == "the webhook refused it: HTTP 400: no"

        samples = feed_samples(metrics_port)
        assert total(samples, "ces_feed_webhook_delivered_total") == len(answers)
        assert total(samples, "ces_feed_webhook_dead_letters_total", reason="undeliverable") == 1
        assert total(samples, "ces_feed_webhook_dead_letters_total", goal="(none)") == len(bad_values)
        assert total(samples, "ces_feed_webhook_waiting_records") == 0

        group = f"{settings.app_id}-feed-webhook"
        ends = {p: offset or None for p, offset in end_offsets(kafka_bootstrap, topic).items()}
        wait_until(
            lambda: committed_offsets(kafka_bootstrap, group, topic) == ends,
            timeout_s=10,
            what="every partition committed to its end",
        )

        # 3. The webhook hangs on one more answer: a stop does not wait for it, and it is not committed.
        webhook.hang.set()
        hung = high_effort_answer(GOALS[2], 20)
        meta = producer.send(topic, key=hung.goal.encode(), value=hung.model_dump_json().encode()).get(timeout=10)
        wait_until(lambda: str(hung.answer_id) in webhook.hanging_on, timeout_s=10, what="the hanging POST")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log_text()
        stopped_in = time.monotonic() - started
        print(f"feed webhook stopped {stopped_in:.2f} s after SIGTERM, its webhook hanging")
        assert stopped_in < STOP_BOUND_S
        assert committed_offsets(kafka_bootstrap, group, topic)[meta.partition] == meta.offset
        assert "s3cret-webhook-token" not in log_text()
    finally:
        webhook.close()
        dead_letters.close()
        producer.close()


def test_from_the_worker_every_negative_answer_reaches_the_webhook_once_masked(
    kafka_bootstrap: str, unique_env: dict[str, str], feed_process: dict[str, Any], start_worker, tmp_path: Path
) -> None:
    """Issue 23 end to end: answers through a real worker, its high-effort answers through the feed to a
    webhook that fails and recovers. Each negative answer arrives once, no other does, and the personal
    data planted in the comments arrives masked while the look-alikes that fail their checks arrive as written."""
    goal = "file-claim"
    env = {
        **unique_env,
        "CES_GOALS_FILE": str(
            write_registry(tmp_path / "goals.yaml", [{"slug": goal, "scale": {"kind": "five_point"}}])
        ),
    }
    settings = settings_from_env(env)
    create_topics(settings)
    start_worker(env)
    rng = random.Random(uuid.uuid4().int)
    users = {f"user-feed-{uuid.uuid4()}": PlantedData.draw(rng) for _ in range(10)}
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    webhook = Webhook(free_port(), refused_key="none")
    try:
        for user in users:
            emit_goal_event(producer, make_goal_event(goal, "completed", user), topic=settings.topic_goal_events)
        producer.flush()
        sent = prompts.wait_for(lambda ps: {p["user_id"] for p in ps} >= set(users), timeout_s=40, what="prompts")
        by_user = {p["user_id"]: p for p in sent}
        negative: dict[str, PlantedData] = {}
        for n, (user, planted) in enumerate(users.items()):
            score = 1 + n % 5  # 1 and 2 are the negative band of a five-point scale
            answer = make_answer(by_user[user], score, comment=planted.comment(f"feed-{n}"), may_contact=n % 2 == 0)
            emit_answer(producer, answer, topic=settings.topic_survey_answers)
            if score <= 2:
                negative[str(answer.answer_id)] = planted
        producer.flush()

        webhook.start()  # 500s, then 429s, then 2xx
        feed_process["start"](
            {
                **env,
                "CES_FEED_WEBHOOK_URL": f"http://127.0.0.1:{webhook.port}/hook",
                "CES_FEED_WEBHOOK_FORMAT": "json",
                "CES_FEED_WEBHOOK_METRICS_PORT": str(free_port()),
                "CES_WEB_HOST": "127.0.0.1",
                "CES_FEED_WEBHOOK_BACKOFF_INITIAL_SECONDS": "0.05",
                "CES_FEED_WEBHOOK_BACKOFF_MAX_SECONDS": "0.3",
            }
        )
        wait_until(
            lambda: set(webhook.delivered) >= set(negative),
            timeout_s=40,
            what="every negative answer at the webhook",
            describe=lambda: (webhook.answers, feed_process["log"].read_text(errors="replace")[-3000:]),
        )
        assert webhook.answers[500] == FAILING_500 and webhook.answers[429] == FAILING_429
        assert webhook.delivered == Counter(dict.fromkeys(negative, 1))  # once each, and no other answer
        for answer_id, planted in negative.items():
            body = webhook.bodies[answer_id]
            text = json.dumps(body)
            assert not [value for value in planted.masked_values if value in text], text
            assert planted.not_an_iban in body["comment"] and planted.not_a_bsn in body["comment"]
            assert {"[email]", "[phone]", "[iban]", "[bsn]"} <= set(re.findall(r"\[[a-z]+\]", body["comment"]))
            assert body["goal"] == goal and body["score"] in (1, 2) and "user_id" not in body
    finally:
        webhook.close()
        prompts.close()
        producer.close()


def test_a_topic_that_does_not_exist_stops_it_at_once_saying_so(
    kafka_bootstrap: str, unique_env: dict[str, str], tmp_path: Path
) -> None:
    missing = f"{unique_env['CES_APP_ID']}.no-such-topic"
    result = subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", "feed-webhook"],
        env={
            **os.environ,
            **unique_env,
            "PYTHONPATH": str(PROJECT_ROOT),
            "CES_TOPIC_HIGH_EFFORT_ANSWERS": missing,
            "CES_FEED_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}{SECRET_PATH}",
            "CES_FEED_WEBHOOK_METRICS_PORT": str(free_port()),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    # Neither the test's input topic nor its dead-letter topic was created.
    assert f"ces-stream: topics {missing}, {unique_env['CES_TOPIC_DEAD_LETTER']} do not exist" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-webhook-token" not in result.stderr
