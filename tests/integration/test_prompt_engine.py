"""Prompt engine through the real broker: triggers, suppression, inferred abandonment, restarts, sampling."""

from __future__ import annotations

import uuid

import pytest

from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from tests.harness import (
    TopicReader,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)

pytestmark = pytest.mark.integration

INFERRED_TIMEOUT_S = 3


@pytest.fixture
def engine(request, kafka_bootstrap, tmp_path, start_worker):
    """A worker with a registry made for these scenarios, plus a producer and a prompts reader.

    Parametrize indirectly with a table store URL to run on another store (default memory://).
    """
    goals = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": "pay-bill",
                "scale": {"kind": "five_point"},
                "cooldowns": {"user_goal_seconds": 3600},
                "triggers": {
                    "completed": True,
                    "abandoned": True,
                    "inferred_abandonment": {"enabled": True, "timeout_seconds": INFERRED_TIMEOUT_S},
                },
            },
            {"slug": "sampled", "scale": {"kind": "seven_point"}, "sampling": {"rate": 0.5}},
        ],
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
        "CES_GOALS_FILE": str(goals),
        "CES_STORE": getattr(request, "param", "memory://"),
        "CES_DATA_DIR": str(tmp_path / "data"),
    }
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)

    class Engine:
        pass

    e = Engine()
    e.env, e.settings, e.worker, e.producer, e.prompts, e.start_worker = (
        env,
        settings,
        worker,
        producer,
        prompts,
        start_worker,
    )

    def send(event):
        emit_goal_event(producer, event, topic=settings.topic_goal_events)
        producer.flush()
        return event

    def prompts_for(user):
        return [p for p in prompts.poll() if p["user_id"] == user]

    e.send, e.prompts_for = send, prompts_for
    yield e
    prompts.close()
    producer.close()


def suppressed(worker, reason, goal="pay-bill"):
    return worker.metric("ces_survey_prompts_suppressed_total", goal=goal, reason=reason)


def test_completion_and_explicit_abandonment_prompt(engine):
    engine.send(make_goal_event("pay-bill", "completed", "alice", locale="nl"))
    engine.send(make_goal_event("pay-bill", "abandoned", "bob"))
    engine.prompts.wait_for(lambda ps: {p["user_id"] for p in ps} >= {"alice", "bob"}, what="two prompts")
    (alice,) = engine.prompts_for("alice")
    (bob,) = engine.prompts_for("bob")
    assert alice["outcome"] == "completed" and alice["locale"] == "nl"
    assert alice["question"] == "Hoe makkelijk was het?"
    assert alice["scale"]["kind"] == "five_point"
    assert bob["outcome"] == "abandoned"
    assert engine.worker.metric("ces_survey_prompts_total", goal="pay-bill", outcome="abandoned") == 1.0


def test_second_completion_inside_the_cooldown_is_suppressed(engine):
    engine.send(make_goal_event("pay-bill", "completed", "carol"))
    (prompt,) = engine.prompts.wait_for(
        lambda ps: engine.prompts_for("carol"), what="carol's prompt"
    ) and engine.prompts_for("carol")
    emit_answer(engine.producer, make_answer(prompt, 4), topic=engine.settings.topic_survey_answers)
    engine.producer.flush()
    wait_until(
        lambda: engine.worker.metric("ces_survey_answers_total", goal="pay-bill", sentiment="positive") == 1.0,
        what="the answer to be counted",
    )
    engine.send(make_goal_event("pay-bill", "completed", "carol"))
    wait_until(lambda: suppressed(engine.worker, "user_goal_cooldown") == 1.0, what="cooldown suppression")
    assert len(engine.prompts_for("carol")) == 1


def test_a_retried_event_prompts_once(engine):
    event = make_goal_event("pay-bill", "completed", "dave")
    engine.send(event)
    engine.send(event)  # the app retried: same event id, new record
    wait_until(lambda: suppressed(engine.worker, "duplicate_event") == 1.0, what="duplicate suppression")
    engine.prompts.wait_for(lambda ps: engine.prompts_for("dave"), what="dave's prompt")
    assert len(engine.prompts_for("dave")) == 1
    assert (
        engine.worker.metric("ces_events_invalid_total", topic=engine.settings.topic_goal_events, reason="duplicate")
        == 1.0
    )


def test_a_start_without_an_end_prompts_as_inferred_abandonment(engine):
    engine.send(make_goal_event("pay-bill", "started", "erin"))
    # No further traffic at all: the worker's own timer must fire.
    engine.prompts.wait_for(
        lambda ps: engine.prompts_for("erin"), timeout_s=INFERRED_TIMEOUT_S + 30, what="inferred prompt"
    )
    (prompt,) = engine.prompts_for("erin")
    assert prompt["outcome"] == "abandoned_inferred"
    wait_until(
        lambda: engine.worker.metric("ces_survey_prompts_total", goal="pay-bill", outcome="abandoned_inferred") == 1.0,
        what="inferred prompt counted",
    )


