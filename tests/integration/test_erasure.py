"""Erasure through the real broker (issue 25): a user's state goes, the figures stay, the user comes back new.

One worker, two users (the one to forget and a control). Both complete a goal, are prompted and
answer; the user's next completion is suppressed by the user cooldown (the state at work). Then
``ces-stream erase --user``: the user's entry is deleted from the users table (the changelog's
latest record for their pseudonym is a tombstone, read back here), the request is counted, the
window figures do not move, a request sent again and one for an unknown user are no-ops, a bad
request is dead-lettered with a reason, and the user's next completion is prompted as a new
user's. A request written while the worker is down is taken after its restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from stream.ces.intake import pseudonymise
from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from stream.tools.erase import erasure_request, send_erasure_request
from tests.harness import (
    PROJECT_ROOT,
    TopicReader,
    WorkerProcess,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)

pytestmark = pytest.mark.integration

GOAL = "close-account"
FORGET = "customer-to-forget"
KEEP = "customer-to-keep"
FIGURES = ("ces_goal_answers", "ces_goal_positive_answers", "ces_goal_prompts", "ces_goal_ces_ratio")


def latest_by_key(bootstrap: str, topic: str) -> dict[bytes, bytes | None]:
    """Every key's latest value in ``topic`` (None: a tombstone), read from the beginning to the end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        latest: dict[bytes, bytes | None] = {}
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    latest[record.key] = record.value
        return latest
    finally:
        consumer.close()


def changelog_config(bootstrap: str, topic: str, name: str) -> str | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})
        described = admin.describe_configs([resource], config_filter="all")
        return described["topic"][topic].get(name, {}).get("value")
    finally:
        admin.close()


def figures(worker: WorkerProcess) -> dict[str, float | None]:
    return {name: worker.metric(name, goal=GOAL, window="1h") for name in FIGURES}


def erased(worker: WorkerProcess, outcome: str) -> float | None:
    return worker.metric("ces_erasure_requests_total", outcome=outcome)


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path) -> dict[str, str]:
    goals = write_registry(
        tmp_path / "goals.yaml",
        [{"slug": GOAL, "scale": {"kind": "five_point"}, "triggers": {"inferred_abandonment": {"enabled": False}}}],
        user_cooldown_seconds=3600,  # a known user's next completion is suppressed: the state shows
    )
    return {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=2), "CES_GOALS_FILE": str(goals)}


