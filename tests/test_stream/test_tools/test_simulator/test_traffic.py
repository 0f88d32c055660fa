"""The simulator's pure model: what it draws matches what it says, and the same seed draws the same.

100 000 goal events over the real registry (deploy/goals.yaml); the worker's part (one
prompt per ended attempt, as with sampling 1.0) is played here with real SurveyPrompt
messages, so the answer model sees exactly what it sees on Kafka.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pytest

from schemas import DeadLetterReason, GoalEvent, SurveyAnswer, SurveyPrompt
from stream.ces.intake.validation import Limits, Rejection, validate_answer, validate_goal_event
from stream.ces.registry.loader import load_registry
from stream.tools.simulator.comments import COMMENT_SHARE, COMMENTS, STEPS, follow_up_band, language_of
from stream.tools.simulator.scores import response_share
from stream.tools.simulator.traffic import (
    CHANNEL_MIX,
    INCIDENT_SLOWDOWN,
    LOCALE_MIX,
    RETRY_SHARE,
    Scenario,
    SimulationConfig,
    TrafficModel,
    timestamp,
)
from tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # statistical checks over large generated samples

REGISTRY = load_registry(PROJECT_ROOT / "deploy" / "goals.yaml")
EVENTS = 110_000  # about 5 % of the goal events are retries (a second start)
TOLERANCE = 0.02  # 2 percentage points
LIMITS = Limits(max_event_bytes=65_536, future_skew_s=300, late_grace_s=3600)
PROMPT_DELAY_S = 0.5
MIN_ANSWERS = (
    3_000  # groups of answers whose score shares are held to 2 points  # the worker's decision latency, as played here
)


def draw(model: TrafficModel, goal_events: int) -> list[Any]:
    """Records up to the given number of goal events (bad records ride along)."""
    records, seen = [], 0
    while seen < goal_events:
        record = model.next_record()
        records.append(record)
        seen += record.topic == "goal_events" and record.kind in ("started", "completed", "abandoned")
    return records


def prompt(event: dict[str, Any], outcome: str, created_s: float, nps: bool = False) -> dict[str, Any]:
    """The prompt the worker would send for an attempt, as JSON read from the prompts topic: the goal's own
    question (CES or CSAT, with its follow-ups by band), or with ``nps`` the NPS question at the goal's moment."""
    goal = REGISTRY.get(event["goal"])
    texts = REGISTRY.nps if nps else goal
    locale = event["locale"]
    message = SurveyPrompt(
        prompt_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{event['event_id']}:{outcome}"),
        user_id=event["user_id"],
        goal=event["goal"],
        outcome=outcome,
        locale=locale,
        question=texts.question_for(locale),
        follow_up_question=texts.follow_up_for(locale),
        scale=texts.scale_spec_for(locale),
        created_at=timestamp(created_s),
        expires_at=timestamp(created_s + goal.prompt_expiry_seconds),
        event_id=event["event_id"],
        survey="nps" if nps else goal.survey,
        follow_ups=texts.follow_ups_for(locale),
    )
    return json.loads(message.model_dump_json())


def scale_of(p: dict[str, Any]) -> Any:
    """The registry's scale a prompt was asked on (the NPS scale for an NPS prompt)."""
    return REGISTRY.nps.scale_obj() if p["survey"] == "nps" else REGISTRY.get(p["goal"]).scale_obj()


def attempts_of(model: TrafficModel, records: list[Any]) -> list[tuple[dict[str, Any], str, float]]:
    """(started event, outcome, end time) of every attempt that has surely ended within the draw."""
    events = [(record.at_s, json.loads(record.value)) for record in records]
    last_s = events[-1][0]
    ends = {event["session_id"]: (at_s, event["type"]) for at_s, event in events if event["type"] != "started"}
    out = []
    started_sessions: set[str] = set()  # a retry starts the same session again: one attempt
    for at_s, event in events:
        if event["type"] != "started" or event["session_id"] in started_sessions:
            continue
        started_sessions.add(event["session_id"])
        if at_s <= last_s - model.max_attempt_s:
            end_s, outcome = ends.get(event["session_id"], (None, "silent"))
            out.append((event, outcome, end_s))
    return out


