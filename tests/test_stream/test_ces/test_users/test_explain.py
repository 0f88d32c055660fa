"""Tests for stream.ces.users.explain: on constructed states, the explanation agrees with what the engine
then actually decides for the same goal event, names every rule, and changes nothing."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.goal_event import GoalEvent
from schemas.survey_prompt import PromptOutcome
from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.users import UserState, decide_goal_event, explain
from stream.ces.users.explain import iso
from stream.ces.users.sampling import sample_point
from tests.test_stream.test_ces.test_users.test_surveys import _nps_registry

NOW_S = 1_750_000_000.0
DAY_S = 86_400.0
USER_COOLDOWN_S = 600.0
RULES = [
    "duplicate_event",
    "goal_disabled",
    "trigger_disabled",
    "too_old",
    "open_prompt",
    "user_cooldown",
    "survey_budget",
    "dismissal_cooldown",
    "user_goal_cooldown",
    "not_sampled",
]


def _goal(slug: str, **overrides: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How easy was {slug}?", "nl": f"Hoe makkelijk was {slug}?"},
        "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 1.0},
        **overrides,
    }


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {"user_cooldown_seconds": USER_COOLDOWN_S, "cooldowns": {"user_goal_seconds": 7 * DAY_S}},
        "goals": [
            _goal("claim"),
            _goal("half", sampling={"rate": 0.5}),
            _goal("budgeted", cooldowns={"user_goal_seconds": 0}, budget={"max_prompts": 2, "period_seconds": DAY_S}),
            _goal("dismissable", cooldowns={"user_goal_seconds": 7 * DAY_S, "after_dismissal_seconds": 2 * DAY_S}),
            _goal("off", enabled=False),
            _goal("exits-only", triggers={"completed": False, "abandoned": True}),
        ],
    }
)


def _user(n: int) -> str:
    return f"user-{n}"


def _ref(user: str) -> str:
    return pseudonymise(user, b"explain-test-key")


def _sampled_out_user() -> str:
    return next(_user(n) for n in range(1000) if sample_point(_ref(_user(n)), "half") >= 0.5)


def _sampled_in_user() -> str:
    return next(_user(n) for n in range(1000) if sample_point(_ref(_user(n)), "half") < 0.5)


def _event(user: str, goal: str, at_s: float, kind: str = "completed", channel: str = "web") -> GoalEvent:
    return GoalEvent.model_validate(
        {
            "event_id": uuid.uuid4(),
            "type": kind,
            "goal": goal,
            "user_id": user,
            "occurred_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": channel,
            "locale": "en",
        }
    )


def _prompted(state: UserState, user: str, goal: str, at_s: float) -> None:
    """Drive the engine: ``user`` completes ``goal`` at ``at_s`` and is asked."""
    decision = decide_goal_event(
        state,
        _event(user, goal, at_s),
        user_ref=_ref(user),
        offset=state.last_offset + 1,
        now_s=at_s,
        registry=REGISTRY,
    )
    assert decision.prompt is not None, decision.suppressed


def _snapshot(state: UserState) -> str:
    return json.dumps(state.to_json_obj(), sort_keys=True)


def _explain_then_decide(state: UserState, user: str, goal: str, kind: str = "completed") -> tuple[Any, Any]:
    """The explanation now, then the engine's actual decision of the same event now (on the same state)."""
    before = _snapshot(state)
    explanation = explain(REGISTRY, state, goal, user_ref=_ref(user), now_s=NOW_S, outcome=PromptOutcome(kind))
    assert _snapshot(state) == before, "explain changed the state"
    actual = decide_goal_event(
        state,
        _event(user, goal, NOW_S, kind, explanation.channel),
        user_ref=_ref(user),
        offset=state.last_offset + 1,
        now_s=NOW_S,
        registry=REGISTRY,
    )
    return explanation, actual


def _open_prompt(state: UserState, user: str) -> None:
    _prompted(state, user, "claim", NOW_S - 60)


def _user_cooldown(state: UserState, user: str) -> None:
    _prompted(state, user, "claim", NOW_S - USER_COOLDOWN_S / 2)
    state.pending.clear()  # answered: no prompt open any more


