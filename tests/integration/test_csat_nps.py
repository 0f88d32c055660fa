"""CSAT and NPS through the real broker: issue 21's worked examples, exact on /metrics, /api/goals
and a closed summary, and exact again after a SIGKILL halfway through the answers."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

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

# NPS over 100 answers: 20 detractors (0-6), 30 passives (7-8), 50 promoters (9-10): +30.
NPS_SCORES = [0, 3, 5, 6] * 5 + [7, 8] * 15 + [9, 10] * 25
# CSAT on a five-point scale: 35 x 5, 35 x 4, 10 x 3, 10 x 2, 10 x 1: 0.70 satisfied.
CSAT_SCORES = [5] * 35 + [4] * 35 + [3] * 10 + [2] * 10 + [1] * 10
WINDOW_S = 30


def _prompts_for(settings, producer, prompts: TopicReader, goal: str, users: list[str]) -> list[dict]:
    for user in users:
        emit_goal_event(producer, make_goal_event(goal, "completed", user), topic=settings.topic_goal_events)
    producer.flush()
    wanted = set(users)
    records = prompts.wait_for(
        lambda ps: wanted <= {p["user_id"] for p in ps if p["goal"] == goal}, timeout_s=120, what=f"prompts at {goal}"
    )
    by_user = {p["user_id"]: p for p in records if p["goal"] == goal}
    return [by_user[user] for user in users]


def _value(worker, name: str, goal: str, **labels: str) -> float | None:
    return worker.metric(name, goal=goal, window="1h", **labels)


def test_nps_plus_30_and_csat_0_70_are_exact_and_survive_a_sigkill(kafka_bootstrap, tmp_path, start_worker) -> None:
    registry = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": "checkout", "scale": {"kind": "five_point"}, "nps_moment": True},
            {"slug": "contact-support", "scale": {"kind": "five_point"}, "survey": "csat"},
        ],
        nps={"period_seconds": 7776000, "sampling": {"rate": 1.0}},
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", 4),
        "CES_GOALS_FILE": str(registry),
        # A short window that closes within a minute (its summary), and the hour for /metrics.
        "CES_WINDOWS": f"{WINDOW_S}s,1h",
        "CES_BUCKET_RESOLUTIONS": "5s,1m",
        "CES_WINDOW_CLOSE_DELAY_SECONDS": "45",  # after the restart below
    }
    settings = settings_from_env(env)
    create_topics(settings)
    producer = make_producer(kafka_bootstrap, linger_ms=20)
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    summaries = TopicReader(kafka_bootstrap, settings.topic_goal_summaries)
    try:
        worker = start_worker(env, name="before-kill")
        nps_prompts = _prompts_for(settings, producer, prompts, "checkout", [f"n{i:03d}" for i in range(100)])
        csat_prompts = _prompts_for(settings, producer, prompts, "contact-support", [f"c{i:03d}" for i in range(100)])
        assert {p["survey"] for p in nps_prompts} == {"nps"} and {p["survey"] for p in csat_prompts} == {"csat"}
        # Every answer in one short window, so its closed summary holds them all.
        answered_at = datetime.fromtimestamp(max(time.time() - 1, time.time() // WINDOW_S * WINDOW_S), tz=UTC)
        for prompt, score in [*zip(nps_prompts, NPS_SCORES, strict=True), *zip(csat_prompts, CSAT_SCORES, strict=True)]:
            emit_answer(
                producer, make_answer(prompt, score, answered_at=answered_at), topic=settings.topic_survey_answers
            )
        producer.flush()

        def counted(w) -> float:
            nps = sum(
                w.metric("ces_nps_answers_total", goal="checkout", sentiment=s) or 0
                for s in ("positive", "neutral", "negative")
            )
            csat = sum(
                w.metric("ces_survey_answers_total", goal="contact-support", sentiment=s) or 0
                for s in ("positive", "neutral", "negative")
            )
            return nps + csat

        wait_until(lambda: counted(worker) >= 60, timeout_s=60, interval_s=0.02, what="part of the answers counted")
        worker.kill()  # SIGKILL: whatever was not committed is replayed
        restarted = start_worker(env, name="after-kill")
        wait_until(
            lambda: (
                _value(restarted, "ces_goal_nps_answers", "checkout") == 100
                and _value(restarted, "ces_goal_answers", "contact-support") == 100
            ),
            timeout_s=120,
            what="all 200 answers after the restart",
            describe=lambda: (
                _value(restarted, "ces_goal_nps_answers", "checkout"),
                _value(restarted, "ces_goal_answers", "contact-support"),
            ),
        )
        # NPS: exactly +30 (0.30 as a fraction), bands 20/30/50, and none of it in the goal's own CES.
        assert _value(restarted, "ces_goal_nps", "checkout") == 0.3
        bands = {
            b: _value(restarted, "ces_goal_nps_answers_by_band", "checkout", band=b)
            for b in ("detractor", "passive", "promoter")
        }
        assert bands == {"detractor": 20.0, "passive": 30.0, "promoter": 50.0}
        assert (_value(restarted, "ces_goal_answers", "checkout") or 0.0) == 0.0
        lower, upper = (_value(restarted, f"ces_goal_nps_{bound}", "checkout") for bound in ("lower", "upper"))
        assert lower is not None and upper is not None and lower < 0.3 < upper
        # CSAT: the share satisfied is 0.70, on the goal's own figures, and the goal says it asks CSAT.
        assert _value(restarted, "ces_goal_ces_ratio", "contact-support") == 0.7
        assert restarted.metric("ces_goal_survey_info", goal="contact-support", survey="csat") == 1.0
        # The same on /api/goals.
        status, body = restarted.get("/api/goals")
        goals = json.loads(body)
        assert status == 200
        assert goals["checkout"]["1h"]["nps"]["nps"] == 0.3
        assert goals["checkout"]["1h"]["nps"]["promoter_share"] == 0.5
        assert goals["contact-support"]["1h"]["ces_ratio"] == 0.7
        # And in the closed summary of the short window that holds every answer.
        records = summaries.wait_for(
            lambda ss: [
                s
                for s in ss
                if s["goal"] == "checkout" and s["window"] == f"{WINDOW_S}s" and s["nps"] and s["nps"]["answers"] == 100
            ],
            timeout_s=120,
            what="the closed summary with the 100 NPS answers",
        )
        (nps_summary,) = [s for s in records if s["goal"] == "checkout" and s["nps"] and s["nps"]["answers"] == 100][
            -1:
        ]
        assert (nps_summary["nps"]["nps"], nps_summary["nps"]["promoters"], nps_summary["nps"]["detractors"]) == (
            0.3,
            50,
            20,
        )
        csat = summaries.wait_for(
            lambda ss: [
                s
                for s in ss
                if s["goal"] == "contact-support" and s["window"] == f"{WINDOW_S}s" and s["answers"] == 100
            ],
            timeout_s=60,
            what="the closed CSAT summary",
        )
        csat_summary = [s for s in csat if s["goal"] == "contact-support" and s["answers"] == 100][-1]
        assert (csat_summary["survey"], csat_summary["ces_ratio"], csat_summary["positive"]) == ("csat", 0.7, 70)
    finally:
        summaries.close()
        prompts.close()
        producer.close()