def prompts_of(model: TrafficModel, attempts: list[tuple[dict[str, Any], str, float]]) -> list[dict[str, Any]]:
    """One prompt per attempt with a trigger: ends always, silent ones after the inferred-abandonment timeout.
    A fifth of the completions of an NPS moment's goal asks NPS instead (as ``nps.sampling`` would)."""
    out = []
    for started, outcome, end_s in attempts:
        epoch = model.config.start_epoch_s
        if outcome != "silent":
            nps = outcome == "completed" and REGISTRY.get(started["goal"]).nps_moment and started["event_id"] < "3"
            out.append(prompt(started, outcome, epoch + end_s + PROMPT_DELAY_S, nps=nps))
            continue
        inferred = REGISTRY.get(started["goal"]).triggers.inferred_abandonment
        if inferred.enabled:
            started_s = datetime.fromisoformat(started["occurred_at"]).timestamp()
            out.append(prompt(started, "abandoned_inferred", started_s + inferred.timeout_seconds + PROMPT_DELAY_S))
    return out


@pytest.fixture(scope="module")
def steady() -> dict[str, Any]:
    # Half the prompts answered (a parameter like any other), so that enough groups of answers hold
    # MIN_ANSWERS, at which one standard error of a share is at most 0.9 points.
    model = TrafficModel(REGISTRY, SimulationConfig(seed=7, answer_share=0.5))
    records = draw(model, EVENTS)
    attempts = attempts_of(model, records)
    prompts = prompts_of(model, attempts)
    answers = [(p, model.plan_answer(p)) for p in prompts]
    return {
        "model": model,
        "records": records,
        "attempts": attempts,
        "prompts": prompts,
        "answers": [(p, plan) for p, plan in answers if plan is not None],
    }


def test_goal_mix_and_outcome_shares_match_the_profiles(steady):
    model, attempts = steady["model"], steady["attempts"]
    assert len(steady["records"]) == EVENTS and len(attempts) > 45_000
    per_goal: dict[str, Counter[str]] = defaultdict(Counter)
    for started, outcome, _ in attempts:
        per_goal[started["goal"]][outcome] += 1
    overall_realised, overall_expected = Counter(), Counter()
    for profile in model.profiles:
        counts = per_goal[profile.slug]
        total = sum(counts.values())
        assert abs(total / len(attempts) - profile.weight) < TOLERANCE, profile.slug
        for outcome, share in profile.outcome_shares.items():
            overall_realised[outcome] += counts[outcome] / len(attempts)
            overall_expected[outcome] += share * total / len(attempts)
            if total >= 5_000:  # a quiet goal's share is too noisy for 2 points
                assert abs(counts[outcome] / total - share) < TOLERANCE, (profile.slug, outcome)
    for outcome in overall_expected:
        assert abs(overall_realised[outcome] - overall_expected[outcome]) < TOLERANCE, outcome
    weights = sorted(p.weight for p in model.profiles)
    assert weights[-1] > 5 * weights[0]  # busy and quiet goals


def test_rate_channel_and_locale_mix(steady):
    model, records = steady["model"], steady["records"]
    assert abs(len(records) / records[-1].at_s / model.config.rate - 1) < 0.02
    events = [json.loads(record.value) for record in records]
    for field, mix in (("channel", CHANNEL_MIX), ("locale", LOCALE_MIX)):
        realised = Counter(event[field] for event in events)
        for value, share in mix.items():
            assert abs(realised[value] / len(events) - share) < TOLERANCE, (field, value)


