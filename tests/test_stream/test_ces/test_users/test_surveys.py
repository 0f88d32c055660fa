"""The user stage's survey rules: CSAT prompts, follow-ups by band, the survey budget, a comment
sent after its score, the survey kind checked on an answer, and the latest high-effort answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent
from schemas.survey_answer import SurveyAnswer
from schemas.survey_prompt import AnswerBand, SurveyKind
from stream.ces.goals import PromptFact
from stream.ces.goals.buckets import AnswerFact
from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.users.answer_joiner import decide_answer
from stream.ces.users.prompt_decision import SuppressionReason
from stream.ces.users.prompt_engine import decide_goal_event, longest_budget_s
from stream.ces.users.state import UserState

USER_ID = "user-4242"
USER_REF = pseudonymise(USER_ID, b"survey-test-key")
T0 = 1_750_000_000.0
HOUR = 3600.0


def _goal(slug: str, **fields: Any) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How was {slug}?", "nl": f"Hoe was {slug}?"},
        "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 1.0},
        "cooldowns": {"user_goal_seconds": 0},
    }
    goal.update(fields)
    return goal


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 0, "budget": {"max_prompts": 3, "period_seconds": 24 * HOUR}},
        "goals": [
            _goal("ces-goal", follow_up_by_band={"negative": {"en": "What made it hard?", "nl": "Wat was lastig?"}}),
            _goal("csat-goal", survey="csat", scale={"kind": "yes_no"}),
            _goal("generous", budget={"max_prompts": 5, "period_seconds": 24 * HOUR}),
            _goal("unlimited", budget=None),
        ],
    }
)


def _event(goal: str, n: int, at_s: float, event_type: str = "completed") -> GoalEvent:
    return GoalEvent.model_validate(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"survey-event-{n}")),
            "type": event_type,
            "goal": goal,
            "user_id": USER_ID,
            "occurred_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": "web",
            "locale": "en",
        }
    )


def _ask(state: UserState, goal: str, n: int, at_s: float):
    """Decide a completion of ``goal`` at ``at_s`` and answer any prompt right away (no prompt stays open)."""
    decision = decide_goal_event(
        state, _event(goal, n, at_s), user_ref=USER_REF, offset=n, now_s=at_s + 1, registry=REGISTRY
    )
    if decision.prompt_id is not None:
        state.pending.pop(decision.prompt_id)
    return decision


def _answer(prompt_id: str, n: int, *, score: int | None, comment: str | None = None, **extra: Any) -> SurveyAnswer:
    return SurveyAnswer.model_validate(
        {
            "schema_version": 2,
            "answer_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"survey-answer-{n}")),
            "prompt_id": prompt_id,
            "user_id": USER_ID,
            "goal": extra.pop("goal", "ces-goal"),
            "score": score,
            "comment": comment,
            "answered_at": datetime.fromtimestamp(T0 + 60, tz=UTC),
            "channel": "web",
            **extra,
        }
    )


def _prompted(goal: str = "ces-goal") -> tuple[UserState, str]:
    state = UserState()
    decision = decide_goal_event(
        state, _event(goal, 1, T0), user_ref=USER_REF, offset=1, now_s=T0 + 1, registry=REGISTRY
    )
    assert decision.prompt_id is not None
    return state, decision.prompt_id


# --- prompts ------------------------------------------------------------------------------------------


def test_a_csat_goal_sends_a_csat_prompt_and_counts_it_as_csat() -> None:
    state, prompt_id = _prompted("csat-goal")
    prompt = decide_goal_event(
        UserState(), _event("csat-goal", 1, T0), user_ref=USER_REF, offset=1, now_s=T0 + 1, registry=REGISTRY
    ).prompt
    assert prompt is not None and prompt.survey is SurveyKind.csat and prompt.scale.max_score == 1
    assert state.pending[prompt_id].survey == "csat"
    decision = decide_answer(
        state, _answer(prompt_id, 1, score=1, goal="csat-goal"), user_ref=USER_REF, offset=5, now_s=T0 + 61
    )
    (fact,) = [f for _, f in decision.facts]
    assert isinstance(fact, AnswerFact) and fact.survey == "csat"
    assert decision.feedback is None


def test_the_prompt_carries_the_follow_up_questions_by_band() -> None:
    decision = decide_goal_event(
        UserState(), _event("ces-goal", 1, T0), user_ref=USER_REF, offset=1, now_s=T0 + 1, registry=REGISTRY
    )
    assert decision.prompt is not None and decision.prompt.survey is SurveyKind.ces
    assert [(f.band, f.scores, f.question) for f in decision.prompt.follow_ups] == [
        (AnswerBand.negative, [1, 2], "What made it hard?"),
        (AnswerBand.neutral, [3], "Why?"),
        (AnswerBand.positive, [4, 5], "Why?"),
    ]
    assert next(f for _, f in decision.facts if isinstance(f, PromptFact)).survey == "ces"


# --- the survey budget ----------------------------------------------------------------------------------


def test_the_budget_holds_across_goals_and_frees_up_as_its_period_passes() -> None:
    state = UserState()
    goals = ["ces-goal", "csat-goal", "ces-goal", "csat-goal"]
    decisions = [_ask(state, goal, n, T0 + n * HOUR) for n, goal in enumerate(goals, start=1)]
    assert [d.suppressed for d in decisions] == [None, None, None, SuppressionReason.survey_budget]
    # A goal with a larger budget of its own may still ask; one without a budget too.
    assert _ask(state, "generous", 10, T0 + 5 * HOUR).prompt is not None
    assert _ask(state, "unlimited", 11, T0 + 6 * HOUR).prompt is not None
    assert _ask(state, "generous", 12, T0 + 7 * HOUR).suppressed is SuppressionReason.survey_budget
    # Every prompt counts, whichever goal's budget let it through: the budget of 3 is still spent a day
    # after the first prompt (4 more followed it), and free again a day after the last.
    assert _ask(state, "ces-goal", 13, T0 + HOUR + 24 * HOUR).suppressed is SuppressionReason.survey_budget
    later = [_ask(state, "ces-goal", 20 + n, T0 + 30 * HOUR + n * 60) for n in range(4)]
    assert [d.suppressed for d in later] == [None, None, None, SuppressionReason.survey_budget]


def test_many_events_of_one_user_never_exceed_the_budget() -> None:
    state = UserState()
    asked = []
    for n in range(1, 400):
        at_s = T0 + n * 600  # every 10 minutes for almost three days, over every goal with a budget of 3
        decision = _ask(state, ["ces-goal", "csat-goal"][n % 2], n, at_s)
        if decision.prompt is not None:
            asked.append(at_s)
        state.prune(at_s, cooldown_keep_s=0, budget_keep_s=longest_budget_s(REGISTRY))
    assert asked
    for at_s in asked:
        assert sum(1 for other in asked if at_s - 24 * HOUR < other <= at_s) <= 3


def test_the_budget_stamps_survive_the_stored_form() -> None:
    state = UserState()
    for n in range(1, 4):
        _ask(state, "ces-goal", n, T0 + n * HOUR)
    stored = UserState.from_bytes(state.to_bytes())
    assert stored.prompt_stamps == state.prompt_stamps and len(stored.prompt_stamps) == 3
    assert _ask(stored, "ces-goal", 9, T0 + 4 * HOUR).suppressed is SuppressionReason.survey_budget


# --- answers: the survey kind, the comment after the score, the latest high effort -------------------------


def test_an_answer_naming_another_survey_is_a_schema_violation() -> None:
    state, prompt_id = _prompted()
    decision = decide_answer(
        state, _answer(prompt_id, 1, score=4, survey="nps"), user_ref=USER_REF, offset=5, now_s=T0 + 61
    )
    assert decision.dead_letter_reason is DeadLetterReason.schema_violation and "survey" in decision.detail
    assert prompt_id in state.pending


def test_a_comment_after_its_score_joins_it_once() -> None:
    state, prompt_id = _prompted()
    scored = decide_answer(state, _answer(prompt_id, 1, score=2), user_ref=USER_REF, offset=5, now_s=T0 + 61)
    assert len(scored.facts) == 1 and scored.feedback is None
    comment = _answer(prompt_id, 2, score=None, comment="The button was hidden.")
    joined = decide_answer(state, comment, user_ref=USER_REF, offset=6, now_s=T0 + 90)
    assert joined.facts == [] and joined.dead_letter_reason is None and not joined.replayed
    assert (
        joined.feedback is not None
        and joined.feedback.score == 2
        and joined.feedback.comment == "The button was hidden."
    )
    # The same record again (a replay after a crash) re-sends the comment and counts nothing.
    replay = decide_answer(state, comment, user_ref=USER_REF, offset=6, now_s=T0 + 95)
    assert replay.replayed and replay.feedback == joined.feedback and replay.facts == []
    # The same record at another offset, or another comment, is a duplicate.
    for again, offset in ((comment, 7), (_answer(prompt_id, 3, score=None, comment="More."), 8)):
        duplicate = decide_answer(state, again, user_ref=USER_REF, offset=offset, now_s=T0 + 99)
        assert duplicate.dead_letter_reason is DeadLetterReason.duplicate and duplicate.feedback is None
    # The join survives the stored form.
    stored = UserState.from_bytes(state.to_bytes())
    assert decide_answer(stored, comment, user_ref=USER_REF, offset=6, now_s=T0 + 99).replayed


def test_a_comment_for_an_answer_that_brought_one_is_a_duplicate() -> None:
    state, prompt_id = _prompted()
    decide_answer(state, _answer(prompt_id, 1, score=4, comment="Fine."), user_ref=USER_REF, offset=5, now_s=T0 + 61)
    later = decide_answer(
        state, _answer(prompt_id, 2, score=None, comment="Really."), user_ref=USER_REF, offset=6, now_s=T0 + 62
    )
    assert later.dead_letter_reason is DeadLetterReason.duplicate and later.feedback is None


def test_a_comment_before_its_score_is_dead_lettered_and_the_score_still_counts() -> None:
    state, prompt_id = _prompted()
    early = decide_answer(
        state, _answer(prompt_id, 2, score=None, comment="Hmm."), user_ref=USER_REF, offset=5, now_s=T0 + 61
    )
    assert early.dead_letter_reason is DeadLetterReason.no_score and early.facts == []
    scored = decide_answer(state, _answer(prompt_id, 1, score=5), user_ref=USER_REF, offset=6, now_s=T0 + 62)
    assert len(scored.facts) == 1


@pytest.mark.parametrize(
    ("goal", "score", "remembered"), [("ces-goal", 1, True), ("ces-goal", 3, False), ("csat-goal", 0, False)]
)
def test_a_negative_ces_answer_is_remembered_as_the_latest_high_effort(goal: str, score: int, remembered: bool) -> None:
    state, prompt_id = _prompted(goal)
    decide_answer(state, _answer(prompt_id, 1, score=score, goal=goal), user_ref=USER_REF, offset=5, now_s=T0 + 61)
    assert (state.high_effort_at_s == T0 + 60) is remembered
    stored = UserState.from_bytes(state.to_bytes())
    assert stored.high_effort_at_s == state.high_effort_at_s
    stored.prune(T0 + 10 * 86400, cooldown_keep_s=0, high_effort_keep_s=86400)
    assert stored.high_effort_at_s is None


# --- NPS at a goal's moments -------------------------------------------------------------------------------

NPS_BLOCK: dict[str, Any] = {
    "question": {"en": "How likely are you to recommend us?", "nl": "Hoe waarschijnlijk beveelt u ons aan?"},
    "follow_up_question": {"en": "Why that score?", "nl": "Waarom dat cijfer?"},
    "follow_up_by_band": {"negative": {"en": "What should we improve?", "nl": "Wat moet beter?"}, "positive": None},
    "period_seconds": 90 * 86400,
    "high_effort": {"window_seconds": 7 * 86400, "min_answers": 5},
}


def _nps_registry(priority: str = "nps", **moment: Any) -> GoalRegistry:
    return GoalRegistry.model_validate(
        {
            "version": 1,
            "defaults": {"user_cooldown_seconds": 0},
            "nps": {**NPS_BLOCK, "priority": priority},
            "goals": [
                _goal("moment", nps_moment=True, **moment),
                _goal("plain"),
            ],
        }
    )


def _decide(state: UserState, registry: GoalRegistry, goal: str, n: int, at_s: float, event_type: str = "completed"):
    event = _event(goal, n, at_s, event_type)
    return decide_goal_event(state, event, user_ref=USER_REF, offset=n, now_s=at_s + 1, registry=registry)


def test_nps_is_asked_at_a_completion_of_a_moment_goal_once_per_period() -> None:
    registry = _nps_registry()
    state = UserState()
    first = _decide(state, registry, "moment", 1, T0)
    assert first.prompt is not None and first.prompt.survey is SurveyKind.nps
    assert (first.prompt.scale.min_score, first.prompt.scale.max_score) == (0, 10)
    assert first.prompt.question == "How likely are you to recommend us?"
    assert [(f.band, f.scores) for f in first.prompt.follow_ups] == [
        (AnswerBand.negative, [0, 1, 2, 3, 4, 5, 6]),
        (AnswerBand.neutral, [7, 8]),
    ]
    # The goal's own question gave way, and is counted so.
    assert first.suppressed is SuppressionReason.nps_asked
    assert [f.survey for _, f in first.facts if isinstance(f, PromptFact)] == ["nps"]
    state.pending.clear()
    # Within the period the goal's own question is asked again at its moments, NPS is not.
    second = _decide(state, registry, "moment", 2, T0 + 30 * 86400)
    assert second.prompt is not None and second.prompt.survey is SurveyKind.ces and second.suppressed is None
    state.pending.clear()
    # The period holds across the stored form (a restart reads the changelog).
    stored = UserState.from_bytes(state.to_bytes())
    assert stored.last_nps_at_s == T0
    third = _decide(stored, registry, "moment", 3, T0 + 91 * 86400)
    assert third.prompt is not None and third.prompt.survey is SurveyKind.nps


def test_nps_is_never_asked_after_an_exit_nor_at_another_goal() -> None:
    registry = _nps_registry()
    for n, (goal, event_type) in enumerate((("moment", "abandoned"), ("plain", "completed")), start=1):
        decision = _decide(UserState(), registry, goal, n, T0, event_type)
        assert decision.prompt is not None and decision.prompt.survey is SurveyKind.ces


def test_with_the_goal_first_nps_waits_for_a_moment_the_goal_does_not_ask() -> None:
    registry = _nps_registry(priority="goal", sampling={"rate": 0.0})
    decision = _decide(UserState(), registry, "moment", 1, T0)
    # The user is not in the goal's sample: the moment is free for NPS.
    assert decision.prompt is not None and decision.prompt.survey is SurveyKind.nps
    assert decision.suppressed is SuppressionReason.not_sampled
    asked = _decide(UserState(), _nps_registry(priority="goal"), "moment", 1, T0)
    assert asked.prompt is not None and asked.prompt.survey is SurveyKind.ces


def test_nps_answers_are_grouped_by_a_recent_high_effort_ces_answer() -> None:
    registry = _nps_registry()
    state = UserState()
    # A CES prompt at the plain goal, answered 1 (high effort) ...
    ces = _decide(state, registry, "plain", 1, T0)
    assert ces.prompt_id is not None
    decide_answer(state, _answer(ces.prompt_id, 1, score=1, goal="plain"), user_ref=USER_REF, offset=2, now_s=T0 + 61)
    assert state.high_effort_at_s == T0 + 60
    # ... then NPS at the moment goal, answered 9 a few minutes later: in the high-effort group.
    nps = _decide(state, registry, "moment", 3, T0 + 300)
    assert nps.prompt is not None and nps.prompt.survey is SurveyKind.nps and nps.prompt_id is not None
    answer = _answer(nps.prompt_id, 4, score=9, goal="moment").model_copy(
        update={"answered_at": datetime.fromtimestamp(T0 + 400, tz=UTC)}
    )
    decision = decide_answer(state, answer, user_ref=USER_REF, offset=4, now_s=T0 + 401, high_effort_window_s=7 * 86400)
    (fact,) = [f for _, f in decision.facts]
    assert (fact.survey, fact.effort_group, fact.sentiment.value) == ("nps", "high_effort", "positive")
    # The same with the high-effort answer outside the window: the rest.
    state.high_effort_at_s = T0 + 400 - 8 * 86400
    other = decide_answer(state, answer, user_ref=USER_REF, offset=4, now_s=T0 + 402, high_effort_window_s=7 * 86400)
    assert [f.effort_group for _, f in other.facts] == ["high_effort"]  # a replay re-emits the recorded group


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "negative"), (6, "negative"), (7, "neutral"), (8, "neutral"), (9, "positive"), (10, "positive")],
)
def test_an_nps_answer_is_banded_promoter_passive_or_detractor(score: int, band: str) -> None:
    registry = _nps_registry()
    state = UserState()
    decision = _decide(state, registry, "moment", 1, T0)
    assert decision.prompt_id is not None
    answered = decide_answer(
        state, _answer(decision.prompt_id, 1, score=score, goal="moment"), user_ref=USER_REF, offset=2, now_s=T0 + 61
    )
    (fact,) = [f for _, f in answered.facts]
    assert fact.sentiment.value == band and fact.effort_group == "rest"
    assert state.high_effort_at_s is None  # a detractor is not a high-effort CES answer
