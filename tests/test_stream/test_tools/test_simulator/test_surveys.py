"""Each prompt answered by its kind: CSAT by satisfaction, NPS by the user's recent effort, comments by band,
and the nps-after-incident scenario. Prompts are built as the worker builds them (``build_prompt``)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from schemas import SurveyAnswer
from stream.ces.intake.validation import Limits, validate_answer
from stream.ces.registry.loader import load_registry
from stream.ces.users.prompt_decision import build_prompt
from stream.ces.users.prompt_records import PendingPrompt
from stream.tools.simulator.comments import COMMENT_AFTER_SHARE
from stream.tools.simulator.loyalty import HIGH_EFFORT_BLEND, NPS_MIX, EffortMemory, band_of, blend
from stream.tools.simulator.traffic import JOURNEY_SHARE, Scenario, SimulationConfig, TrafficModel
from tests.paths import PROJECT_ROOT

REGISTRY = load_registry(PROJECT_ROOT / "deploy" / "goals.yaml")
LIMITS = Limits(max_event_bytes=65_536, future_skew_s=300, late_grace_s=3600)
TOLERANCE = 0.02


def prompts(model: TrafficModel, goal: str, survey: str, at_s: float, users: range, outcome: str = "completed"):
    """One prompt of ``survey`` at ``goal`` per simulated user of ``users``, created ``at_s`` into the run."""
    out = []
    for index in users:
        user = model.users[index]
        created = model.config.start_epoch_s + at_s
        scale = REGISTRY.nps.scale_obj() if survey == "nps" else REGISTRY.get(goal).scale_obj()
        pending = PendingPrompt(
            goal=goal,
            outcome=outcome,
            created_at_s=created,
            expires_at_s=created + 1800,
            scale_kind=scale.kind,
            positive=tuple(sorted(scale.positive)),
            min_score=scale.min_score,
            max_score=scale.max_score,
            inverted=scale.inverted,
            locale=user.locale,
            event_id=str(uuid.UUID(int=index)),
            survey=survey,
        )
        prompt_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{survey}:{goal}:{at_s}:{index}"))
        message = build_prompt(REGISTRY.get(goal), prompt_id, pending, user.user_id, REGISTRY.nps)
        out.append(json.loads(message.model_dump_json()))
    return out


def answered(model: TrafficModel, batch: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
    plans = [(p, model.plan_answer(p)) for p in batch]
    return [(p, plan) for p, plan in plans if plan is not None]


def bands(plans) -> dict[str, float]:
    counts = Counter(band_of(plan.score) for _, plan in plans)
    return {band: counts[band] / len(plans) for band in ("negative", "neutral", "positive")}


def test_the_nps_mixes_are_shares_and_blend_to_the_steady_mix():
    for mix in NPS_MIX.values():
        assert sum(mix.values()) == pytest.approx(1.0)
    steady = blend(HIGH_EFFORT_BLEND)
    assert steady == pytest.approx({"negative": 0.258, "neutral": 0.298, "positive": 0.444})
    assert NPS_MIX["high_effort"]["negative"] > 2.5 * NPS_MIX["rest"]["negative"]


def test_effort_memory_groups_by_recent_negative_answer_and_incident():
    memory = EffortMemory(window_s=100.0)
    memory.note_answer("a", 10.0, negative=True)
    memory.note_answer("a", 10.0, negative=True)  # planned twice: one answer
    assert memory.group("a", 50.0) == "high_effort"
    assert memory.group("a", 5.0) == "rest"  # not yet answered
    assert memory.group("a", 111.0) == "rest"  # out of the window
    memory.note_incident("b", 20.0)
    assert memory.group("b", 30.0) == "incident"
    memory.note_answer("b", 25.0, negative=False)  # answered since: the answer says how it went
    assert memory.group("b", 30.0) == "rest"


@pytest.mark.slow
def test_nps_mix_follows_the_users_recent_effort():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=8, answer_share=1.0, users=40_000))
    moment = next(p.slug for p in model.profiles if p.nps_moment)
    rest = answered(model, prompts(model, moment, "nps", 300.0, range(20_000)))
    assert bands(rest) == pytest.approx(NPS_MIX["rest"], abs=TOLERANCE)
    # Users who just gave a high-effort CES answer (through the model: an exit of a hard goal).
    ces = answered(model, prompts(model, "file-claim", "ces", 10.0, range(20_000, 40_000), outcome="abandoned"))
    scale = REGISTRY.get("file-claim").scale_obj()
    hard = {p["user_id"] for p, plan in ces if scale.classify(plan.score).value == "negative"}
    later = answered(model, prompts(model, moment, "nps", 300.0, range(20_000, 40_000)))
    high = [(p, plan) for p, plan in later if p["user_id"] in hard]
    others = [(p, plan) for p, plan in later if p["user_id"] not in hard]
    assert len(high) > 3_000 and bands(high) == pytest.approx(NPS_MIX["high_effort"], abs=0.03)
    assert bands(others) == pytest.approx(NPS_MIX["rest"], abs=0.03)
    nps = {name: b["positive"] - b["negative"] for name, b in (("high", bands(high)), ("rest", bands(rest)))}
    assert nps["rest"] - nps["high"] > 0.5  # the high-effort gap ces_goal_nps_high_effort_gap measures


@pytest.mark.slow
def test_csat_answers_are_mostly_satisfied_and_worse_in_an_incident():
    def satisfied(scenario: Scenario) -> tuple[float, float]:
        config = SimulationConfig(seed=9, answer_share=1.0, scenario=scenario, incident_goal="chat-with-support")
        model = TrafficModel(REGISTRY, config)
        out = []
        for at_s in (30.0, 300.0):
            plans = answered(model, prompts(model, "chat-with-support", "csat", at_s, range(8_000)))
            assert all(plan.survey == "csat" and 1 <= plan.score <= 5 for _, plan in plans)
            out.append(sum(plan.score >= 4 for _, plan in plans) / len(plans))
        return out[0], out[1]

    before, after = satisfied(Scenario.steady)
    target = REGISTRY.get("chat-with-support").target_ces_ratio
    assert before == pytest.approx(after, abs=TOLERANCE) and target < before < target + 0.1
    healthy, incident = satisfied(Scenario.incident)
    assert healthy == pytest.approx(before, abs=TOLERANCE) and incident < healthy - 0.3


def test_comments_only_after_bands_with_a_question_some_sent_after_the_score():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=4, answer_share=1.0))
    plans = answered(model, prompts(model, "download-invoice", "ces", 30.0, range(8_000)))
    plans += answered(model, prompts(model, "chat-with-support", "csat", 30.0, range(8_000)))
    scales = {goal: REGISTRY.get(goal).scale_obj() for goal in ("download-invoice", "chat-with-support")}
    after = 0
    commented = [(p, plan) for p, plan in plans if plan.comment is not None]
    for p, plan in plans:  # both ask nothing after a positive score
        if scales[p["goal"]].classify(plan.score).value == "positive":
            assert plan.comment is None and plan.comment_record is None
    for p, plan in commented:
        record = plan.comment_record
        if record is None:
            assert json.loads(plan.record.value)["comment"] == plan.comment
            continue
        after += 1
        value = json.loads(record.value)
        assert "comment" not in json.loads(plan.record.value) and "score" not in value
        assert (value["schema_version"], value["comment"], value["prompt_id"]) == (2, plan.comment, p["prompt_id"])
        expires_s = datetime.fromisoformat(p["expires_at"]).timestamp() - model.config.start_epoch_s
        assert plan.due_s < record.at_s < expires_s and record.kind == "comment"
        answer = validate_answer(
            record.value, model.config.start_epoch_s + record.at_s, frozenset(REGISTRY.slugs), LIMITS
        )
        assert isinstance(answer, SurveyAnswer) and answer.score is None and answer.survey.value == p["survey"]
    assert len(commented) > 300 and abs(after / len(commented) - COMMENT_AFTER_SHARE) < 0.07


@pytest.mark.slow
def test_nps_after_incident_sends_the_incident_users_to_the_nps_moments_where_they_score_lower():
    config = SimulationConfig(seed=5, scenario=Scenario.nps_after_incident, incident_minute=1, users=200_000)
    model = TrafficModel(REGISTRY, config)
    incident = model.incident_goal
    profile = next(p for p in model.profiles if p.slug == incident)
    assert profile.survey == "ces" and not profile.nps_moment and model.incident_active(incident, 61)
    moments = {p.slug for p in model.profiles if p.nps_moment}
    starts: dict[str, list[tuple[float, str]]] = {}
    records = []
    while len(records) < 60_000:
        record = model.next_record()
        records.append(record)
        if record.kind == "started":
            event = json.loads(record.value)
            starts.setdefault(event["user_id"], []).append((record.at_s, event["goal"]))
    went = [
        (user, at_s)
        for user, attempts in starts.items()
        for at_s, goal in attempts
        if goal == incident and 60 <= at_s < records[-1].at_s - 1_000
    ]
    followed = sum(any(g in moments and s > at_s for s, g in starts[user]) for user, at_s in went)
    assert len(went) > 1_000 and abs(followed / len(went) - JOURNEY_SHARE) < 0.05
    # At the moment, the users who went through it (no CES answer since) score lower than the rest.
    users = {user for user, _ in went}
    index = {u.user_id: i for i, u in enumerate(model.users)}
    moment = sorted(moments)[0]
    through = answered(model, prompts(model, moment, "nps", records[-1].at_s, [index[u] for u in sorted(users)]))
    others = [i for i, u in enumerate(model.users[:20_000]) if u.user_id not in starts]
    rest = answered(model, prompts(model, moment, "nps", records[-1].at_s, others[:5_000]))

    def nps(plans) -> float:
        return bands(plans)["positive"] - bands(plans)["negative"]

    assert nps(rest) - nps(through) > 0.2
    # The plain incident has no journeys: the same attempts, without the ones on the way to a moment.
    plain = TrafficModel(
        REGISTRY,
        SimulationConfig(seed=5, scenario=Scenario.incident, incident_minute=1, users=200_000, incident_goal=incident),
    )
    plain_starts = [r.value for r in (plain.next_record() for _ in range(20_000)) if r.kind == "started"]
    journey_starts = [r.value for r in records[:30_000] if r.kind == "started"]
    assert set(plain_starts[:2_000]) <= set(journey_starts)


def test_nps_answers_are_deterministic_per_seed():
    def plan_all(seed: int) -> list[Any]:
        model = TrafficModel(REGISTRY, SimulationConfig(seed=seed, answer_share=1.0))
        answered(model, prompts(model, "file-claim", "ces", 10.0, range(300), outcome="abandoned"))
        return [plan for _, plan in answered(model, prompts(model, "complete-purchase", "nps", 200.0, range(300)))]

    assert plan_all(2) == plan_all(2)
    assert [plan.score for plan in plan_all(2)] != [plan.score for plan in plan_all(3)]
