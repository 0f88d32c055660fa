"""Tests for stream.ces.users.prompt_events: a prompt shown or dismissed, joined like an answer, and the
cooldown after a dismissal."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent
from schemas.prompt_event import PromptEvent
from schemas.survey_answer import SurveyAnswer
from stream.ces.goals import PromptEventFact
from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.users import SuppressionReason
from stream.ces.users.answer_joiner import decide_answer
from stream.ces.users.prompt_engine import decide_goal_event, longest_cooldown_s
from stream.ces.users.prompt_events import decide_prompt_event
from stream.ces.users.state import ANSWER_GRACE_S, ANSWERED_KEEP_S, UserState

USER_ID = "user-4242"
USER_REF = pseudonymise(USER_ID, b"prompt-events-test-key")
NOW_S = 1_750_000_000.0
EXPIRY_S = 1800.0
DISMISSAL_COOLDOWN_S = 3600.0


def _goal(slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How was {slug}?", "nl": f"Hoe was {slug}?"},
        "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 1.0},
        "prompt_expiry_seconds": EXPIRY_S,
        **extra,
    }


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 0},
        "goals": [
            _goal("claim"),
            _goal("policy"),
            _goal(
                "invoice", cooldowns={"user_goal_seconds": 7 * 86_400, "after_dismissal_seconds": DISMISSAL_COOLDOWN_S}
            ),
        ],
    }
)


def _goal_event(n: int, goal: str = "claim", at_s: float = NOW_S - 5) -> GoalEvent:
    return GoalEvent.model_validate(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"goal-event-{n}")),
            "type": "completed",
            "goal": goal,
            "user_id": USER_ID,
            "occurred_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": "web",
            "locale": "en",
        }
    )


def _prompt(state: UserState, n: int = 1, goal: str = "claim", at_s: float = NOW_S - 5, now_s: float = NOW_S):
    decision = decide_goal_event(
        state, _goal_event(n, goal, at_s), user_ref=USER_REF, offset=n, now_s=now_s, registry=REGISTRY
    )
    assert decision.prompt_id is not None, decision.suppressed
    return decision.prompt_id


def _event(prompt_id: str, kind: str, n: int = 1, goal: str = "claim", at_s: float = NOW_S + 2) -> PromptEvent:
    return PromptEvent.model_validate(
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"prompt-event-{n}")),
            "type": kind,
            "prompt_id": prompt_id,
            "user_id": USER_ID,
            "goal": goal,
            "occurred_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": "web",
        }
    )


def _snapshot(state: UserState) -> str:
    return json.dumps(state.to_json_obj(), sort_keys=True)


@pytest.mark.parametrize("kind", ["shown", "dismissed"])
def test_an_event_of_a_pending_prompt_counts_at_its_time(kind: str) -> None:
    state = UserState()
    prompt_id = _prompt(state)
    decision = decide_prompt_event(state, _event(prompt_id, kind), offset=10, now_s=NOW_S + 3)
    assert decision.dead_letter_reason is None and not decision.replayed
    assert decision.facts == [(10, PromptEventFact("claim", NOW_S + 2, kind))]
    assert state.last_offset == 10
    # It survives the user state's bytes.
    assert UserState.from_bytes(state.to_bytes()) == state


def test_shown_and_dismissed_of_one_prompt_count_once_each() -> None:
    state = UserState()
    prompt_id = _prompt(state)
    shown = decide_prompt_event(state, _event(prompt_id, "shown", 1), offset=10, now_s=NOW_S)
    dismissed = decide_prompt_event(state, _event(prompt_id, "dismissed", 2, at_s=NOW_S + 9), offset=11, now_s=NOW_S)
    again = decide_prompt_event(state, _event(prompt_id, "shown", 3), offset=12, now_s=NOW_S)
    assert [f.kind for _, f in shown.facts + dismissed.facts] == ["shown", "dismissed"]
    assert again.dead_letter_reason is DeadLetterReason.duplicate and again.facts == []
    assert "already reported shown" in again.detail


def test_a_replay_re_emits_the_fact_with_its_offset_and_a_duplicate_is_reported() -> None:
    state = UserState()
    prompt_id = _prompt(state)
    first = decide_prompt_event(state, _event(prompt_id, "shown"), offset=10, now_s=NOW_S)
    after_first = _snapshot(state)
    replay = decide_prompt_event(state, _event(prompt_id, "shown"), offset=10, now_s=NOW_S + 60)
    duplicate = decide_prompt_event(state, _event(prompt_id, "shown"), offset=17, now_s=NOW_S + 60)
    assert replay.replayed and replay.dead_letter_reason is None and replay.facts == first.facts
    assert duplicate.replayed and duplicate.dead_letter_reason is DeadLetterReason.duplicate
    assert duplicate.facts == first.facts  # the partials' high-water mark counts it once
    assert _snapshot(state) == after_first


def test_an_unknown_prompt_and_another_goal_are_refused_like_answers() -> None:
    state = UserState()
    prompt_id = _prompt(state)
    unknown = decide_prompt_event(state, _event(str(uuid.uuid4()), "shown"), offset=10, now_s=NOW_S)
    other_goal = decide_prompt_event(state, _event(prompt_id, "shown", goal="policy"), offset=11, now_s=NOW_S)
    assert unknown.dead_letter_reason is DeadLetterReason.unknown_prompt and unknown.facts == []
    assert other_goal.dead_letter_reason is DeadLetterReason.schema_violation and other_goal.facts == []
    assert state.displays == {}


def test_an_event_after_the_prompt_expired_is_refused_like_a_late_answer() -> None:
    state = UserState()
    prompt_id = _prompt(state)
    expires_at_s = NOW_S + EXPIRY_S
    on_time = decide_prompt_event(
        state, _event(prompt_id, "shown", 1, at_s=expires_at_s + ANSWER_GRACE_S), offset=10, now_s=NOW_S
    )
    late = decide_prompt_event(
        state, _event(prompt_id, "dismissed", 2, at_s=expires_at_s + ANSWER_GRACE_S + 1), offset=11, now_s=NOW_S
    )
    assert on_time.dead_letter_reason is None
    assert late.dead_letter_reason is DeadLetterReason.expired_prompt and late.facts == []


def test_an_answered_prompt_still_takes_what_the_app_reports_of_it() -> None:
    # The answer and the shown travel on different topics: the answer may be processed first.
    state = UserState()
    prompt_id = _prompt(state)
    answer = SurveyAnswer.model_validate(
        {
            "answer_id": str(uuid.uuid4()),
            "prompt_id": prompt_id,
            "user_id": USER_ID,
            "goal": "claim",
            "score": 4,
            "answered_at": datetime.fromtimestamp(NOW_S + 5, tz=UTC),
            "channel": "web",
        }
    )
    assert decide_answer(state, answer, user_ref=USER_REF, offset=10, now_s=NOW_S).facts
    shown = decide_prompt_event(state, _event(prompt_id, "shown", at_s=NOW_S + 2), offset=11, now_s=NOW_S + 6)
    assert shown.facts == [(11, PromptEventFact("claim", NOW_S + 2, "shown"))]


def test_displays_are_kept_as_long_as_answered_prompts_then_forgotten() -> None:
    state = UserState()
    prompt_id = _prompt(state)
    decide_prompt_event(state, _event(prompt_id, "shown"), offset=10, now_s=NOW_S)
    state.prune(NOW_S + ANSWERED_KEEP_S, cooldown_keep_s=longest_cooldown_s(REGISTRY))
    assert prompt_id in state.displays
    state.prune(NOW_S + ANSWERED_KEEP_S + 1, cooldown_keep_s=longest_cooldown_s(REGISTRY))
    assert state.displays == {}


def test_a_dismissed_prompt_no_longer_holds_back_a_prompt_on_another_goal() -> None:
    state = UserState()
    prompt_id = _prompt(state, 1, "claim")
    held = decide_goal_event(
        state, _goal_event(2, "policy"), user_ref=USER_REF, offset=2, now_s=NOW_S + 10, registry=REGISTRY
    )
    assert held.suppressed is SuppressionReason.open_prompt
    decide_prompt_event(state, _event(prompt_id, "dismissed", at_s=NOW_S + 12), offset=3, now_s=NOW_S + 13)
    asked = decide_goal_event(
        state, _goal_event(4, "policy", NOW_S + 14), user_ref=USER_REF, offset=4, now_s=NOW_S + 15, registry=REGISTRY
    )
    assert asked.suppressed is None and asked.prompt is not None


def test_the_cooldown_after_a_dismissal_replaces_the_goals_cooldown() -> None:
    state = UserState()
    prompt_id = _prompt(state, 1, "invoice")
    dismissed_at = NOW_S + 20
    decide_prompt_event(
        state, _event(prompt_id, "dismissed", goal="invoice", at_s=dismissed_at), offset=2, now_s=NOW_S + 21
    )
    assert state.dismissed_by_goal == {"invoice": dismissed_at}
    within = decide_goal_event(
        state,
        _goal_event(3, "invoice", dismissed_at + DISMISSAL_COOLDOWN_S - 1),
        user_ref=USER_REF,
        offset=3,
        now_s=dismissed_at + DISMISSAL_COOLDOWN_S,
        registry=REGISTRY,
    )
    assert within.suppressed is SuppressionReason.dismissal_cooldown
    # An hour after the dismissal: asked again, although the goal's own cooldown is a week.
    after = decide_goal_event(
        state,
        _goal_event(4, "invoice", dismissed_at + DISMISSAL_COOLDOWN_S),
        user_ref=USER_REF,
        offset=4,
        now_s=dismissed_at + DISMISSAL_COOLDOWN_S + 1,
        registry=REGISTRY,
    )
    assert after.suppressed is None and after.prompt is not None
    # The new prompt ends the dismissal's hold: the week's cooldown is back.
    assert state.dismissed_by_goal == {}
    next_day = decide_goal_event(
        state,
        _goal_event(5, "invoice", dismissed_at + 86_400),
        user_ref=USER_REF,
        offset=5,
        now_s=dismissed_at + 86_401,
        registry=REGISTRY,
    )
    assert next_day.suppressed is SuppressionReason.user_goal_cooldown


def test_without_a_cooldown_after_dismissal_a_dismissed_prompt_is_like_any_other() -> None:
    state = UserState()
    prompt_id = _prompt(state, 1, "claim")
    decide_prompt_event(state, _event(prompt_id, "dismissed"), offset=2, now_s=NOW_S + 3)
    again = decide_goal_event(
        state, _goal_event(3, "claim", NOW_S + 3600), user_ref=USER_REF, offset=3, now_s=NOW_S + 3601, registry=REGISTRY
    )
    assert again.suppressed is SuppressionReason.user_goal_cooldown


def test_the_longest_cooldown_keeps_dismissals_long_enough() -> None:
    registry = GoalRegistry.model_validate(
        {"version": 1, "goals": [_goal("g", cooldowns={"user_goal_seconds": 60, "after_dismissal_seconds": 90_000})]}
    )
    assert longest_cooldown_s(registry) == 90_000
