"""Survey kinds through the real broker: the survey budget across goals and kinds, a CSAT goal's
prompts, follow-up questions by band, and a comment sent after its score joined once."""

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

HARD = {"en": "What made it hard?", "nl": "Wat maakte het moeilijk?"}


@pytest.fixture
def surveys(kafka_bootstrap, tmp_path, start_worker):
    goals = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": "pay-bill",
                "scale": {"kind": "five_point"},
                "follow_up_by_band": {"negative": HARD, "positive": None},
            },
            {"slug": "order", "scale": {"kind": "yes_no"}, "survey": "csat"},
            {"slug": "browse", "scale": {"kind": "five_point"}},
        ],
        budget={"max_prompts": 3, "period_seconds": 86400},
    )
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(goals)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap)
    readers = {
        name: TopicReader(kafka_bootstrap, topic)
        for name, topic in (
            ("prompts", settings.topic_survey_prompts),
            ("comments", settings.topic_feedback_comments),
            ("dead", settings.topic_dead_letter),
        )
    }

    def send(event_or_answer, topic):
        (emit_goal_event if topic == settings.topic_goal_events else emit_answer)(
            producer, event_or_answer, topic=topic
        )
        producer.flush()

    yield settings, worker, send, readers
    for reader in readers.values():
        reader.close()
    producer.close()


def _metric_sum(worker, name: str, **labels: str) -> float:
    return worker.metric(name, **labels) or 0.0


def _decided(worker, goal: str) -> float:
    """Completions of ``goal`` decided so far: prompted, or held back by the budget."""
    return _metric_sum(worker, "ces_survey_prompts_total", goal=goal, outcome="completed") + _metric_sum(
        worker, "ces_survey_prompts_suppressed_total", goal=goal, reason="survey_budget"
    )


def test_one_user_is_never_asked_more_than_the_budget_across_goals_and_kinds(surveys) -> None:
    settings, worker, send, readers = surveys
    goals = ["pay-bill", "order", "browse"] * 4
    answered: set[str] = set()
    for n, goal in enumerate(goals):
        before = _decided(worker, goal)
        send(make_goal_event(goal, "completed", "frank"), settings.topic_goal_events)
        wait_until(lambda goal=goal, before=before: _decided(worker, goal) > before, what=f"event {n} decided")
        for prompt in [p for p in readers["prompts"].poll() if p["user_id"] == "frank"]:
            if prompt["prompt_id"] in answered:
                continue
            # Answer it, so that no open prompt holds the next one back: only the budget may.
            send(make_answer(prompt, 1), settings.topic_survey_answers)
            answered.add(prompt["prompt_id"])
            wait_until(
                lambda goal=prompt["goal"]: (
                    _metric_sum(worker, "ces_survey_answers_total", goal=goal, sentiment="positive")
                    + _metric_sum(worker, "ces_survey_answers_total", goal=goal, sentiment="negative")
                    >= 1
                ),
                what="the answer counted",
            )
    prompts = [p for p in readers["prompts"].poll() if p["user_id"] == "frank"]
    assert [(p["goal"], p["survey"]) for p in prompts] == [("pay-bill", "ces"), ("order", "csat"), ("browse", "ces")]
    held_back = sum(
        _metric_sum(worker, "ces_survey_prompts_suppressed_total", goal=goal, reason="survey_budget")
        for goal in ("pay-bill", "order", "browse")
    )
    assert held_back == len(goals) - 3


def test_a_comment_after_its_score_is_published_once_with_the_score(surveys) -> None:
    settings, worker, send, readers = surveys
    send(make_goal_event("pay-bill", "completed", "gina"), settings.topic_goal_events)
    readers["prompts"].wait_for(lambda ps: [p for p in ps if p["user_id"] == "gina"], what="gina's prompt")
    (prompt,) = [p for p in readers["prompts"].poll() if p["user_id"] == "gina"]
    assert [(f["band"], f["scores"], f["question"]) for f in prompt["follow_ups"]] == [
        ("negative", [1, 2], "What made it hard?"),
        ("neutral", [3], "Why?"),
    ]
    send(make_answer(prompt, 2), settings.topic_survey_answers)
    comment = make_answer(prompt, None, schema_version=2, comment="The button was hidden.")
    send(comment, settings.topic_survey_answers)
    send(comment, settings.topic_survey_answers)  # the app retried: a duplicate
    readers["comments"].wait_for(
        lambda cs: [c for c in cs if c["prompt_id"] == prompt["prompt_id"]], what="the comment"
    )
    wait_until(
        lambda: (
            worker.metric("ces_events_invalid_total", topic=settings.topic_survey_answers, reason="duplicate") == 1.0
        ),
        what="the retried comment dead-lettered",
    )
    comments = [c for c in readers["comments"].poll() if c["prompt_id"] == prompt["prompt_id"]]
    assert [(c["score"], c["comment"], c["survey"]) for c in comments] == [(2, "The button was hidden.", "ces")]
    assert worker.metric("ces_survey_answers_total", goal="pay-bill", sentiment="negative") == 1.0
    assert [d["reason"] for d in readers["dead"].poll() if d["source_topic"] == settings.topic_survey_answers] == [
        "duplicate"
    ]


