"""The simulated apps show, dismiss and stop rendering prompts: the shares, the times and the scenario switch.

Prompts are built as the worker sends them (real SurveyPrompt messages) for one simulated user, so the
model sees exactly what it reads from the prompts topic; the prompt events it plans must pass the
worker's validation.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from schemas import PromptEvent, SurveyPrompt
from stream.ces.intake.validation import Limits, validate_prompt_event
from stream.ces.registry.loader import load_registry
from stream.tools.simulator.command import Tally, add_arguments, summary_text
from stream.tools.simulator.scores import response_share
from stream.tools.simulator.traffic import (
    NOT_RENDERED,
    PromptPlan,
    Scenario,
    SimulationConfig,
    TrafficModel,
    timestamp,
)
from tests.paths import PROJECT_ROOT

REGISTRY = load_registry(PROJECT_ROOT / "deploy" / "goals.yaml")
LIMITS = Limits(max_event_bytes=65_536, future_skew_s=300, late_grace_s=3600)
PROMPTS = 20_000
TOLERANCE = 0.02  # 2 percentage points; one standard error of these shares is at most 0.5 points


def prompts_at(model: TrafficModel, goal: str, at_s: float, count: int, outcome: str = "completed") -> list[dict]:
    """``count`` prompts of ``goal`` to one simulated user, sent ``at_s`` model seconds into the run."""
    user = model.users[0]
    config = REGISTRY.get(goal)
    created_s = model.config.start_epoch_s + at_s
    return [
        json.loads(
            SurveyPrompt(
                prompt_id=uuid.UUID(int=index + 1_000_000 * int(at_s)),
                user_id=user.user_id,
                goal=goal,
                outcome=outcome,
                locale=user.locale,
                question=config.question_for(user.locale),
                follow_up_question=config.follow_up_for(user.locale),
                scale=config.scale_spec_for(user.locale),
                created_at=timestamp(created_s),
                expires_at=timestamp(created_s + config.prompt_expiry_seconds),
                event_id=uuid.UUID(int=index),
            ).model_dump_json()
        )
        for index in range(count)
    ]


def planned(model: TrafficModel, prompts: list[dict]) -> list[tuple[dict, PromptPlan]]:
    """Each prompt with the model's plan for it (every prompt here is to a simulated user, on a known goal)."""
    plans = []
    for prompt in prompts:
        plan = model.plan_prompt(prompt)
        assert plan is not None
        plans.append((prompt, plan))
    return plans


@pytest.fixture(scope="module")
def steady() -> tuple[TrafficModel, list[tuple[dict, PromptPlan]]]:
    model = TrafficModel(REGISTRY, SimulationConfig(seed=3))
    return model, planned(model, prompts_at(model, model.profiles[0].slug, 30.0, PROMPTS))


def test_most_prompts_are_shown_answers_follow_only_shown_ones_and_a_share_of_the_rest_is_dismissed(steady):
    model, plans = steady
    config = model.config
    shown = [plan for _, plan in plans if plan.shown is not None]
    assert abs(len(shown) / PROMPTS - config.shown_share) < TOLERANCE  # 0.95: the rest never rendered
    assert all(plan == NOT_RENDERED for _, plan in plans if plan.shown is None)  # nobody answers what nobody saw

    answered = [plan for plan in shown if plan.answer is not None]
    assert abs(len(answered) / len(shown) - response_share(config.answer_share, "completed")) < TOLERANCE
    unanswered = [plan for plan in shown if plan.answer is None]
    dismissed = [plan for plan in unanswered if plan.dismissed is not None]
    assert abs(len(dismissed) / len(unanswered) - config.dismiss_share) < TOLERANCE  # 0.40 of those not answered
    assert all(plan.dismissed is None for plan in answered)


def test_exits_answer_a_third_as_often_of_the_prompts_shown():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=4))
    plans = planned(model, prompts_at(model, model.profiles[0].slug, 30.0, PROMPTS, outcome="abandoned"))
    shown = [plan for _, plan in plans if plan.shown is not None]
    answered = sum(plan.answer is not None for plan in shown)
    assert abs(answered / len(shown) - response_share(model.config.answer_share, "abandoned")) < TOLERANCE


