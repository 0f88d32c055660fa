"""The CES page at ``/`` of a real worker, read by headless Chromium.

Two goals: one gets the worked example's 100 answers (docs/domain.md) (40 x 5, 20 x 4, 5 x 3, 15 x 2,
20 x 1: CES 0.60, Wilson interval at 99 % 0.4714..0.7161, so below its target of 0.80), the
other none. The first goal's app reports prompt events: it shows the 100 answered prompts and
20 of 30 more (users who completed the goal and did not answer; 8 of them dismissed the prompt),
so its funnel is 130 sent, 120 shown, 100 answered, 8 dismissed. The page must show both goals,
with the figures of ``/api/goals`` and the registry's names and targets. The screenshot stays
under the test's tmp_path (its path is printed).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stream.ces.goals.effort import duration_key, duration_quantile
from stream.infra.producer import emit_answer, emit_goal_event, emit_prompt_event, make_producer
from stream.infra.topics import create_topics
from tests.browser import chromium_or_skip, dump_dom, fields_by_goal, screenshot
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

ANSWERED, QUIET = "download-invoice", "view-policy"
WORKED_EXAMPLE = {5: 40, 4: 20, 3: 5, 2: 15, 1: 20}
TOOK_S = 30.0  # from start to completion, every attempt
UNANSWERED, SHOWN_UNANSWERED, DISMISSED = 30, 20, 8  # users who complete and do not answer, as the app saw them


def funnel_in(worker, goal: str = ANSWERED, window: str = "7d") -> tuple | None:
    """(sent, shown, dismissed, answers) of a goal's window in /api/goals."""
    status, body = worker.get("/api/goals")
    figures = json.loads(body).get(goal, {}).get(window, {}) if status == 200 else {}
    return tuple(figures.get(name) for name in ("prompts", "shown", "dismissed", "answers"))


def send_prompt_event(producer, settings, prompt: dict, kind: str) -> None:
    """The app reports a prompt ``kind`` (shown or dismissed) now."""
    emit_prompt_event(producer, make_prompt_event(prompt, kind), topic=settings.topic_prompt_events)


def drive_worked_example(kafka_bootstrap: str, settings) -> None:
    """100 users start the goal, complete it TOOK_S later, and answer its prompt with the worked example's score;
    UNANSWERED more complete it without a start and never answer. The app reports which prompts it showed
    (every answered one, SHOWN_UNANSWERED of the others) and which the users dismissed (DISMISSED)."""
    producer = make_producer(kafka_bootstrap, linger_ms=20)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    try:
        scores = {}
        for score, count in WORKED_EXAMPLE.items():
            for i in range(count):
                user = f"user-{score}-{i}"
                done = datetime.now(UTC)
                started = make_goal_event(ANSWERED, "started", user, occurred_at=done - timedelta(seconds=TOOK_S))
                emit_goal_event(producer, started, topic=settings.topic_goal_events)
                emit_goal_event(
                    producer,
                    make_goal_event(ANSWERED, "completed", user, occurred_at=done),
                    topic=settings.topic_goal_events,
                )
                scores[user] = score
        silent = [f"silent-{i}" for i in range(UNANSWERED)]
        for user in silent:
            emit_goal_event(producer, make_goal_event(ANSWERED, "completed", user), topic=settings.topic_goal_events)
        producer.flush()
        records = prompts.wait_for(
            lambda ps: set(scores) | set(silent) <= {p["user_id"] for p in ps}, timeout_s=120, what="130 prompts"
        )
        by_user = {p["user_id"]: p for p in records}  # a prompt may arrive twice
        for user in silent[:SHOWN_UNANSWERED]:
            send_prompt_event(producer, settings, by_user[user], "shown")
        for user in silent[:DISMISSED]:
            send_prompt_event(producer, settings, by_user[user], "dismissed")
        for user, score in scores.items():
            send_prompt_event(producer, settings, by_user[user], "shown")
            emit_answer(producer, make_answer(by_user[user], score), topic=settings.topic_survey_answers)
        producer.flush()
    finally:
        prompts.close()
        producer.close()