def test_an_inferred_abandonment_due_after_a_restart_still_reaches_its_user(engine):
    # The raw user id lives only in memory; after a restart it is read back from the started event.
    engine.send(make_goal_event("pay-bill", "started", "gina"))
    user_events = f"{engine.env['CES_APP_ID']}-user-events"
    wait_until(
        lambda: (engine.worker.metric("ces_last_event_processed_timestamp_seconds", topic=user_events) or 0) > 0,
        what="the started event in the user stage",
    )
    engine.worker.stop()
    restarted = engine.start_worker(engine.env, name="restarted")
    engine.prompts.wait_for(
        lambda ps: engine.prompts_for("gina"), timeout_s=INFERRED_TIMEOUT_S + 60, what="gina's prompt"
    )
    (prompt,) = engine.prompts_for("gina")
    assert prompt["outcome"] == "abandoned_inferred"
    wait_until(
        lambda: restarted.metric("ces_survey_prompts_total", goal="pay-bill", outcome="abandoned_inferred") == 1.0,
        what="the prompt counted by the restarted worker",
    )
    assert not suppressed(restarted, "no_recipient")


@pytest.mark.parametrize("engine", ["memory://", "rocksdb://"], indirect=True)
def test_cooldowns_survive_a_worker_restart(engine):
    engine.send(make_goal_event("pay-bill", "completed", "frank"))
    engine.prompts.wait_for(lambda ps: engine.prompts_for("frank"), what="frank's prompt")
    (prompt,) = engine.prompts_for("frank")
    emit_answer(engine.producer, make_answer(prompt, 5), topic=engine.settings.topic_survey_answers)
    engine.producer.flush()
    wait_until(
        lambda: engine.worker.metric("ces_survey_answers_total", goal="pay-bill", sentiment="positive") == 1.0,
        what="the answer to be counted",
    )
    engine.worker.stop()
    restarted = engine.start_worker(engine.env, name="restarted")
    engine.send(make_goal_event("pay-bill", "completed", "frank"))
    wait_until(lambda: suppressed(restarted, "user_goal_cooldown") == 1.0, what="cooldown after restart")
    assert len(engine.prompts_for("frank")) == 1


def test_sampling_at_half_prompts_half_the_users_and_replays_identically(engine, kafka_bootstrap, start_worker):
    users = [f"user-{i:05d}" for i in range(10_000)]
    for user in users:
        emit_goal_event(
            engine.producer, make_goal_event("sampled", "completed", user), topic=engine.settings.topic_goal_events
        )
    engine.producer.flush()
    wait_until(
        lambda: (
            (engine.worker.metric("ces_survey_prompts_total", goal="sampled", outcome="completed") or 0)
            + (suppressed(engine.worker, "not_sampled", goal="sampled") or 0)
            == len(users)
        ),
        timeout_s=120,
        what="every sampling decision",
    )
    prompted = engine.worker.metric("ces_survey_prompts_total", goal="sampled", outcome="completed")
    assert abs(prompted / len(users) - 0.5) <= 0.02
    first = engine.prompts.wait_for(lambda ps: sum(p["goal"] == "sampled" for p in ps) == prompted, what="all prompts")
    first_users = {p["user_id"] for p in first if p["goal"] == "sampled"}

    # A replay: a second app (its own consumer group and outputs) reads the same input from the start.
    replay_env = {
        **engine.env,
        "CES_APP_ID": engine.env["CES_APP_ID"] + "-replay",
        "CES_TOPIC_SURVEY_PROMPTS": engine.env["CES_TOPIC_SURVEY_PROMPTS"] + "-replay",
    }
    create_topics(settings_from_env(replay_env))
    replay = start_worker(replay_env, name="replay")
    reader = TopicReader(kafka_bootstrap, replay_env["CES_TOPIC_SURVEY_PROMPTS"])
    try:
        replayed = reader.wait_for(
            lambda ps: sum(p["goal"] == "sampled" for p in ps) >= prompted, timeout_s=120, what="replayed prompts"
        )
        wait_until(
            lambda: (suppressed(replay, "not_sampled", goal="sampled") or 0) == len(users) - prompted,
            timeout_s=60,
            what="replayed suppressions",
        )
        assert {p["user_id"] for p in replayed if p["goal"] == "sampled"} == first_users
    finally:
        reader.close()