def test_response_rate_matches_the_answer_share(steady):
    """answer_share of the prompts shown at completion; users who left answer a third as often (EXIT_RESPONSE);
    only shown prompts are answered, so over the prompts sent it is shown_share times that."""
    assert len(steady["prompts"]) > 40_000
    model = steady["model"]
    shown = Counter(p["outcome"] for p in steady["prompts"] if model.plan_prompt(p).shown is not None)
    sent = Counter(p["outcome"] for p in steady["prompts"])
    answered = Counter(p["outcome"] for p, _ in steady["answers"])
    share = model.config.answer_share
    for outcome in ("completed", "abandoned"):
        assert abs(answered[outcome] / shown[outcome] - response_share(share, outcome)) < TOLERANCE, outcome
        over_sent = model.config.shown_share * response_share(share, outcome)
        assert abs(answered[outcome] / sent[outcome] - over_sent) < TOLERANCE, outcome


def test_score_distributions_match_the_model(steady):
    model = steady["model"]
    cells: dict[tuple[str, str], list[tuple[int, dict[int, float]]]] = defaultdict(list)
    sentiments: dict[str, list[tuple[str, dict[str, float]]]] = defaultdict(list)
    for p, plan in steady["answers"]:
        if p["survey"] == "nps":  # by the user's recent effort: test_surveys.py
            continue
        created_s = datetime.fromisoformat(p["created_at"]).timestamp() - model.config.start_epoch_s
        expected = model.score_probabilities(p["goal"], p["outcome"], created_s, p["scale"], p["survey"])
        cells[(p["goal"], p["outcome"])].append((plan.score, expected))
        scale = REGISTRY.get(p["goal"]).scale_obj()
        by_sentiment: dict[str, float] = Counter()
        for point, probability in expected.items():
            by_sentiment[scale.classify(point).value] += probability
        sentiments[p["outcome"]].append((scale.classify(plan.score).value, by_sentiment))
    checked = 0
    for cell, answers in cells.items():
        if len(answers) < MIN_ANSWERS:
            continue
        checked += 1
        realised = Counter(score for score, _ in answers)
        for point in answers[0][1]:
            expected = sum(probabilities[point] for _, probabilities in answers) / len(answers)
            assert abs(realised[point] / len(answers) - expected) < TOLERANCE, (cell, point)
    for outcome, answers in sentiments.items():  # every goal, each on its own scale: the CES split
        if len(answers) < MIN_ANSWERS:
            continue
        checked += 1
        realised = Counter(sentiment for sentiment, _ in answers)
        for sentiment in ("positive", "neutral", "negative"):
            expected = sum(shares[sentiment] for _, shares in answers) / len(answers)
            assert abs(realised[sentiment] / len(answers) - expected) < TOLERANCE, (outcome, sentiment)
    assert checked >= 3


def test_exits_are_markedly_harder_than_completions(steady):
    positive: dict[str, Counter[str]] = defaultdict(Counter)
    for p, plan in steady["answers"]:
        if p["survey"] != "ces":
            continue
        scale = REGISTRY.get(p["goal"]).scale_obj()
        positive[p["outcome"]]["all"] += 1
        positive[p["outcome"]]["positive"] += scale.classify(plan.score).value == "positive"
    ces = {outcome: counts["positive"] / counts["all"] for outcome, counts in positive.items()}
    assert ces["completed"] > 0.6
    assert ces["completed"] - ces["abandoned"] > 0.4
    assert ces["completed"] - ces["abandoned_inferred"] > 0.4