def test_shown_a_second_or_so_after_the_prompt_then_dismissed_or_answered_before_it_expires(steady):
    model, plans = steady
    start = model.config.start_epoch_s
    delays = []
    for prompt, plan in plans:
        if plan.shown is None:
            continue
        created_s = datetime.fromisoformat(prompt["created_at"]).timestamp() - start
        expires_s = datetime.fromisoformat(prompt["expires_at"]).timestamp() - start
        delays.append(plan.shown.at_s - created_s)
        answer = plan.answer
        later = [
            record for record in (plan.dismissed, answer and answer.record, answer and answer.comment_record) if record
        ]
        assert all(plan.shown.at_s < record.at_s < expires_s for record in later)
        assert plan.records() == sorted([plan.shown, *later], key=lambda record: record.at_s)
    delays.sort()
    assert delays[0] > 0.0 and delays[-1] < 10.0
    assert 0.8 < delays[len(delays) // 2] < 1.25  # the median: a second or so


def test_prompt_events_are_valid_keyed_by_the_user_and_name_their_prompt(steady):
    model, plans = steady
    goals = frozenset(REGISTRY.slugs)
    checked = set()
    for prompt, plan in plans[:2_000]:
        for record in (plan.shown, plan.dismissed):
            if record is None:
                continue
            event = validate_prompt_event(record.value, model.config.start_epoch_s + record.at_s, goals, LIMITS)
            assert isinstance(event, PromptEvent), event
            assert (str(event.prompt_id), event.user_id, event.goal) == (
                prompt["prompt_id"],
                prompt["user_id"],
                prompt["goal"],
            )
            assert (record.topic, record.key, record.kind, event.type) == (
                "prompt_events",
                prompt["user_id"].encode(),
                event.type.value,
                record.kind,
            )
            checked.add(record.kind)
    assert checked == {"shown", "dismissed"}


def test_the_plan_of_a_prompt_depends_on_the_seed_and_the_prompt_alone(steady):
    _, plans = steady
    again = TrafficModel(REGISTRY, SimulationConfig(seed=3))
    for prompt, _ in reversed(plans[:200]):  # another order
        again.plan_prompt(prompt)
    assert [again.plan_prompt(prompt) for prompt, _ in plans[:200]] == [plan for _, plan in plans[:200]]


def test_not_rendered_stops_showing_the_incident_goals_prompts_from_minute_m():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=5, scenario=Scenario.not_rendered, incident_minute=2))
    goal, other = model.incident_goal, model.profiles[1].slug
    assert goal == model.profiles[0].slug  # the busiest by default, as for the incident

    def shown_share(goal: str, at_s: float) -> float:
        plans = planned(model, prompts_at(model, goal, at_s, 2_000))
        return sum(plan.shown is not None for _, plan in plans) / len(plans)

    assert shown_share(goal, 60.0) > 0.9
    late = planned(model, prompts_at(model, goal, 125.0, 2_000))
    assert [plan for _, plan in late] == [NOT_RENDERED] * len(late)  # not shown, so neither answered nor dismissed
    assert shown_share(other, 125.0) > 0.9  # the other goals' apps still render theirs
    assert (model.shown_share(goal, 119.9), model.shown_share(goal, 120.0)) == (model.config.shown_share, 0.0)
    steady = TrafficModel(REGISTRY, SimulationConfig(seed=5, incident_minute=2))
    assert steady.shown_share(goal, 1_000.0) == steady.config.shown_share


def test_the_shares_are_options_and_the_summary_counts_the_prompt_events():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.shown_share, defaults.dismiss_share, defaults.answer_share) == (0.95, 0.40, 0.30)
    assert parser.parse_args(["--scenario", "not-rendered"]).scenario == Scenario.not_rendered.value
    for option in ("--shown-share", "--dismiss-share"):
        with pytest.raises(SystemExit):
            parser.parse_args([option, "1.2"])
    with pytest.raises(ValueError, match="shown_share"):
        TrafficModel(REGISTRY, SimulationConfig(shown_share=-0.1))

    model = TrafficModel(REGISTRY, SimulationConfig(seed=6, shown_share=0.5, dismiss_share=1.0, answer_share=0.0))
    tally = Tally()
    for prompt in prompts_at(model, model.profiles[0].slug, 10.0, 400):
        plan = model.plan_prompt(prompt)
        assert plan is not None and plan.answer is None  # nobody answers: every prompt shown is dismissed
        tally.prompts_not_shown += plan.shown is None
        for record in plan.records():
            tally.count_sent(record)
    summary: dict[str, Any] = tally.summary(model.config, 10.0)
    sent = summary["sent"]
    assert sent["prompt_events"]["shown"] == sent["prompt_events"]["dismissed"] == 400 - tally.prompts_not_shown
    assert 150 < tally.prompts_not_shown < 250
    assert sent["prompt_events_by_goal"] == {model.profiles[0].slug: sent["prompt_events"]}
    assert sent["goal_events_total"] == sent["bad_records_total"] == sent["answers"] == 0
    assert f"{2 * sent['prompt_events']['shown']} prompt events" in summary_text(summary)
