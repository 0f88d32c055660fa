"""Dead letters replayed once the cause is fixed, through the real broker and workers.

A worker whose registry lacks the goal "later" dead-letters its goal events (unknown_goal), and a
record that is not JSON (not_json). The goal is added to the registry and the worker restarted;
``ces-stream dead-letters replay --reason unknown_goal`` writes the refused events back to the goal
events topic, and the worker counts them; the record that is not JSON stays a dead letter.
"""

from __future__ import annotations

import argparse
import uuid

import pytest

from stream.infra.producer import emit_goal_event, make_producer
from stream.infra.topics import create_topics
from stream.tools import dead_letters
from tests.harness import TopicReader, make_goal_event, settings_from_env, wait_until, worker_env, write_registry

pytestmark = pytest.mark.integration

KNOWN, LATER, USERS = "known", "later", 5


def test_events_refused_for_an_unknown_goal_are_counted_after_the_goal_is_added_and_they_are_replayed(
    kafka_bootstrap, start_worker, tmp_path, capsys
):
    registry = tmp_path / "goals.yaml"
    write_registry(registry, [{"slug": KNOWN, "scale": {"kind": "five_point"}}])
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(registry)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env, name="before")
    producer = make_producer(kafka_bootstrap, linger_ms=5)
    letters = TopicReader(kafka_bootstrap, settings.topic_dead_letter)
    try:
        for user in range(USERS):
            emit_goal_event(
                producer, make_goal_event(LATER, "completed", f"u-{user}"), topic=settings.topic_goal_events
            )
        producer.send(settings.topic_goal_events, key=b"u-x", value=b"not json")
        producer.flush()
        letters.wait_for(lambda ls: len(ls) >= USERS + 1, timeout_s=60, what="the dead letters")
        worker.stop()

        write_registry(
            registry,
            [{"slug": KNOWN, "scale": {"kind": "five_point"}}, {"slug": LATER, "scale": {"kind": "five_point"}}],
        )
        worker = start_worker(env, name="after")
        args = argparse.Namespace(
            action="replay",
            hours=1.0,
            source_topic=settings.topic_goal_events,
            reason=["unknown_goal"],
            to=None,
            dry_run=False,
        )
        assert dead_letters.run(settings, args) == 0
        assert f"replayed {USERS} records from {settings.topic_goal_events} (unknown_goal)" in capsys.readouterr().out

        def counted() -> float | None:
            return worker.metric("ces_goal_events_total", goal=LATER, type="completed")

        wait_until(lambda: counted() == USERS, timeout_s=60, what="the replayed events counted", describe=counted)
        summary = argparse.Namespace(action="summary", hours=1.0)
        assert dead_letters.run(settings, summary) == 0
        out = capsys.readouterr().out
        assert f"{USERS}  {settings.topic_goal_events}  unknown_goal" in out and "not_json" in out
        assert "u-" not in out  # no user id printed
    finally:
        letters.close()
        producer.close()
