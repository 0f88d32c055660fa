"""Tests for stream.ces.users.answer_joiner: every answer dead-letter reason, scales, replay vs duplicate, comments."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent
from schemas.survey_answer import SurveyAnswer
from schemas.survey_prompt import PromptOutcome
from stream.ces.comments import PersonalData
from stream.ces.goals.buckets import AnswerFact
from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.registry.scales import Sentiment
from stream.ces.users.answer_joiner import ANSWER_GRACE_S, AnswerDecision, decide_answer
from stream.ces.users.prompt_engine import decide_goal_event
from stream.ces.users.state import UserState

USER_ID = "user-0815"
USER_REF = pseudonymise(USER_ID, b"answering-test-key")
NOW_S = 1_750_000_000.0
EXPIRY_S = 1800.0


def _goal(slug: str, scale: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How was {slug}?", "nl": f"Hoe was {slug}?"},
        "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
        "scale": scale,
        "sampling": {"rate": 1.0},
        "prompt_expiry_seconds": EXPIRY_S,
    }


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "goals": [
            _goal("five", {"kind": "five_point"}),
            _goal("inverted", {"kind": "five_point_inverted", "positive": [1, 2]}),
            _goal("seven", {"kind": "seven_point", "positive": [5, 6, 7]}),
            _goal("other", {"kind": "five_point"}),
        ],
    }
)


def _prompted(goal: str = "five", app_version: str | None = None) -> tuple[UserState, str]:
    """A state with one pending prompt on ``goal`` (created at NOW_S), and its prompt id."""
    state = UserState()
    event = GoalEvent.model_validate(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event-{goal}")),
            "type": "completed",
            "goal": goal,
            "user_id": USER_ID,
            "occurred_at": datetime.fromtimestamp(NOW_S - 5, tz=UTC),
            "channel": "ios",
            "locale": "nl",
            "app_version": app_version,
        }
    )
    decision = decide_goal_event(state, event, user_ref=USER_REF, offset=1, now_s=NOW_S, registry=REGISTRY)
    assert decision.prompt_id is not None
    return state, decision.prompt_id


def _answer(
    prompt_id: str,
    score: int,
    *,
    goal: str = "five",
    answer_n: int = 1,
    at_s: float = NOW_S + 60,
    comment: str | None = None,
    channel: str = "web",
    may_contact: bool | None = None,
) -> SurveyAnswer:
    return SurveyAnswer.model_validate(
        {
            "may_contact": may_contact,
            "answer_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"answer-{answer_n}")),
            "prompt_id": prompt_id,
            "user_id": USER_ID,
            "goal": goal,
            "score": score,
            "comment": comment,
            "answered_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": channel,
        }
    )


def _decide(state: UserState, answer: SurveyAnswer, offset: int = 10, now_s: float = NOW_S + 61) -> AnswerDecision:
    return decide_answer(state, answer, user_ref=USER_REF, offset=offset, now_s=now_s)


def _snapshot(state: UserState) -> str:
    return json.dumps(state.to_json_obj(), sort_keys=True)


# --- the valid path on every scale ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("goal", "score", "sentiment"),
    [
        ("five", 1, Sentiment.negative),
        ("five", 2, Sentiment.negative),
        ("five", 3, Sentiment.neutral),
        ("five", 4, Sentiment.positive),
        ("five", 5, Sentiment.positive),
        ("inverted", 1, Sentiment.positive),
        ("inverted", 2, Sentiment.positive),
        ("inverted", 3, Sentiment.neutral),
        ("inverted", 4, Sentiment.negative),
        ("inverted", 5, Sentiment.negative),
        ("seven", 1, Sentiment.negative),
        ("seven", 3, Sentiment.negative),
        ("seven", 4, Sentiment.neutral),
        ("seven", 5, Sentiment.positive),
        ("seven", 6, Sentiment.positive),
        ("seven", 7, Sentiment.positive),
    ],
)
def test_valid_answer_yields_a_classified_fact(goal: str, score: int, sentiment: Sentiment) -> None:
    state, prompt_id = _prompted(goal)
    decision = _decide(state, _answer(prompt_id, score, goal=goal), offset=10)
    assert decision.dead_letter_reason is None and not decision.replayed
    assert decision.facts == [(10, AnswerFact(goal, NOW_S + 60, score, sentiment, "completed", "ios"))]
    assert decision.feedback is None
    assert prompt_id not in state.pending
    recorded = state.answered[prompt_id]
    assert (recorded.offset, recorded.score, recorded.sentiment, recorded.goal) == (10, score, sentiment.value, goal)
    assert state.last_offset == 10


def test_answer_is_judged_on_the_scale_the_prompt_was_asked_on() -> None:
    state, prompt_id = _prompted("five")
    state.pending[prompt_id].positive = (3, 4, 5)  # the goal's config at prompt time, not now
    decision = _decide(state, _answer(prompt_id, 3))
    assert decision.facts[0][1].sentiment is Sentiment.positive  # type: ignore[union-attr]


# --- every dead-letter reason -----------------------------------------------------------------------


def _unknown(state: UserState, prompt_id: str) -> SurveyAnswer:
    return _answer(str(uuid.uuid5(uuid.NAMESPACE_URL, "never-issued")), 4)


def _goal_mismatch(state: UserState, prompt_id: str) -> SurveyAnswer:
    return _answer(prompt_id, 4, goal="other")


def _second_answer(state: UserState, prompt_id: str) -> SurveyAnswer:
    assert _decide(state, _answer(prompt_id, 4, answer_n=1), offset=3).dead_letter_reason is None
    return _answer(prompt_id, 2, answer_n=2)


def _late(state: UserState, prompt_id: str) -> SurveyAnswer:
    return _answer(prompt_id, 4, at_s=NOW_S + EXPIRY_S + ANSWER_GRACE_S + 0.5)


@pytest.mark.parametrize(
    ("goal", "make_answer", "reason", "detail_part"),
    [
        ("five", _unknown, DeadLetterReason.unknown_prompt, "no prompt"),
        ("five", _goal_mismatch, DeadLetterReason.schema_violation, "'other'"),
        ("five", _second_answer, DeadLetterReason.duplicate, "already answered"),
        ("five", _late, DeadLetterReason.expired_prompt, "expired"),
        ("five", lambda s, p: _answer(p, 0), DeadLetterReason.score_out_of_range, "score 0"),
        ("five", lambda s, p: _answer(p, 6), DeadLetterReason.score_out_of_range, "score 6"),
        ("inverted", lambda s, p: _answer(p, 6, goal="inverted"), DeadLetterReason.score_out_of_range, "1..5"),
        ("seven", lambda s, p: _answer(p, 8, goal="seven"), DeadLetterReason.score_out_of_range, "1..7"),
        ("seven", lambda s, p: _answer(p, -1, goal="seven"), DeadLetterReason.score_out_of_range, "score -1"),
    ],
)
def test_dead_letter_reasons(goal: str, make_answer: Any, reason: DeadLetterReason, detail_part: str) -> None:
    state, prompt_id = _prompted(goal)
    answer = make_answer(state, prompt_id)
    before = _snapshot(state)
    decision = _decide(state, answer, offset=20)
    assert decision.dead_letter_reason is reason
    assert detail_part in decision.detail
    assert decision.facts == [] and decision.feedback is None
    assert _snapshot(state) == before  # a rejected answer changes nothing


def test_answer_within_the_grace_period_counts() -> None:
    state, prompt_id = _prompted()
    decision = _decide(state, _answer(prompt_id, 5, at_s=NOW_S + EXPIRY_S + ANSWER_GRACE_S))
    assert decision.dead_letter_reason is None and len(decision.facts) == 1


def test_prompt_of_another_user_is_unknown() -> None:
    _, prompt_id = _prompted()
    decision = _decide(UserState(), _answer(prompt_id, 4))
    assert decision.dead_letter_reason is DeadLetterReason.unknown_prompt


def test_a_rejected_score_can_be_corrected() -> None:
    state, prompt_id = _prompted()
    assert _decide(state, _answer(prompt_id, 9, answer_n=1)).dead_letter_reason is DeadLetterReason.score_out_of_range
    assert _decide(state, _answer(prompt_id, 4, answer_n=2)).dead_letter_reason is None


# --- replay vs duplicate ---------------------------------------------------------------------------


def test_replay_at_the_same_offset_re_emits_identical_facts() -> None:
    state, prompt_id = _prompted()
    answer = _answer(prompt_id, 2, comment="Too many steps")
    first = _decide(state, answer, offset=10)
    after_first = _snapshot(state)
    again = _decide(state, answer, offset=10)
    assert again.replayed and again.dead_letter_reason is None
    assert (
        again.facts == first.facts == [(10, AnswerFact("five", NOW_S + 60, 2, Sentiment.negative, "completed", "ios"))]
    )
    assert again.feedback == first.feedback
    assert _snapshot(state) == after_first


def test_duplicate_at_another_offset_re_emits_with_the_original_offset() -> None:
    state, prompt_id = _prompted()
    answer = _answer(prompt_id, 5)
    first = _decide(state, answer, offset=10)
    after_first = _snapshot(state)
    dup = _decide(state, answer, offset=14, now_s=NOW_S + 500)
    assert dup.dead_letter_reason is DeadLetterReason.duplicate and "offset 10" in dup.detail
    assert dup.facts == first.facts and dup.facts[0][0] == 10
    assert _snapshot(state) == after_first


def test_duplicate_at_another_offset_does_not_publish_the_comment_again() -> None:
    # Found by tests/integration/test_hostile_input.py: the same answer sent twice put its comment
    # twice on ces.feedback-comments (counted once). A replay at the same offset still re-sends it.
    state, prompt_id = _prompted()
    answer = _answer(prompt_id, 2, comment="Too many steps")
    first = _decide(state, answer, offset=10)
    assert first.feedback is not None
    assert _decide(state, answer, offset=14).feedback is None
    assert _decide(state, answer, offset=10).feedback == first.feedback


def test_replayed_fact_is_the_recorded_one() -> None:
    state, prompt_id = _prompted()
    _decide(state, _answer(prompt_id, 5), offset=10)
    # Same answer id, different content (a buggy producer): the recorded decision wins.
    again = _decide(state, _answer(prompt_id, 1), offset=10)
    assert again.facts == [(10, AnswerFact("five", NOW_S + 60, 5, Sentiment.positive, "completed", "ios"))]


# --- segments: outcome and channel ------------------------------------------------------------------


def test_the_answer_counts_under_the_goal_attempts_channel_not_the_answers() -> None:
    state, prompt_id = _prompted()  # the goal was attempted in the iOS app
    decision = _decide(state, _answer(prompt_id, 4, channel="web"))
    assert decision.facts[0][1].channel == "ios" and decision.facts[0][1].outcome == "completed"


def test_the_answer_counts_under_the_duration_band_of_its_timed_completion() -> None:
    state, prompt_id = _prompted()
    state.pending[prompt_id].effort_band = "2m-10m"  # as the prompt engine sets it after a timed completion
    first = _decide(state, _answer(prompt_id, 2))
    assert first.facts[0][1].band == "2m-10m"
    restored = UserState.from_bytes(state.to_bytes())
    assert _decide(restored, _answer(prompt_id, 2)).facts == first.facts  # the replay keeps the band
    untimed_state, untimed_prompt = _prompted("seven")
    assert _decide(untimed_state, _answer(untimed_prompt, 2, goal="seven")).facts[0][1].band == ""


def test_a_prompt_recorded_before_channels_were_kept_counts_under_the_answers_channel() -> None:
    state, prompt_id = _prompted()
    old = state.pending[prompt_id].to_json_obj()[:-1]  # the record as the previous version wrote it
    state.pending[prompt_id] = type(state.pending[prompt_id]).from_json_obj(old)
    decision = _decide(state, _answer(prompt_id, 4, channel="android"))
    assert decision.facts[0][1].channel == "android"
    # ... and its replay re-emits the same fact.
    assert _decide(state, _answer(prompt_id, 4, channel="android")).facts == decision.facts


def test_an_answer_recorded_before_channels_were_kept_replays_under_the_answers_channel() -> None:
    state, prompt_id = _prompted()
    first = _decide(state, _answer(prompt_id, 2, channel="web"))
    old = state.answered[prompt_id].to_json_obj()[:-1]
    state.answered[prompt_id] = type(state.answered[prompt_id]).from_json_obj(old)
    again = _decide(state, _answer(prompt_id, 2, channel="web"))
    assert again.replayed and again.facts[0][1].channel == "web"
    assert first.facts[0][1].channel == "ios"


# --- feedback comments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "expected"), [(None, None), ("", None), ("  \n\t ", None), ("  Took ages. ", "Took ages.")]
)
def test_feedback_comment_only_when_not_blank(comment: str | None, expected: str | None) -> None:
    state, prompt_id = _prompted()
    decision = _decide(state, _answer(prompt_id, 2, comment=comment))
    if expected is None:
        assert decision.feedback is None
        return
    feedback = decision.feedback
    assert feedback is not None
    assert feedback.comment == expected
    assert feedback.user_ref == USER_REF and USER_ID not in feedback.model_dump_json()
    assert (feedback.goal, feedback.score, feedback.locale) == ("five", 2, "nl")
    assert feedback.outcome is PromptOutcome.completed
    assert str(feedback.prompt_id) == prompt_id
    assert feedback.answered_at.timestamp() == NOW_S + 60


def test_a_comment_leaves_with_its_personal_data_masked_and_counted() -> None:
    state, prompt_id = _prompted()
    decision = _decide(state, _answer(prompt_id, 4, comment="Mail me: jan@example.nl of 06-12345678"))
    assert decision.comment is not None
    assert decision.comment.feedback.comment == "Mail me: [email] of [phone]"
    assert decision.comment.masked == {PersonalData.email: 1, PersonalData.phone: 1}
    assert "jan@example.nl" not in _snapshot(state)


@pytest.mark.parametrize(
    ("goal", "score", "high_effort"),
    [
        ("five", 1, True),
        ("five", 2, True),
        ("five", 3, False),
        ("five", 5, False),
        ("inverted", 5, True),
        ("inverted", 1, False),
    ],
)
def test_a_negative_band_answer_with_a_comment_is_a_high_effort_answer(
    goal: str, score: int, high_effort: bool
) -> None:
    state, prompt_id = _prompted(goal)
    decision = _decide(
        state, _answer(prompt_id, score, goal=goal, comment="Te veel stappen, bel 0612345678", may_contact=True)
    )
    assert decision.comment is not None
    found = decision.comment.high_effort
    if not high_effort:
        assert found is None
        return
    assert found is not None
    assert (found.goal, found.score, found.may_contact, found.user_ref) == (goal, score, True, USER_REF)
    assert found.comment == "Te veel stappen, bel [phone]"
    assert found.answer_id == decision.comment.feedback.answer_id and str(found.prompt_id) == prompt_id
    assert USER_ID not in found.model_dump_json()


@pytest.mark.parametrize("app_version", ["ios-4.12.0", None])
def test_a_high_effort_answer_names_the_app_version_of_its_goal_event(app_version: str | None) -> None:
    state, prompt_id = _prompted(app_version=app_version)
    assert state.pending[prompt_id].app_version == (app_version or "")
    decision = _decide(state, _answer(prompt_id, 1, comment="Kon de knop niet vinden"))
    assert decision.comment is not None and decision.comment.high_effort is not None
    assert decision.comment.high_effort.app_version == app_version
    assert state.answered[prompt_id].app_version == (app_version or "")  # kept for a comment sent later


def test_a_negative_answer_without_a_comment_is_not_in_the_feed_and_its_later_comment_is() -> None:
    state, prompt_id = _prompted()
    scored = _decide(state, _answer(prompt_id, 1))
    assert scored.comment is None
    later = SurveyAnswer.model_validate(
        {
            "schema_version": 2,
            "answer_id": str(uuid.uuid4()),
            "prompt_id": prompt_id,
            "user_id": USER_ID,
            "goal": "five",
            "comment": "Het formulier liep vast",
            "answered_at": datetime.fromtimestamp(NOW_S + 90, tz=UTC),
            "channel": "web",
            "may_contact": False,
        }
    )
    joined = _decide(state, later, offset=11)
    assert joined.comment is not None and joined.comment.high_effort is not None
    assert (joined.comment.high_effort.score, joined.comment.high_effort.may_contact) == (1, False)


def test_comment_is_never_stored_in_state() -> None:
    state, prompt_id = _prompted()
    _decide(state, _answer(prompt_id, 2, comment="secret words"))
    assert "secret words" not in _snapshot(state)
    assert USER_ID not in _snapshot(state)


def test_same_inputs_give_identical_outputs() -> None:
    def run() -> tuple[list[AnswerDecision], str]:
        state, prompt_id = _prompted("seven")
        decisions = [
            _decide(state, _answer(prompt_id, 9, goal="seven", answer_n=1), offset=2),
            _decide(state, _answer(prompt_id, 6, goal="seven", answer_n=2, comment="ok"), offset=3),
            _decide(state, _answer(prompt_id, 6, goal="seven", answer_n=2, comment="ok"), offset=4),
            _decide(state, _answer(prompt_id, 1, goal="seven", answer_n=3), offset=5),
        ]
        return decisions, _snapshot(state)

    assert run() == run()
