"""A constructed release with a known CES drop on one channel, through the real broker and worker.

Goal "file-claim": 300 web users on web-1.0 answer at a CES share of 0.8 and 100 iOS users on
ios-5.0 at 0.7; then web-1.1 ships and its 300 users answer at 0.4 (a true difference of -0.4),
while iOS stays on ios-5.0. The worker writes one verdict, web-1.1 worse than web-1.0, whose
interval holds -0.4, and none for iOS (one release); /api/goals shows the releases and the
verdict, /metrics the verdict's time for the dashboards' annotation, and the CES page in headless
Chromium the releases per channel and the verdict (a version with markup shown as text).
"""

from __future__ import annotations

import json
import uuid

import pytest

from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from tests.chromium_page import chromium_page
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

GOAL = "file-claim"
IOS = "ios-5.0 <b>beta</b>"  # app_version is app-provided text: the page shows it as written


def test_a_release_with_a_drop_on_web_gets_a_worse_verdict_and_ios_none(kafka_bootstrap, start_worker, tmp_path):
    registry = write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}])
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(registry)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap, linger_ms=20)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    verdicts = TopicReader(kafka_bootstrap, settings.topic_release_verdicts)
    sent_prompts = 0

    def release(channel: str, version: str, first_user: int, users: int, positive_of_ten: int) -> None:
        """``users`` new users of ``version`` complete the goal and answer: ``positive_of_ten`` in ten a 5, else 1."""
        nonlocal sent_prompts
        for user in range(first_user, first_user + users):
            event = make_goal_event(GOAL, "completed", f"{channel}-{user}", channel=channel, app_version=version)
            emit_goal_event(producer, event, topic=settings.topic_goal_events)
        producer.flush()
        sent_prompts += users
        records = prompts.wait_for(lambda ps: len(ps) >= sent_prompts, timeout_s=60, what=f"{sent_prompts} prompts")
        by_user = {prompt["user_id"]: prompt for prompt in records}
        for number, user in enumerate(range(first_user, first_user + users)):
            score = 5 if number % 10 < positive_of_ten else 1
            emit_answer(producer, make_answer(by_user[f"{channel}-{user}"], score), topic=settings.topic_survey_answers)
        producer.flush()

    def answers_counted() -> float | None:
        return worker.metric("ces_goal_answers", goal=GOAL, window="1h")

    try:
        release("web", "web-1.0", 0, 300, 8)
        release("ios", IOS, 0, 100, 7)
        wait_until(lambda: answers_counted() == 400, timeout_s=60, what="the first releases' answers counted")
        release("web", "web-1.1", 300, 300, 4)
        release("ios", IOS, 100, 100, 7)
        (verdict,) = verdicts.wait_for(lambda vs: len(vs) >= 1, timeout_s=60, what="a release verdict")
        assert (verdict["goal"], verdict["channel"], verdict["version"], verdict["previous_version"]) == (
            GOAL,
            "web",
            "web-1.1",
            "web-1.0",
        )
        assert verdict["direction"] == "worse" and verdict["survey"] == "ces"
        assert verdict["lower"] <= -0.4 <= verdict["upper"] < 0.0
        assert verdict["previous_answers"] == 300 and 0 < verdict["answers"] <= 300
        assert verdict["error_rate"] == 0.05 and verdict["window"] == "28d"
        assert verdict["text"].startswith(f"web-1.1 · {GOAL} · web: \N{MINUS SIGN}0.")

        wait_until(lambda: answers_counted() == 800, timeout_s=60, what="every answer counted")
        status, body = worker.get("/api/goals")
        assert status == 200
        releases = json.loads(body)[GOAL]["28d"]["releases"]
        assert [(r["channel"], r["version"], r["answers"], r["positive"]) for r in releases["versions"]] == [
            ("ios", IOS, 200, 140),
            ("web", "web-1.1", 300, 120),
            ("web", "web-1.0", 300, 240),
        ]
        (live,) = releases["verdicts"]
        assert (live["version"], live["direction"], live["answers"]) == ("web-1.1", "worse", 300)
        assert live["difference"] == pytest.approx(0.4 - 0.8)
        decided_at = worker.metric("ces_release_verdict_timestamp_seconds", goal=GOAL, channel="web", direction="worse")
        assert decided_at is not None and decided_at > 0
        assert (
            worker.metric("ces_release_verdict_timestamp_seconds", goal=GOAL, channel="ios", direction="worse") is None
        )
        assert len(verdicts.poll()) == 1  # one record so far (that none is written again is the unit tests')

        with chromium_page(tmp_path) as page:
            page.open(worker.url + "/")
            page.wait_for("document.querySelector('tr[data-release=\"file-claim|web\"]')", what="the release rows")
            web = page.fields('tr[data-release="file-claim|web"] [data-field]')
            ios = page.fields('tr[data-release="file-claim|ios"] [data-field]')
            title = page.evaluate("document.getElementById('releases-title').textContent")
            tags = page.evaluate("document.querySelectorAll('#releases b').length")
        assert title == "Releases (28d)"
        assert web["release_1"].startswith("web-1.1 · 40 % of 300 answers · since ")
        assert web["release_2"].startswith("web-1.0 · 80 % of 300 answers · since ")
        assert web["release_direction"] == "worse" and web["release_verdict"] == live["text"]
        assert ios["release_1"].startswith(f"{IOS} · 70 % of 200 answers")
        assert ios["release_direction"] == "one release: nothing to compare" and tags == 0
    finally:
        prompts.close()
        verdicts.close()
        producer.close()