def _user_goal_cooldown(state: UserState, user: str) -> None:
    _prompted(state, user, "claim", NOW_S - 3600)  # its prompt expired at NOW_S - 1800; the user cooldown is over


def _over_budget(state: UserState, user: str) -> None:
    _prompted(state, user, "budgeted", NOW_S - 7200)
    _prompted(state, user, "budgeted", NOW_S - 5400)


def _dismissed(state: UserState, user: str) -> None:
    _prompted(state, user, "dismissable", NOW_S - 3 * DAY_S)
    state.dismissed_by_goal["dismissable"] = NOW_S - DAY_S


def _nothing(state: UserState, user: str) -> None:
    pass


CASES: list[tuple[str, str, Callable[[UserState, str], None], str | None]] = [
    ("claim", "open prompt", _open_prompt, "open_prompt"),
    ("half", "user cooldown", _user_cooldown, "user_cooldown"),
    ("claim", "user+goal cooldown", _user_goal_cooldown, "user_goal_cooldown"),
    ("budgeted", "over the survey budget", _over_budget, "survey_budget"),
    ("dismissable", "dismissed", _dismissed, "dismissal_cooldown"),
    ("off", "goal disabled", _nothing, "goal_disabled"),
    ("exits-only", "no trigger at completion", _nothing, "trigger_disabled"),
    ("claim", "eligible", _nothing, None),
]


@pytest.mark.parametrize(("goal", "case", "prepare", "expected"), CASES, ids=[c[1] for c in CASES])
def test_the_explanation_agrees_with_the_engines_decision(goal, case, prepare, expected) -> None:
    user = _sampled_in_user()
    state = UserState()
    prepare(state, user)
    explanation, actual = _explain_then_decide(state, user, goal)

    assert explanation.suppressed == expected
    assert (None if actual.suppressed is None else actual.suppressed.value) == expected
    assert explanation.prompted is (actual.prompt is not None) is (expected is None)
    assert explanation.first_stopping_rule == expected
    assert [r.rule for r in explanation.rules] == RULES


def test_a_user_out_of_the_sample_is_told_their_value_against_the_rate() -> None:
    user = _sampled_out_user()
    explanation, actual = _explain_then_decide(UserState(), user, "half")

    assert explanation.suppressed == "not_sampled" == actual.suppressed
    (sampling,) = [r for r in explanation.rules if r.rule == "not_sampled"]
    assert sampling.stops and sampling.figures["rate"] == 0.5
    assert sampling.figures["sample_point"] == sample_point(_ref(user), "half") >= 0.5
    assert "not in the sample" in sampling.detail


def test_the_adaptive_rate_of_the_worker_is_the_one_judged() -> None:
    user = _sampled_in_user()
    point = sample_point(_ref(user), "half")
    explanation = explain(REGISTRY, None, "half", user_ref=_ref(user), now_s=NOW_S, rates={"half": point / 2})
    assert explanation.suppressed == "not_sampled"


def test_a_user_without_state_is_eligible_on_web() -> None:
    user = _sampled_in_user()
    explanation = explain(REGISTRY, None, "claim", user_ref=_ref(user), now_s=NOW_S)
    assert (explanation.prompted, explanation.survey, explanation.suppressed) == (True, "ces", None)
    assert explanation.channel == "web" and explanation.outcome == "completed"
    assert not any(r.stops for r in explanation.rules)


def test_every_rule_that_holds_is_shown_not_only_the_first() -> None:
    user = _sampled_out_user()
    state = UserState()
    _prompted(state, _sampled_in_user(), "half", NOW_S - 60)  # state fields only: who is asked does not matter
    state.pending.clear()  # answered
    explanation, actual = _explain_then_decide(state, user, "half")
    stopping = [r.rule for r in explanation.rules if r.stops]
    assert stopping == ["user_cooldown", "user_goal_cooldown", "not_sampled"]
    assert explanation.suppressed == "user_cooldown" == actual.suppressed