def test_scores_are_on_the_goals_scale_and_answers_are_valid(steady):
    kinds, surveys = set(), Counter()
    for p, plan in steady["answers"]:
        scale = scale_of(p)
        surveys[p["survey"]] += 1
        assert scale.contains(plan.score), (p["goal"], plan.score)
        kinds.add(scale.kind)
        created = datetime.fromisoformat(p["created_at"]).timestamp()
        assert (
            created
            < plan.due_s + steady["model"].config.start_epoch_s
            < datetime.fromisoformat(p["expires_at"]).timestamp()
        )
    assert len(kinds) == 6 and set(surveys) == {"ces", "csat", "nps"} and min(surveys.values()) > 150
    for p, plan in steady["answers"][:2_000]:
        answer = validate_answer(
            plan.record.value, plan.due_s + steady["model"].config.start_epoch_s, frozenset(REGISTRY.slugs), LIMITS
        )
        assert isinstance(answer, SurveyAnswer) and str(answer.prompt_id) == p["prompt_id"]
        assert answer.survey == p["survey"] and answer.score == plan.score


def test_goal_events_are_valid(steady):
    for record in steady["records"][:5_000]:
        event = validate_goal_event(
            record.value, steady["model"].config.start_epoch_s + record.at_s, frozenset(REGISTRY.slugs), LIMITS
        )
        assert isinstance(event, GoalEvent), event
        assert record.key == event.user_id.encode() and record.goal == event.goal


def test_comments_fit_the_band_the_survey_and_the_users_language(steady):
    """A comment only after a score whose band has a follow-up question, at that band's share, in the user's
    language, with a text of the prompt's survey kind; CES complaints name the step that was hard."""
    by_band: dict[str, Counter[str]] = defaultdict(Counter)
    for p, plan in steady["answers"]:
        band = follow_up_band(plan.score, p)
        asked = {follow_up["band"] for follow_up in p["follow_ups"] if plan.score in follow_up["scores"]}
        assert p["follow_ups"] and asked == ({band} if band else set()), (p["goal"], plan.score)
        if band is None:
            assert plan.comment is None, (p["goal"], plan.score)
            continue
        assert band == scale_of(p).classify(plan.score).value
        by_band[band]["all"] += 1
        if plan.comment is None:
            continue
        by_band[band]["comments"] += 1
        language = language_of(p["locale"])
        assert plan.comment in _rendered(p["survey"], language, band), (p["locale"], plan.score, plan.comment)
        if band == "negative" and p["survey"] == "ces":
            assert any(step in plan.comment.lower() for step in STEPS[language])
        carrier = plan.comment_record if plan.comment_record is not None else plan.record
        assert json.loads(carrier.value)["comment"] == plan.comment
    assert by_band["positive"]["all"] > 50  # NPS promoters only: CES and CSAT ask nothing after a good score
    for band, counts in by_band.items():
        if counts["all"] < 2_000:  # too few for 3 points (the shares hold in test_surveys.py)
            continue
        assert abs(counts["comments"] / counts["all"] - COMMENT_SHARE[band]) < TOLERANCE + 0.01, band


def _rendered(survey: str, language: str, band: str) -> set[str]:
    return {
        template.format(step=step, Step=step[0].upper() + step[1:])
        for template in COMMENTS[survey][language][band]
        for step in STEPS[language]
    }


def test_the_same_seed_gives_the_same_stream_byte_for_byte():
    def stream(seed: int) -> bytes:
        model = TrafficModel(REGISTRY, SimulationConfig(seed=seed, scenario=Scenario.bad_input, incident_minute=0.5))
        return b"\n".join(b"%r %s %s" % (r.at_s, r.key, r.value) for r in draw(model, 20_000))

    assert stream(3) == stream(3)
    assert stream(3) != stream(4)
    first, second = (TrafficModel(REGISTRY, SimulationConfig(seed=3)) for _ in range(2))
    event = json.loads(first.next_record().value)
    p = prompt(event, "completed", first.config.start_epoch_s + 30)
    for _ in range(50):  # the answer depends on the seed and the prompt, not on the order prompts come in
        second.plan_answer(prompt(event | {"event_id": str(uuid.uuid4())}, "completed", 0))
    assert first.plan_answer(p) == second.plan_answer(p)