def test_erasure_deletes_the_state_keeps_the_figures_and_survives_a_restart(kafka_bootstrap, env, start_worker):
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    dead = TopicReader(kafka_bootstrap, settings.topic_dead_letter)
    key = settings.pseudonym_key.get_secret_value().encode()
    changelog = f"{settings.app_id}-users-changelog"

    def complete(user: str) -> None:
        emit_goal_event(producer, make_goal_event(GOAL, "completed", user), topic=settings.topic_goal_events)
        producer.flush()

    def prompted(user: str) -> int:
        return sum(1 for p in prompts.poll() if p["user_id"] == user)

    def suppressed() -> float:
        """Suppressions for any reason (an open prompt or the user cooldown: both come from the user's state)."""
        return sum(
            value
            for (name, labels), value in worker.samples().items()
            if name == "ces_survey_prompts_suppressed_total" and ("goal", GOAL) in labels
        )

    try:
        # Both users complete, are prompted and answer (4 = easy, 2 = hard).
        for user in (FORGET, KEEP):
            complete(user)
        prompts.wait_for(lambda ps: len(ps) >= 2, timeout_s=60, what="a prompt per user")
        for prompt in list(prompts.records):
            score = 4 if prompt["user_id"] == KEEP else 2
            emit_answer(producer, make_answer(prompt, score), topic=settings.topic_survey_answers)
        producer.flush()
        # The user is known: the next completion is suppressed by the user cooldown.
        complete(FORGET)
        wait_until(lambda: suppressed() == 1, timeout_s=60, what="the second completion suppressed")
        wait_until(
            lambda: figures(worker)["ces_goal_answers"] == 2,
            timeout_s=60,
            what="both answers in the 1h window",
            describe=lambda: figures(worker),
        )
        before = figures(worker)
        assert before["ces_goal_positive_answers"] == 1 and before["ces_goal_prompts"] == 2

        # The command, as an operator runs it.
        result = subprocess.run(
            [sys.executable, "-m", "stream.tools.cli", "erase", "--user", FORGET],
            env={**os.environ, **env},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert FORGET not in result.stdout + result.stderr  # the user id is never printed
        request_id = uuid.UUID(result.stdout.split()[2])
        wait_until(lambda: erased(worker, "erased") == 1, timeout_s=60, what="the erasure counted")

        # The changelog's latest record for the user's pseudonym is a tombstone; the other user's stays.
        latest = latest_by_key(kafka_bootstrap, changelog)
        assert latest[pseudonymise(FORGET, key).encode()] is None
        assert latest[pseudonymise(KEEP, key).encode()]

        # The log cleaner must drop the older records within CES_ERASURE_COMPACTION_LAG_HOURS (24 h by default).
        assert changelog_config(kafka_bootstrap, changelog, "max.compaction.lag.ms") == str(24 * 3_600_000)
        assert changelog_config(kafka_bootstrap, changelog, "cleanup.policy") == "compact"

        # Idempotent: the same request again and a request for a user never seen change nothing.
        send_erasure_request(settings, erasure_request(FORGET, request_id))
        send_erasure_request(settings, erasure_request("never-seen-user"))
        # A bad request is dead-lettered with a reason, like every input.
        raw = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        raw.send(settings.topic_erasure_requests, key=b"x", value=b"not json")
        raw.send(settings.topic_erasure_requests, key=b"x", value=json.dumps({"user_id": ""}).encode())
        raw.flush()
        raw.close()
        wait_until(lambda: erased(worker, "unknown_user") == 2, timeout_s=60, what="two no-op requests counted")
        assert erased(worker, "erased") == 1
        letters = dead.wait_for(lambda ds: len(ds) >= 2, timeout_s=60, what="two dead-lettered requests")
        assert sorted(d["reason"] for d in letters) == ["not_json", "schema_violation"]
        assert {d["source_topic"] for d in letters} == {settings.topic_erasure_requests}
        invalid = worker.metric("ces_events_invalid_total", topic=settings.topic_erasure_requests, reason="not_json")
        assert invalid == 1

        # The figures are anonymous counts: not touched.
        assert figures(worker) == before

        # The user's next completion is a new user's: prompted, not suppressed.
        complete(FORGET)
        wait_until(lambda: prompted(FORGET) == 2, timeout_s=60, what="the forgotten user prompted as new")
        assert suppressed() == 1

        # A request written while the worker is down is taken after the restart.
        worker.stop()
        send_erasure_request(settings, erasure_request(KEEP))
        restarted = start_worker(env, name="restarted")
        wait_until(lambda: erased(restarted, "erased") == 1, timeout_s=90, what="the request taken after a restart")
        latest = latest_by_key(kafka_bootstrap, changelog)
        assert latest[pseudonymise(KEEP, key).encode()] is None
        assert latest[pseudonymise(FORGET, key).encode()]  # the new state of the user who came back
        wait_until(
            lambda: figures(restarted)["ces_goal_answers"] == 2,
            timeout_s=60,
            what="the figures restored",
            describe=lambda: figures(restarted),
        )
        after: dict[str, Any] = figures(restarted)
        assert after["ces_goal_positive_answers"] == before["ces_goal_positive_answers"]
        assert after["ces_goal_ces_ratio"] == before["ces_goal_ces_ratio"]
        complete(KEEP)
        wait_until(lambda: prompted(KEEP) == 2, timeout_s=60, what="the other user prompted as new")
    finally:
        producer.close()
        prompts.close()
        dead.close()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_an_erasure_cut_short_by_a_crash_is_done_after_the_restart(kafka_bootstrap, env, start_worker, tmp_path, store):
    """SIGKILL right after the request: wherever the worker was (before the tombstone, between it and the
    commit, or done), after a restart the user's state is gone and their next completion is a new user's."""
    env = {**env, "CES_STORE": store, "CES_DATA_DIR": str(tmp_path / "data")}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    ref = pseudonymise(FORGET, settings.pseudonym_key.get_secret_value().encode()).encode()
    changelog = f"{settings.app_id}-users-changelog"
    try:
        emit_goal_event(producer, make_goal_event(GOAL, "completed", FORGET), topic=settings.topic_goal_events)
        producer.flush()
        prompts.wait_for(lambda ps: len(ps) == 1, timeout_s=60, what="the first prompt")
        send_erasure_request(settings, erasure_request(FORGET))
        worker.kill()
        restarted = start_worker(env, name="restarted")
        wait_until(
            lambda: latest_by_key(kafka_bootstrap, changelog).get(ref, b"") is None,
            timeout_s=60,
            what="the tombstone in the users changelog",
            describe=lambda: {
                "latest": latest_by_key(kafka_bootstrap, changelog).get(ref, "no record"),
                "counted": {o: erased(restarted, o) for o in ("erased", "unknown_user")},
                "user-events": latest_by_key(kafka_bootstrap, f"{settings.app_id}-user-events"),
            },
        )
        # Taken once or replayed: either way one outcome or none (already committed before the kill).
        assert (erased(restarted, "erased") or 0) + (erased(restarted, "unknown_user") or 0) <= 1
        emit_goal_event(producer, make_goal_event(GOAL, "completed", FORGET), topic=settings.topic_goal_events)
        producer.flush()
        # A replay re-sends the first prompt with its own id; a prompt with a new id is the new user's.
        prompts.wait_for(
            lambda ps: len({p["prompt_id"] for p in ps if p["user_id"] == FORGET}) == 2,
            timeout_s=60,
            what="prompted as a new user",
        )
    finally:
        producer.close()
        prompts.close()