def _answer_now(send, settings, prompt: dict, score: int) -> None:
    send(make_answer(prompt, score), settings.topic_survey_answers)


def test_the_high_effort_split_is_exact_and_the_nps_period_holds_across_a_restart(
    kafka_bootstrap, tmp_path, start_worker
) -> None:
    goals = write_registry(
        tmp_path / "nps-goals.yaml",
        [
            {"slug": "bad-flow", "scale": {"kind": "five_point"}},
            {"slug": "buy", "scale": {"kind": "five_point"}, "nps_moment": True},
        ],
        nps={"period_seconds": 7776000, "sampling": {"rate": 1.0}, "high_effort": {"min_answers": 3}},
    )
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(goals)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env, name="first")
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)

    def send(record, topic):
        (emit_goal_event if topic == settings.topic_goal_events else emit_answer)(producer, record, topic=topic)
        producer.flush()

    def prompt_of(user: str, goal: str, n: int = 1) -> dict:
        prompts.wait_for(
            lambda ps: len([p for p in ps if (p["user_id"], p["goal"]) == (user, goal)]) >= n,
            what=f"{user}'s prompt at {goal}",
        )
        return [p for p in prompts.poll() if (p["user_id"], p["goal"]) == (user, goal)][n - 1]

    try:
        # Three users find bad-flow hard (1 on five points), then answer NPS at buy: 0, 6, 9.
        for user in ("h1", "h2", "h3"):
            send(make_goal_event("bad-flow", "completed", user), settings.topic_goal_events)
            _answer_now(send, settings, prompt_of(user, "bad-flow"), 1)
        wait_until(
            lambda: worker.metric("ces_survey_answers_total", goal="bad-flow", sentiment="negative") == 3.0,
            what="three high-effort answers",
        )
        # Three others only answer NPS: 10, 9, 7.
        for user, score in (("h1", 0), ("h2", 6), ("h3", 9), ("r1", 10), ("r2", 9), ("r3", 7)):
            send(make_goal_event("buy", "completed", user), settings.topic_goal_events)
            nps = prompt_of(user, "buy")
            assert nps["survey"] == "nps" and nps["scale"]["kind"] == "zero_to_ten"
            _answer_now(send, settings, nps, score)

        def by_effort(name: str, group: str) -> float | None:
            return worker.metric(name, goal="buy", window="1h", group=group)

        wait_until(
            lambda: (
                by_effort("ces_goal_nps_answers_by_effort", "high_effort") == 3
                and by_effort("ces_goal_nps_answers_by_effort", "rest") == 3
            ),
            what="both effort groups with three NPS answers",
        )
        assert by_effort("ces_goal_nps_by_effort", "high_effort") == (1 - 2) / 3
        assert by_effort("ces_goal_nps_by_effort", "rest") == (2 - 0) / 3
        gap = worker.metric("ces_goal_nps_high_effort_gap", goal="buy", window="1h")
        assert gap == (1 - 2) / 3 - (2 - 0) / 3
        assert worker.metric("ces_goal_nps", goal="buy", window="1h") == (3 - 2) / 6
        # Below the minimum (the 5m... no: a window without three per group) there is no split: the
        # 1h window of bad-flow has no NPS at all.
        assert worker.metric("ces_goal_nps_high_effort_gap", goal="bad-flow", window="1h") is None

        # A crash and a restart: the NPS period holds, buy asks its own question now.
        worker.kill()
        restarted = start_worker(env, name="restarted")
        send(make_goal_event("buy", "completed", "r1"), settings.topic_goal_events)
        again = prompt_of("r1", "buy", 2)
        assert again["survey"] == "ces"
        assert restarted.metric("ces_survey_prompts_suppressed_total", goal="buy", reason="nps_asked") in (None, 0.0)
    finally:
        prompts.close()
        producer.close()