def test_the_ces_page_shows_every_goal_with_its_figures(kafka_bootstrap, start_worker, tmp_path):
    chromium_or_skip()
    registry = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": ANSWERED,
                "display_name": {"en": "Download invoice", "nl": "Factuur downloaden"},
                "scale": {"kind": "five_point"},
                "target_ces_ratio": 0.8,
            },
            {
                "slug": QUIET,
                "display_name": {"en": "View policy", "nl": "Polis inzien"},
                "scale": {"kind": "five_point_inverted"},
                "target_ces_ratio": 0.75,
            },
        ],
    )
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(registry)}
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    drive_worked_example(kafka_bootstrap, settings)
    funnel = (100 + UNANSWERED, 100 + SHOWN_UNANSWERED, DISMISSED, 100)
    wait_until(
        lambda: funnel_in(worker) == funnel,
        timeout_s=60,
        what="the funnel (130 sent, 120 shown, 8 dismissed, 100 answered) in /api/goals",
        describe=lambda: funnel_in(worker),
    )

    status, body = worker.get("/api/registry")
    assert status == 200
    assert [goal["slug"] for goal in json.loads(body)["goals"]] == [ANSWERED, QUIET]

    dom = dump_dom(worker.url + "/", tmp_path)
    rows = dict(fields_by_goal(dom))
    assert list(rows) == [ANSWERED, QUIET]
    invoice = rows[ANSWERED]
    assert invoice["name"] == "Download invoice"
    # The default windows hold 1h and 7d: the short and the long CES.
    assert (invoice["ces_short"], invoice["ces_long"], invoice["answers"]) == ("60 %", "60 %", "100")
    assert (invoice["target"], invoice["interval"]) == ("80 %", "47–72 %")
    assert (invoice["status"], invoice["data-status"]) == ("below target", "below")  # 0.7161 < 0.80
    assert invoice["completion_vs_exits"] == "60 % vs –"  # every prompt was at completion
    assert invoice["completion_vs_exits_answers"] == "100 / 0 answers"
    assert "1h 60 %" in dom and "28d 60 %" in dom  # the sparkline's label, every window
    # Measured effort, of the short window: the median within the sketch's 2 %, as the page rounds it.
    median = duration_quantile({duration_key(TOOK_S): 100}, 0.5)
    assert median is not None and abs(median - TOOK_S) <= 0.02 * TOOK_S
    assert invoice["duration_median"] == f"{round(median)} s median"
    assert invoice["effort_retried"] == "0 % retried · 100 timed"
    assert "effort_divergence" not in invoice  # no baseline to part from
    # The funnel of the long window, and the response ratio over the prompts shown: 100 / 120.
    assert invoice["funnel"] == "130 → 120 → 100 (8 dismissed)"
    assert invoice["response_ratio"] == "83 % of shown"
    # Corrected for non-response, of the long window: every attempt completed, so it is the CES of the answers,
    # with its interval at 99 % (0.4735..0.7265, wider than Wilson's). The bounds are over the prompts shown,
    # 20 of them unanswered: 60 / 120 if none of those users found it easy, (60 + 20) / 120 if all did.
    correction = json.loads(worker.get("/api/goals")[1])[ANSWERED]["7d"]["non_response"]
    assert (correction["ces_ratio"], correction["thin_strata"]) == (pytest.approx(0.6), [])
    assert (invoice["ces_corrected"], invoice["corrected_interval"]) == ("60 %", "47–73 %")
    assert invoice["silent_bounds"] == "bounds 50–67 %"

    policy = rows[QUIET]
    assert (policy["name"], policy["ces_long"], policy["answers"], policy["target"]) == (
        "View policy",
        "–",
        "0",
        "75 %",
    )
    assert (policy["status"], policy["data-status"]) == ("no data", "no-data")
    assert policy["ces_corrected"] == "–" and "silent_bounds" not in policy  # no attempts, no prompts
    assert "funnel" not in policy  # nothing prompted
    assert "this worker serves 2 of 2 goals" in dom

    shot = screenshot(worker.url + "/", tmp_path / "ces-page.png", tmp_path)
    print(f"screenshot: {shot}")