def test_the_verdicts_carry_cooldown_ends_budget_use_and_prompt_expiry() -> None:
    user = _sampled_in_user()
    state = UserState()
    _over_budget(state, user)
    _prompted(state, user, "claim", NOW_S - 60)
    rules = {r.rule: r for r in explain(REGISTRY, state, "budgeted", user_ref=_ref(user), now_s=NOW_S).rules}

    assert rules["open_prompt"].stops
    assert rules["open_prompt"].figures["unexpired_prompts"][0]["expires_at"] == iso(NOW_S - 60 + 1800)
    assert rules["user_cooldown"].figures["until"] == iso(NOW_S - 60 + USER_COOLDOWN_S)
    budget = rules["survey_budget"]
    assert budget.stops and (budget.figures["used"], budget.figures["allowed"]) == (3, 2)
    assert budget.figures["frees_at"] == iso(NOW_S - 5400 + DAY_S)  # the second oldest of three must leave
    assert not rules["user_goal_cooldown"].stops  # the budgeted goal has none


def test_the_dismissal_cooldown_replaces_the_user_goal_cooldown() -> None:
    user = _sampled_in_user()
    state = UserState()
    _dismissed(state, user)
    state.dismissed_by_goal["dismissable"] = NOW_S - 3 * DAY_S + 10  # the dismissal cooldown is over
    explanation, actual = _explain_then_decide(state, user, "dismissable")
    rules = {r.rule: r for r in explanation.rules}
    assert not rules["dismissal_cooldown"].stops and "replaced" in rules["user_goal_cooldown"].detail
    assert explanation.prompted and actual.prompt is not None


def test_an_open_attempt_is_shown_and_the_latest_channel_is_the_default() -> None:
    user = _sampled_in_user()
    state = UserState()
    decide_goal_event(
        state,
        _event(user, "claim", NOW_S - 120, "started", channel="ios"),
        user_ref=_ref(user),
        offset=0,
        now_s=NOW_S - 120,
        registry=REGISTRY,
    )
    before = copy.deepcopy(state)
    explanation = explain(REGISTRY, state, "claim", user_ref=_ref(user), now_s=NOW_S)
    assert state == before
    assert explanation.channel == "ios"
    assert explanation.open_goal is not None and explanation.open_goal["running_s"] == 120.0
    assert explain(REGISTRY, state, "claim", user_ref=_ref(user), now_s=NOW_S, channel="android").channel == "android"


def test_an_exit_can_be_explained_and_the_json_names_the_decision() -> None:
    user = _sampled_in_user()
    explanation, actual = _explain_then_decide(UserState(), user, "exits-only", kind="abandoned")
    assert explanation.prompted and actual.prompt is not None
    body = explanation.to_json_obj()
    assert body["decision"] == "prompt" and body["outcome"] == "abandoned" and len(body["rules"]) == len(RULES)
    json.dumps(body)  # JSON-safe


@pytest.mark.parametrize(
    ("goal", "outcome"), [("nope", PromptOutcome.completed), ("claim", PromptOutcome.abandoned_inferred)]
)
def test_an_unknown_goal_or_another_outcome_is_refused(goal, outcome) -> None:
    with pytest.raises(ValueError):
        explain(REGISTRY, None, goal, user_ref=_ref("u"), now_s=NOW_S, outcome=outcome)


def test_at_an_nps_moment_the_nps_question_asked_instead_is_the_decision() -> None:
    registry = _nps_registry()
    user = _sampled_in_user()
    state = UserState()
    before = _snapshot(state)
    explanation = explain(registry, state, "moment", user_ref=_ref(user), now_s=NOW_S)
    assert _snapshot(state) == before
    actual = decide_goal_event(
        state, _event(user, "moment", NOW_S), user_ref=_ref(user), offset=0, now_s=NOW_S, registry=registry
    )
    assert actual.prompt is not None and actual.suppressed is not None
    assert (
        (explanation.prompted, explanation.survey, explanation.suppressed, explanation.nps_due)
        == (
            True,
            actual.prompt.survey.value,
            actual.suppressed.value,
            True,
        )
        == (True, "nps", "nps_asked", True)
    )
    assert explanation.first_stopping_rule is None  # no rule stopped the goal's own question: NPS went first
    again = explain(registry, state, "moment", user_ref=_ref(user), now_s=NOW_S + 60)
    assert again.nps_due is False and again.suppressed == "open_prompt"
