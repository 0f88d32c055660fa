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
