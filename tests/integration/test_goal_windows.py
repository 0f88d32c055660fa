"""Answers to windowed per-goal figures through the real broker: exact, crash-safe, exported once."""

from __future__ import annotations

import uuid
from collections import Counter

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

# The worked example of docs/domain.md: 40 x 5, 20 x 4, 5 x 3, 15 x 2, 20 x 1.
WORKED_EXAMPLE = [5] * 40 + [4] * 20 + [3] * 5 + [2] * 15 + [1] * 20


@pytest.fixture
def pipeline(kafka_bootstrap, tmp_path):
    """Env, settings, producer and prompts reader for a registry of the test's goals."""
    created = []

    def make(goals: list[dict], partitions: int = 4):
        registry = write_registry(tmp_path / f"goals-{len(created)}.yaml", goals)
        env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions), "CES_GOALS_FILE": str(registry)}
        settings = settings_from_env(env)
        create_topics(settings)
        producer = make_producer(kafka_bootstrap, linger_ms=20)
        prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
        created.append((producer, prompts))
        return env, settings, producer, prompts

    yield make
    for producer, prompts in created:
        prompts.close()
        producer.close()


def prompt_everyone(settings, producer, prompts, goal: str, users: list[str]) -> dict[str, dict]:
    """Complete the goal for every user and return their prompts by user id."""
    for user in users:
        emit_goal_event(producer, make_goal_event(goal, "completed", user), topic=settings.topic_goal_events)
    producer.flush()
    wanted = set(users)
    records = prompts.wait_for(
        lambda ps: wanted <= {p["user_id"] for p in ps if p["goal"] == goal}, timeout_s=180, what=f"prompts for {goal}"
    )
    return {p["user_id"]: p for p in records if p["goal"] == goal}


def answer_all(settings, producer, by_user: dict[str, dict], scores: dict[str, int]) -> None:
    for user, score in scores.items():
        emit_answer(producer, make_answer(by_user[user], score), topic=settings.topic_survey_answers)
    producer.flush()


def window_value(worker, name: str, goal: str, window: str = "1h", **labels: str) -> float | None:
    return worker.metric(name, goal=goal, window=window, **labels)


def test_the_worked_example_and_every_scale_direction(pipeline, start_worker):
    env, settings, producer, prompts = pipeline(
        [
            {"slug": "worked", "scale": {"kind": "five_point"}},
            {"slug": "effort", "scale": {"kind": "five_point_inverted"}},
            {"slug": "seven", "scale": {"kind": "seven_point"}},
        ]
    )
    worker = start_worker(env)
    users = [f"w{i:03d}" for i in range(100)]
    answer_all(
        settings,
        producer,
        prompt_everyone(settings, producer, prompts, "worked", users),
        dict(zip(users, WORKED_EXAMPLE, strict=False)),
    )
    effort_users = [f"e{i}" for i in range(5)]
    answer_all(
        settings,
        producer,
        prompt_everyone(settings, producer, prompts, "effort", effort_users),
        dict(zip(effort_users, [1, 2, 3, 4, 5], strict=False)),
    )
    seven_users = [f"s{i}" for i in range(7)]
    answer_all(
        settings,
        producer,
        prompt_everyone(settings, producer, prompts, "seven", seven_users),
        dict(zip(seven_users, [1, 2, 3, 4, 5, 6, 7], strict=False)),
    )

    wait_until(lambda: window_value(worker, "ces_goal_answers", "worked") == 100, what="100 answers in the 1h window")
    assert window_value(worker, "ces_goal_ces_ratio", "worked") == 0.60
    assert window_value(worker, "ces_goal_mean_score", "worked") == 3.45
    assert window_value(worker, "ces_goal_most_negative_ratio", "worked") == 0.20
    assert window_value(worker, "ces_goal_net_effort", "worked") == 0.25
    assert window_value(worker, "ces_goal_prompts", "worked") == 100
    assert window_value(worker, "ces_goal_response_ratio", "worked") == 1.0
    assert window_value(worker, "ces_goal_completion_ratio", "worked") == 1.0
    assert {s: window_value(worker, "ces_goal_answers_by_score", "worked", score=str(s)) for s in range(1, 6)} == {
        5: 40,
        4: 20,
        3: 5,
        2: 15,
        1: 20,
    }
    lower = window_value(worker, "ces_goal_ces_ratio_wilson_lower", "worked")
    upper = window_value(worker, "ces_goal_ces_ratio_wilson_upper", "worked")
    assert lower < 0.60 < upper  # 99% Wilson interval around the observed share

    # Inverted five-point: 1 and 2 (little effort) are the positive answers.
    wait_until(lambda: window_value(worker, "ces_goal_answers", "effort") == 5, what="effort answers")
    assert window_value(worker, "ces_goal_positive_answers", "effort") == 2
    assert window_value(worker, "ces_goal_most_negative_ratio", "effort") == 0.2  # the 5
    # Seven-point: 5, 6 and 7 are positive; 1, 2 and 3 negative.
    wait_until(lambda: window_value(worker, "ces_goal_answers", "seven") == 7, what="seven-point answers")
    assert window_value(worker, "ces_goal_positive_answers", "seven") == 3
    assert window_value(worker, "ces_goal_net_effort", "seven") == 0.0

    # The same figures as JSON for people and tools.
    status, body = worker.get("/api/goals")
    import json

    figures = json.loads(body)["worked"]["1h"]
    assert status == 200 and figures["ces_ratio"] == 0.60 and figures["mean_score"] == 3.45