def _synthetic_prompts(model: TrafficModel, goal: str, at_s: float, count: int) -> list[dict[str, Any]]:
    user = model.users[0]
    event = {"goal": goal, "user_id": user.user_id, "locale": user.locale}
    return [
        prompt(
            event | {"event_id": str(uuid.UUID(int=i + int(at_s) * count))},
            "completed",
            model.config.start_epoch_s + at_s,
        )
        for i in range(count)
    ]


def _ces(model: TrafficModel, prompts: list[dict[str, Any]]) -> float:
    plans = [plan for plan in map(model.plan_answer, prompts) if plan is not None]
    scale = REGISTRY.get(prompts[0]["goal"]).scale_obj()
    return sum(scale.classify(plan.score).value == "positive" for plan in plans) / len(plans)


def test_incident_lowers_the_incident_goals_scores_from_minute_m():
    model = TrafficModel(
        REGISTRY, SimulationConfig(seed=5, scenario=Scenario.incident, incident_minute=2, answer_share=1.0)
    )
    goal, other = model.incident_goal, model.profiles[1].slug
    assert goal == model.profiles[0].slug  # the busiest by default
    before, after = (_ces(model, _synthetic_prompts(model, goal, s, 3_000)) for s in (60, 180))
    assert after < before - 0.3
    other_before, other_after = (_ces(model, _synthetic_prompts(model, other, s, 3_000)) for s in (60, 180))
    assert abs(other_before - other_after) < 0.05
    chosen = TrafficModel(REGISTRY, SimulationConfig(scenario=Scenario.incident, incident_goal="download-invoice"))
    assert chosen.incident_active("download-invoice", 61) and not chosen.incident_active("download-invoice", 59)
    with pytest.raises(ValueError, match="no-such-goal"):
        TrafficModel(REGISTRY, SimulationConfig(scenario=Scenario.incident, incident_goal="no-such-goal"))


def test_the_incident_comes_with_a_web_release_and_the_apps_keep_their_versions():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=5, scenario=Scenario.incident, incident_minute=2))
    versions: dict[tuple[str, bool], set[str]] = defaultdict(set)
    while (record := model.next_record()).at_s < 240:
        if record.topic == "goal_events":
            event = json.loads(record.value)
            versions[(event["channel"], record.at_s >= 120)].add(event["app_version"])
    assert versions[("web", False)] == {"web-2025.01.3"} and versions[("web", True)] == {"web-2025.02.0"}
    assert versions[("ios", False)] == versions[("ios", True)] == {"ios-5.12.0"}
    steady = TrafficModel(REGISTRY, SimulationConfig(seed=5, incident_minute=2))
    assert steady.app_version("web", 600) == "web-2025.01.3"


def test_survey_broken_stops_answers_from_minute_m():
    model = TrafficModel(
        REGISTRY, SimulationConfig(seed=5, scenario=Scenario.survey_broken, incident_minute=2, answer_share=1.0)
    )
    goal = model.profiles[0].slug
    early = [model.plan_answer(p) for p in _synthetic_prompts(model, goal, 10, 1_000)]
    late = [model.plan_answer(p) for p in _synthetic_prompts(model, goal, 125, 1_000)]
    assert all(plan is None or plan.due_s < 120 for plan in early) and sum(p is not None for p in early) > 900
    assert late == [None] * len(late)


