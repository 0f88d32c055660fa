"""The prompt funnel through the real broker: prompts sent, shown, dismissed, answered, exactly.

An app prompts 200 users on goal "funnel" and reports 150 of the prompts shown; 60 of those
users dismiss the prompt, 50 answer it (40 positive). A second goal's app reports no prompt
events: its figures are what they always were. Prompt events that break the rules go to the
dead letters with the reasons of answers: the same event again, a prompt never sent, a prompt
long expired.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas import PromptEvent
from stream.infra.producer import emit_answer, emit_goal_event, emit_prompt_event, make_producer
from stream.infra.topics import create_topics
from tests.harness import (
    TopicReader,
    make_answer,
    make_goal_event,
    make_prompt_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)

pytestmark = pytest.mark.integration

FUNNEL, SILENT, BRIEF = "funnel", "no-prompt-events", "brief"
USERS, SHOWN, DISMISSED, ANSWERED, POSITIVE = 200, 150, 60, 50, 40


def test_a_constructed_funnel_is_exact_and_apps_without_prompt_events_see_no_change(
    kafka_bootstrap, start_worker, tmp_path
):
    registry = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": FUNNEL, "scale": {"kind": "five_point"}},
            {"slug": SILENT, "scale": {"kind": "five_point"}},
            {"slug": BRIEF, "scale": {"kind": "five_point"}, "prompt_expiry_seconds": 1},
        ],
    )
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(registry)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap, linger_ms=20)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    dead_letters = TopicReader(kafka_bootstrap, settings.topic_dead_letter)
    try:
        for goal, users in ((FUNNEL, USERS), (SILENT, 20), (BRIEF, 1)):
            for i in range(users):
                emit_goal_event(
                    producer, make_goal_event(goal, "completed", f"{goal}-{i}"), topic=settings.topic_goal_events
                )
        producer.flush()
        records = prompts.wait_for(lambda ps: len(ps) >= USERS + 21, timeout_s=60, what=f"{USERS + 21} prompts")
        by_goal: dict[str, list[dict]] = {}
        for prompt in records:
            by_goal.setdefault(prompt["goal"], []).append(prompt)
        now = datetime.now(UTC)

        def send_event(event: PromptEvent) -> None:
            emit_prompt_event(producer, event, topic=settings.topic_prompt_events)

        funnel = by_goal[FUNNEL]
        first_shown_id = uuid.uuid4()
        for i, prompt in enumerate(funnel[:SHOWN]):
            send_event(
                make_prompt_event(prompt, "shown", occurred_at=now, event_id=first_shown_id if i == 0 else uuid.uuid4())
            )
            if i < DISMISSED:
                send_event(make_prompt_event(prompt, "dismissed", occurred_at=now + timedelta(seconds=5)))
            elif i < DISMISSED + ANSWERED:
                score = 5 if i < DISMISSED + POSITIVE else 2
                emit_answer(producer, make_answer(prompt, score), topic=settings.topic_survey_answers)
        for prompt in by_goal[SILENT][:10]:
            emit_answer(producer, make_answer(prompt, 4), topic=settings.topic_survey_answers)
        # The rules of answers: the same event again, a prompt never sent, a prompt long expired.
        send_event(make_prompt_event(funnel[0], "shown", occurred_at=now, event_id=first_shown_id))
        send_event(make_prompt_event({**funnel[1], "prompt_id": str(uuid.uuid4())}, "shown", occurred_at=now))
        send_event(make_prompt_event(by_goal[BRIEF][0], "shown", occurred_at=now + timedelta(seconds=120)))
        producer.flush()

        def gauge(name: str, goal: str = FUNNEL) -> float | None:
            return worker.metric(name, goal=goal, window="1h")

        def invalid(reason: str) -> float | None:
            return worker.metric("ces_events_invalid_total", topic=settings.topic_prompt_events, reason=reason)

        wait_until(
            lambda: (
                (gauge("ces_goal_answers"), gauge("ces_goal_prompts_dismissed"), invalid("expired_prompt"))
                == (ANSWERED, DISMISSED, 1)
            ),
            timeout_s=60,
            what="every answer and prompt event counted",
            describe=lambda: (
                gauge("ces_goal_answers"),
                gauge("ces_goal_prompts_dismissed"),
                invalid("expired_prompt"),
            ),
        )
        assert gauge("ces_goal_prompts") == USERS
        assert gauge("ces_goal_prompts_shown") == SHOWN
        assert gauge("ces_goal_shown_ratio") == SHOWN / USERS
        assert gauge("ces_goal_dismissal_ratio") == DISMISSED / SHOWN
        assert gauge("ces_goal_response_ratio_shown") == ANSWERED / SHOWN
        assert gauge("ces_goal_response_ratio") == ANSWERED / USERS  # over sent, as ever
        for kind, count in (("shown", SHOWN), ("dismissed", DISMISSED)):
            assert worker.metric("ces_survey_prompt_events_total", goal=FUNNEL, type=kind) == count
        assert (invalid("duplicate"), invalid("unknown_prompt")) == (1, 1)
        # The silent are those shown who did not answer: the bounds divide by the prompts shown.
        assert gauge("ces_goal_ces_ratio_if_silent_dissatisfied") == POSITIVE / SHOWN
        assert gauge("ces_goal_ces_ratio_if_silent_satisfied") == (POSITIVE + SHOWN - ANSWERED) / SHOWN

        # No prompt events: no funnel series, the response ratio over sent as ever.
        assert (gauge("ces_goal_prompts_shown", SILENT), gauge("ces_goal_prompts_dismissed", SILENT)) == (None, None)
        assert gauge("ces_goal_shown_ratio", SILENT) is None and gauge("ces_goal_response_ratio_shown", SILENT) is None
        assert gauge("ces_goal_response_ratio", SILENT) == 10 / 20
        assert gauge("ces_goal_ces_ratio_if_silent_dissatisfied", SILENT) == 10 / 20

        status, body = worker.get("/api/goals")
        assert status == 200
        hour = json.loads(body)[FUNNEL]["1h"]
        assert (hour["prompts"], hour["shown"], hour["dismissed"], hour["answers"]) == (
            USERS,
            SHOWN,
            DISMISSED,
            ANSWERED,
        )
        assert (hour["shown_ratio"], hour["dismissal_ratio"], hour["response_ratio_shown"]) == (
            SHOWN / USERS,
            DISMISSED / SHOWN,
            ANSWERED / SHOWN,
        )
        letters = dead_letters.wait_for(
            lambda ls: len([x for x in ls if x["source_topic"] == settings.topic_prompt_events]) >= 3,
            timeout_s=30,
            what="the three dead-lettered prompt events",
        )
        reasons = sorted(x["reason"] for x in letters if x["source_topic"] == settings.topic_prompt_events)
        assert reasons == ["duplicate", "expired_prompt", "unknown_prompt"]
    finally:
        prompts.close()
        dead_letters.close()
        producer.close()
