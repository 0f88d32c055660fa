"""``ces-stream simulate`` against a real worker: it shows, dismisses and answers the prompts the worker
sends, and its summary counts what the worker counted."""

from __future__ import annotations

import argparse
import json
import uuid

import pytest

from stream.infra.topics import create_topics
from stream.tools.simulator.command import add_arguments, run
from tests.harness import settings_from_env, wait_until, worker_env, write_registry

pytestmark = pytest.mark.integration

GOALS = [
    {"slug": "sim-invoice", "scale": {"kind": "five_point"}},
    {
        "slug": "sim-claim",
        "scale": {"kind": "seven_point"},
        "triggers": {
            "completed": True,
            "abandoned": True,
            "inferred_abandonment": {"enabled": True, "timeout_seconds": 4},
        },
    },
    {"slug": "sim-address", "scale": {"kind": "emoticon"}},
]


def total(worker, name: str, **labels: str) -> float:
    """Sum of a counter's samples over the labels not given."""
    return sum(
        value
        for (sample, sample_labels), value in worker.samples().items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def test_simulator_answers_the_prompts_the_worker_sends(kafka_bootstrap, start_worker, tmp_path, capsys):
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=2)
    env["CES_GOALS_FILE"] = str(write_registry(tmp_path / "goals.yaml", GOALS))
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    summary_path = tmp_path / "summary.json"
    args = parser.parse_args(
        [
            "--rate",
            "15",
            "--duration",
            "15",
            "--seed",
            "11",
            "--attempt-seconds",
            "1",
            "--answer-delay-seconds",
            "1.5",
            "--answer-share",
            "0.6",
            "--users",
            "2000",
            "--quiet",
            "--summary-json",
            str(summary_path),
        ]
    )
    assert run(settings, args) == 0
    summary = json.loads(summary_path.read_text())
    assert "goal events" in capsys.readouterr().out

    sent, received = summary["sent"], summary["received"]
    assert sent["goal_events_total"] > 150 and sent["bad_records_total"] == 0
    expected = {
        (goal, event_type): count
        for goal, by_type in sent["goal_events_by_goal"].items()
        for event_type, count in by_type.items()
    }
    assert {goal for goal, _ in expected} == {goal["slug"] for goal in GOALS}

    def counted() -> dict[tuple[str, str], float]:
        return {key: worker.metric("ces_goal_events_total", goal=key[0], type=key[1]) for key in expected}

    wait_until(
        lambda: counted() == expected, timeout_s=20, what="the worker to count every goal event sent", describe=counted
    )
    # Every answer sent was to a real prompt, on time and on its scale: the worker counts each one.
    assert sent["answers"] > 0 and received["prompts_total"] >= sent["answers"]
    wait_until(
        lambda: total(worker, "ces_survey_answers_total") == sent["answers"],
        timeout_s=20,
        what="the worker to count every answer sent",
        describe=lambda: (total(worker, "ces_survey_answers_total"), sent["answers"]),
    )
    wait_until(
        lambda: total(worker, "ces_feedback_comments_total") == sent["comments"],
        timeout_s=10,
        what="the worker to forward every comment sent",
    )
    # Every prompt event sent named a prompt the worker sent, to its user, on time: the worker counts each one.
    shown_or_dismissed = sent["prompt_events"]
    assert set(shown_or_dismissed) == {"shown", "dismissed"} and shown_or_dismissed["shown"] > 0
    assert shown_or_dismissed["shown"] + received["prompts_not_shown"] <= received["prompts_total"]

    def prompt_events_counted() -> dict[str, float]:
        return {kind: total(worker, "ces_survey_prompt_events_total", type=kind) for kind in shown_or_dismissed}

    wait_until(
        lambda: prompt_events_counted() == shown_or_dismissed,
        timeout_s=20,
        what="the worker to count every prompt event sent",
        describe=lambda: (prompt_events_counted(), shown_or_dismissed),
    )
    assert received["prompts_for_other_users"] == 0
    assert set(received["prompts"]) <= {"completed", "abandoned", "abandoned_inferred"}
    assert 0 < received["prompts_total"] <= total(worker, "ces_survey_prompts_total")
    assert total(worker, "ces_events_invalid_total") == 0
