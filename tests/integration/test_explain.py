"""``ces-stream explain`` against a real worker: for a constructed set of users (eligible, sampled out, an open
prompt, in the user cooldown, in the user+goal cooldown, over the survey budget) the explanation read from the
live state agrees with what the worker then actually decides for the same goal event (the prompts topic and
``ces_survey_prompts_suppressed_total{reason}``), and explaining changes nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from stream.ces.intake import partition_for, pseudonymise
from stream.ces.users.sampling import sample_point
from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from stream.tools.explain import explain_from_workers, render
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

TOKEN = "integration-explain-token"
USER_COOLDOWN_S = 60
EARLIER = timedelta(seconds=2 * USER_COOLDOWN_S)  # past the user cooldown, inside the goal's


@pytest.fixture
def live(kafka_bootstrap, tmp_path, start_worker):
    goals = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": "pay-bill", "scale": {"kind": "five_point"}, "cooldowns": {"user_goal_seconds": 3600}},
            {"slug": "half", "scale": {"kind": "five_point"}, "sampling": {"rate": 0.5}},
            {
                "slug": "budgeted",
                "scale": {"kind": "five_point"},
                "budget": {"max_prompts": 1, "period_seconds": 86400},
            },
        ],
        user_cooldown_seconds=USER_COOLDOWN_S,
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
        "CES_GOALS_FILE": str(goals),
        "CES_EXPLAIN_TOKEN": TOKEN,
    }
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    producer = make_producer(kafka_bootstrap)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)

    class Live:
        pass

    live = Live()
    live.env, live.settings, live.worker, live.producer, live.prompts = env, settings, worker, producer, prompts
    live.key = env["CES_PSEUDONYM_KEY"].encode()
    yield live
    prompts.close()
    producer.close()


def _send(live: Any, goal: str, user: str, **fields: Any) -> None:
    emit_goal_event(
        live.producer, make_goal_event(goal, "completed", user, **fields), topic=live.settings.topic_goal_events
    )
    live.producer.flush()


def _prompts_for(live: Any, user: str) -> list[dict[str, Any]]:
    return [p for p in live.prompts.poll() if p["user_id"] == user]


def _prompted_and_answered(live: Any, goal: str, user: str, answered: int, **fields: Any) -> None:
    """``user`` completes ``goal``, is asked and answers; returns once the worker has the answer (the state too)."""
    _send(live, goal, user, **fields)
    live.prompts.wait_for(lambda ps: _prompts_for(live, user), what=f"the prompt of {goal}")
    (prompt,) = _prompts_for(live, user)
    emit_answer(live.producer, make_answer(prompt, 4), topic=live.settings.topic_survey_answers)
    live.producer.flush()
    wait_until(
        lambda: live.worker.metric("ces_survey_answers_total", goal=goal, sentiment="positive") == answered,
        what=f"the answer on {goal}",
    )


def _explained(live: Any, user: str, goal: str) -> dict[str, Any]:
    def answered() -> dict[str, Any] | None:
        try:
            return explain_from_workers(live.settings, [live.worker.url], {"user": user, "goal": goal})[1]
        except Exception:
            return None  # a worker still taking its partitions answers 421 or 503 for a moment

    body = wait_until(answered, what="the worker's explanation")
    assert render(live.worker.url, body)  # readable as the CLI prints it
    return body


def _get(worker: Any, path: str) -> tuple[int, bytes]:
    """A GET with the token."""
    request = urllib.request.Request(worker.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _suppressed(live: Any, goal: str, reason: str) -> float | None:
    return live.worker.metric("ces_survey_prompts_suppressed_total", goal=goal, reason=reason)


def test_the_explanation_agrees_with_the_workers_decision(live):
    tag = uuid.uuid4().hex[:8]
    users = {case: f"{case}-{tag}" for case in ("eligible", "open", "user-cd", "goal-cd", "budget")}
    users["sampled-out"] = next(
        u for n in range(1000) if sample_point(pseudonymise(u := f"out-{tag}-{n}", live.key), "half") >= 0.5
    )
    # Make the states: an open prompt; prompts answered now (user cooldown) and earlier (goal cooldown, budget).
    _send(live, "pay-bill", users["open"])
    live.prompts.wait_for(lambda ps: _prompts_for(live, users["open"]), what="the open prompt")
    _prompted_and_answered(live, "pay-bill", users["user-cd"], 1)
    earlier = datetime.now(UTC) - EARLIER
    _prompted_and_answered(live, "pay-bill", users["goal-cd"], 2, occurred_at=earlier)
    _prompted_and_answered(live, "budgeted", users["budget"], 1, occurred_at=earlier)

    cases = [
        ("eligible", "pay-bill", None),
        ("sampled-out", "half", "not_sampled"),
        ("open", "pay-bill", "open_prompt"),
        ("user-cd", "pay-bill", "user_cooldown"),
        ("goal-cd", "pay-bill", "user_goal_cooldown"),
        ("budget", "budgeted", "survey_budget"),
    ]
    for case, goal, expected in cases:
        user = users[case]
        first = _explained(live, user, goal)
        again = _explained(live, user, goal)  # explaining changed nothing
        assert (first["decision"], first["suppressed"]) == (again["decision"], again["suppressed"])
        assert first["suppressed"] == expected, (case, first)
        assert next((r["rule"] for r in first["rules"] if r["stops"]), None) == expected
        before = len(_prompts_for(live, user))
        _send(live, goal, user)
        if expected is None:
            assert first["decision"] == "prompt"
            live.prompts.wait_for(lambda ps, u=user, n=before: len(_prompts_for(live, u)) > n, what=f"{case}'s prompt")
        else:
            assert first["decision"] == "suppressed"
            wait_until(lambda g=goal, r=expected: _suppressed(live, g, r) == 1.0, what=f"{case}: {expected} counted")
            assert len(_prompts_for(live, user)) == before
    log = live.worker.log_path.read_text(errors="replace")
    assert not [user for user in users.values() if user in log], "a raw user id in the worker's log"


def test_without_the_token_the_worker_refuses(live):
    status, _ = live.worker.get("/api/explain?user=someone&goal=pay-bill")
    assert status == 401


def test_only_the_owner_of_the_users_partition_answers_and_the_cli_finds_it(live, start_worker):
    second = start_worker(live.env, name="second", loglevel="debug")
    user = f"owned-{uuid.uuid4().hex[:8]}"  # only ever explained: its id reaches the workers in the query alone
    query = "/api/explain?" + urlencode({"user": user, "goal": "pay-bill"})

    def statuses() -> tuple[int, int] | None:
        found = tuple(_get(w, query)[0] for w in (live.worker, second))
        return found if sorted(found) == [200, 421] else None  # once the two share the partitions

    owner_status, _ = wait_until(statuses, timeout_s=90, what="one owner and one other worker")
    owner, other = (live.worker, second) if owner_status == 200 else (second, live.worker)
    status, body = _get(other, query)
    refusal = json.loads(body)
    assert status == 421 and refusal["owner"] is False
    assert refusal["partition"] == partition_for(pseudonymise(user, live.key), live.settings.topic_partitions)
    url, answer = explain_from_workers(live.settings, [other.url, owner.url], {"user": user, "goal": "pay-bill"})
    assert url == owner.url and answer["partition"] == refusal["partition"] and answer["decision"] == "prompt"
    for worker in (live.worker, second):  # not even at debug
        assert user not in worker.log_path.read_text(errors="replace")