def test_sigkill_halfway_through_20000_answers_still_gives_exact_counts(pipeline, start_worker):
    goals = {"kill-a": [5, 4, 4, 2, 1], "kill-b": [5, 5, 3, 1]}
    env, settings, producer, prompts = pipeline([{"slug": slug, "scale": {"kind": "five_point"}} for slug in goals])
    worker = start_worker(env, name="before-kill")
    truth: dict[str, Counter] = {}
    by_goal: dict[str, dict[str, dict]] = {}
    for slug, cycle in goals.items():
        users = [f"{slug}-{i:05d}" for i in range(10_000)]
        by_goal[slug] = prompt_everyone(settings, producer, prompts, slug, users)
        truth[slug] = Counter(cycle[i % len(cycle)] for i in range(len(users)))

    for slug, cycle in goals.items():
        for i, (_user, prompt) in enumerate(sorted(by_goal[slug].items())):
            emit_answer(producer, make_answer(prompt, cycle[i % len(cycle)]), topic=settings.topic_survey_answers)
    producer.flush()

    def answered() -> float:
        return sum(
            worker.metric("ces_survey_answers_total", goal=g, sentiment=s) or 0
            for g in goals
            for s in ("positive", "neutral", "negative")
        )

    wait_until(lambda: answered() >= 4_000, timeout_s=120, interval_s=0.05, what="a good part of the answers")
    worker.kill()  # SIGKILL: no commit, no flush; whatever was uncommitted is replayed
    restarted = start_worker(env, name="after-kill")
    for slug in goals:
        wait_until(
            lambda: window_value(restarted, "ces_goal_answers", slug, "24h") == 10_000,
            timeout_s=180,
            what=f"all answers of {slug} after the restart",
            describe=lambda: {g: window_value(restarted, "ces_goal_answers", g, "24h") for g in goals},
        )
    # Let any replayed tail settle, then compare exactly with the ground truth.
    wait_until(
        lambda: (restarted.metric("ces_consumer_lag_messages", topic=settings.topic_survey_answers) or 0) == 0,
        timeout_s=60,
        what="no lag on the answers topic",
    )
    for slug, counts in truth.items():
        exported = {
            s: window_value(restarted, "ces_goal_answers_by_score", slug, "24h", score=str(s)) for s in range(1, 6)
        }
        assert exported == {s: float(counts.get(s, 0)) for s in range(1, 6)}, slug
        assert window_value(restarted, "ces_goal_answers", slug, "24h") == 10_000
        assert window_value(restarted, "ces_goal_prompts", slug, "24h") == 10_000
        assert window_value(restarted, "ces_goal_outcomes", slug, "24h", outcome="completed") == 10_000