def test_bad_input_mixes_in_records_the_worker_must_reject_from_minute_m():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=5, scenario=Scenario.bad_input, incident_minute=1))
    records = draw(model, 10_000)
    bad = [r for r in records if r.kind not in ("started", "completed", "abandoned")]
    good_after = sum(1 for r in records if r.at_s >= 60 and r.kind in ("started", "completed", "abandoned"))
    assert min(r.at_s for r in bad) >= 60
    assert abs(len(bad) / good_after - model.config.bad_share) < 0.05
    assert set(Counter(r.kind for r in bad)) == {
        "not_json",
        "schema_violation",
        "unknown_goal",
        "future_timestamp",
        "unknown_prompt",
        "oversize",
    }
    goals = frozenset(REGISTRY.slugs)
    for record in bad:
        record_time_s = model.config.start_epoch_s + record.at_s
        if record.topic == "answers":  # valid on its own: the user stage finds no such prompt
            assert isinstance(validate_answer(record.value, record_time_s, goals, LIMITS), SurveyAnswer)
            continue
        rejection = validate_goal_event(record.value, record_time_s, goals, LIMITS)
        assert isinstance(rejection, Rejection) and rejection.reason == DeadLetterReason(record.kind), record
    steady = draw(TrafficModel(REGISTRY, SimulationConfig(seed=5)), 5_000)
    assert all(r.kind in ("started", "completed", "abandoned") for r in steady)


def test_spike_multiplies_the_traffic_for_a_while():
    model = TrafficModel(
        REGISTRY, SimulationConfig(seed=5, scenario=Scenario.spike, incident_minute=1, spike_minutes=1, spike_factor=4)
    )
    starts = [r.at_s for r in draw(model, 12_000) if r.kind == "started"]
    per_minute = Counter("before" if at_s < 60 else "spike" if at_s < 120 else "after" for at_s in starts)
    assert 3.4 < per_minute["spike"] / per_minute["before"] < 4.6
    assert 0.85 < per_minute["after"] / (starts[-1] - 120) * 60 / per_minute["before"] < 1.15


def test_the_command_options_and_the_summary():
    import argparse

    from stream.tools.simulator.command import Tally, add_arguments, summary_text

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.scenario, args.rate, args.duration, args.seed, args.answer_share, args.quiet) == (
        "steady",
        20.0,
        None,
        1,
        0.3,
        False,
    )
    assert parser.parse_args(["--scenario", "survey-broken"]).scenario == "survey-broken"
    with pytest.raises(SystemExit):
        parser.parse_args(["--answer-share", "1.5"])
    model = TrafficModel(REGISTRY, SimulationConfig(scenario=Scenario.bad_input, incident_minute=0))
    tally = Tally()
    for record in draw(model, 300):
        tally.count_sent(record)
    summary = tally.summary(model.config, 12.0)
    sent = summary["sent"]
    assert (
        sent["goal_events_total"]
        == 300
        == sum(sum(by_type.values()) for by_type in sent["goal_events_by_goal"].values())
    )
    assert sent["bad_records_total"] > 0 and "bad records" in summary_text(summary)


def test_completions_are_retried_at_the_share_and_slow_down_in_an_incident():
    model = TrafficModel(REGISTRY, SimulationConfig(seed=5, scenario=Scenario.incident, incident_minute=20.0))
    starts: dict[str, list[float]] = defaultdict(list)
    completions: dict[str, tuple[str, float]] = {}
    for record in draw(model, 60_000):
        event = json.loads(record.value)
        if event["type"] == "started":
            starts[event["session_id"]].append(record.at_s)
        elif event["type"] == "completed":
            completions[event["session_id"]] = (event["goal"], record.at_s)
    timed = {session: done for session, done in completions.items() if starts.get(session)}
    retried = sum(1 for session in timed if len(starts[session]) == 2)
    assert abs(retried / len(timed) - RETRY_SHARE) < TOLERANCE
    before, during = [], []
    incident_s = 60.0 * model.config.incident_minute
    for session, (goal, done_s) in timed.items():
        first_s = min(starts[session])
        if goal == model.incident_goal:
            (during if first_s >= incident_s else before).append(done_s - first_s)
    assert len(before) > 1_000 and len(during) > 1_000
    # The median attempt takes INCIDENT_SLOWDOWN times longer (a few of the longest are capped).
    assert statistics.median(during) / statistics.median(before) == pytest.approx(INCIDENT_SLOWDOWN, rel=0.15)