def test_two_workers_export_every_goal_exactly_once(pipeline, start_worker):
    slugs = [f"goal-{i}" for i in range(12)]
    env, settings, producer, prompts = pipeline([{"slug": s, "scale": {"kind": "five_point"}} for s in slugs])
    first = start_worker(env, name="first")
    second = start_worker(env, name="second")
    users = {slug: f"user-of-{slug}" for slug in slugs}
    for slug, user in users.items():
        emit_goal_event(producer, make_goal_event(slug, "completed", user), topic=settings.topic_goal_events)
    producer.flush()
    records = prompts.wait_for(lambda ps: len({p["goal"] for p in ps}) == len(slugs), what="one prompt per goal")
    for prompt in records:
        emit_answer(producer, make_answer(prompt, 5), topic=settings.topic_survey_answers)
    producer.flush()

    def exporters(slug: str) -> list[float]:
        return [v for w in (first, second) if (v := window_value(w, "ces_goal_answers", slug)) is not None]

    # After the rebalance settles, each goal has exactly one exporter showing all its answers.
    wait_until(lambda: all(exporters(s) == [1.0] for s in slugs), timeout_s=90, what="each goal exported once")
    owned_first = {s for s in slugs if window_value(first, "ces_goal_answers", s) is not None}
    owned_second = {s for s in slugs if window_value(second, "ces_goal_answers", s) is not None}
    assert owned_first and owned_second and not owned_first & owned_second
    targets = [w.metric("ces_goal_target_ces_ratio", goal=s) for w in (first, second) for s in slugs]
    assert sum(t is not None for t in targets) == len(slugs)


def test_windows_close_by_the_clock_and_summaries_cover_quiet_goals(pipeline, start_worker, kafka_bootstrap):
    env, settings, producer, prompts = pipeline(
        [
            {"slug": "busy", "scale": {"kind": "five_point"}},
            {"slug": "quiet", "scale": {"kind": "emoticon"}},
        ]
    )
    # Short windows built from 5 s buckets, so periods close within seconds.
    env = {**env, "CES_WINDOWS": "10s,1h", "CES_BUCKET_RESOLUTIONS": "5s,1m", "CES_WINDOW_CLOSE_DELAY_SECONDS": "1"}
    worker = start_worker(env)
    users = ["u1", "u2", "u3"]
    answer_all(
        settings,
        producer,
        prompt_everyone(settings, producer, prompts, "busy", users),
        dict(zip(users, [5, 4, 1], strict=False)),
    )
    wait_until(lambda: window_value(worker, "ces_goal_answers", "busy") == 3, what="answers counted")

    summaries = TopicReader(kafka_bootstrap, settings.topic_goal_summaries)
    try:
        records = summaries.wait_for(
            lambda ss: sum(s["answers"] for s in ss if s["goal"] == "busy" and s["window"] == "10s") == 3,
            timeout_s=60,
            what="10s summaries holding the three answers",
        )
        busy = [s for s in records if s["goal"] == "busy" and s["window"] == "10s" and s["answers"]]
        assert sum(s["positive"] for s in busy) == 2 and sum(s["negative"] for s in busy) == 1
        assert all(s["window_seconds"] == 10 and s["confidence"] == 0.99 for s in busy)
        # A goal with no traffic at all still has its windows closed by the clock.
        quiet = summaries.wait_for(
            lambda ss: [s for s in ss if s["goal"] == "quiet" and s["window"] == "10s"],
            what="summaries of the quiet goal",
        )
        assert all(s["answers"] == 0 and s["ces_ratio"] is None for s in quiet if s["goal"] == "quiet")
    finally:
        summaries.close()
