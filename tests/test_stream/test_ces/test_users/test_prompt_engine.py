"""Tests for stream.ces.users.prompt_engine: suppression rules, prompts, replay vs duplicate, inferred abandonment."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent
from schemas.survey_prompt import PromptOutcome, ScaleKind
from stream.ces.goals.buckets import EffortFact, OutcomeFact, PromptFact
from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.users.prompt_decision import PROMPT_NAMESPACE, PromptDecision, SuppressionReason, prompt_id_for
from stream.ces.users.prompt_engine import decide_goal_event, expire_open_goals, longest_cooldown_s, next_deadline_s
from stream.ces.users.prompt_records import PendingPrompt
from stream.ces.users.sampling import sticky_sample
from stream.ces.users.state import UserState, may_have_deadlines

USER_ID = "user-4711"
USER_REF = pseudonymise(USER_ID, b"prompting-test-key")
NOW_S = 1_750_000_000.0
DAY_S = 86_400.0
TIMEOUT_S = 900.0
EFFORT_KEEP_S = 600.0


def _goal(slug: str, **overrides: Any) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How easy was {slug}?", "nl": f"Hoe makkelijk was {slug}?"},
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 1.0},
    }
    goal.update(overrides)
    return goal


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {
            "user_cooldown_seconds": DAY_S,
            "follow_up_question": {"en": "What could be easier?", "nl": "Wat kan makkelijker?"},
            "cooldowns": {"user_goal_seconds": 7 * DAY_S},
        },
        "goals": [
            _goal(
                "claim",
                triggers={"inferred_abandonment": {"enabled": True, "timeout_seconds": TIMEOUT_S}},
            ),
            _goal("policy", scale={"kind": "five_point_inverted", "positive": [1, 2]}),
            _goal("off", enabled=False),
            _goal("no-trigger", triggers={"completed": False, "abandoned": False}),
            _goal("nobody", sampling={"rate": 0.0}),
            _goal("adaptive", sampling={"target_answers_per_day": 100, "min_rate": 0.0, "max_rate": 1.0}),
            _goal(
                "quiet-timeout",
                triggers={"completed": True, "abandoned": True, "inferred_abandonment": {"enabled": False}},
            ),
            _goal("untimed", measured_effort={"enabled": False}),
            _goal("timed", measured_effort={"max_duration_seconds": EFFORT_KEEP_S}),
        ],
    }
)


def _event_id(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"goal-event-{n}"))


def _event(
    n: int, kind: str = "completed", goal: str = "claim", at_s: float = NOW_S - 10, locale: str = "nl"
) -> GoalEvent:
    return GoalEvent.model_validate(
        {
            "event_id": _event_id(n),
            "type": kind,
            "goal": goal,
            "user_id": USER_ID,
            "occurred_at": datetime.fromtimestamp(at_s, tz=UTC),
            "channel": "web",
            "locale": locale,
        }
    )


def _decide(state: UserState, event: GoalEvent, offset: int, now_s: float = NOW_S, **kw: Any) -> PromptDecision:
    return decide_goal_event(state, event, user_ref=USER_REF, offset=offset, now_s=now_s, registry=REGISTRY, **kw)


def _pending(goal: str, expires_at_s: float) -> PendingPrompt:
    return PendingPrompt(
        goal, "completed", expires_at_s - 1800, expires_at_s, "five_point", (4, 5), 1, 5, False, "nl", _event_id(999)
    )


def _snapshot(state: UserState) -> str:
    return json.dumps(state.to_json_obj(), sort_keys=True)


# --- a prompt -------------------------------------------------------------------------------------


def test_completed_event_prompts_in_the_users_locale() -> None:
    state = UserState()
    event = _event(1, locale="nl-NL")
    decision = _decide(state, event, offset=7)

    assert decision.suppressed is None and decision.dead_letter_reason is None
    prompt = decision.prompt
    assert prompt is not None
    expected_id = uuid.uuid5(PROMPT_NAMESPACE, f"{event.event_id}:completed")
    assert prompt.prompt_id == expected_id == prompt_id_for(event.event_id, "completed")
    assert decision.prompt_id == str(expected_id)
    assert prompt.user_id == USER_ID
    assert prompt.goal == "claim" and prompt.outcome is PromptOutcome.completed
    assert prompt.locale == "nl-NL"
    assert prompt.question == "Hoe makkelijk was claim?"
    assert prompt.follow_up_question == "Wat kan makkelijker?"
    assert prompt.scale == REGISTRY.get("claim").scale_spec_for("nl-NL")  # type: ignore[union-attr]
    assert prompt.created_at.timestamp() == NOW_S
    assert prompt.expires_at.timestamp() == NOW_S + 1800
    assert prompt.event_id == event.event_id
    at_s = NOW_S - 10
    assert decision.facts == [
        (7, OutcomeFact("claim", at_s, "completed", "web")),
        (7, PromptFact("claim", at_s, "completed")),
    ]
    # Recorded: pending prompt with its scale, cooldown stamps, seen event; never the raw user id.
    pending = state.pending[str(expected_id)]
    assert (pending.goal, pending.scale_kind, pending.positive) == ("claim", "five_point", (4, 5))
    assert pending.expires_at_s == NOW_S + 1800
    assert state.last_prompt_at_s == at_s and state.last_prompt_by_goal == {"claim": at_s}
    assert state.seen_events[str(event.event_id)].offset == 7
    assert state.last_offset == 7
    assert USER_ID not in _snapshot(state)


def test_abandoned_event_prompts_with_inverted_scale() -> None:
    decision = _decide(UserState(), _event(2, kind="abandoned", goal="policy", locale="en"), offset=1)
    assert decision.prompt is not None
    assert decision.prompt.outcome is PromptOutcome.abandoned
    assert decision.prompt.scale.kind is ScaleKind.five_point_inverted and decision.prompt.scale.inverted
    assert decision.prompt.question == "How easy was policy?"
    assert [type(f) for _, f in decision.facts] == [OutcomeFact, PromptFact]


def test_unknown_goal_is_dead_lettered_without_state_change() -> None:
    state = UserState()
    decision = _decide(state, _event(3, goal="no-such-goal"), offset=1)
    assert decision.dead_letter_reason is DeadLetterReason.unknown_goal
    assert decision.facts == [] and decision.prompt is None
    assert state.is_empty() and state.last_offset == -1


# --- every suppression reason ------------------------------------------------------------------------


def _with_open_prompt(state: UserState) -> None:
    state.pending["p-open"] = _pending("policy", expires_at_s=NOW_S + 60)


def _with_user_cooldown(state: UserState) -> None:
    state.last_prompt_at_s = NOW_S - DAY_S + 60


def _with_goal_cooldown(state: UserState) -> None:
    state.last_prompt_at_s = NOW_S - 2 * DAY_S
    state.last_prompt_by_goal["claim"] = NOW_S - 2 * DAY_S


def _with_open_prompt_and_cooldown(state: UserState) -> None:
    _with_open_prompt(state)
    _with_user_cooldown(state)


def _with_both_cooldowns(state: UserState) -> None:
    _with_user_cooldown(state)
    state.last_prompt_by_goal["claim"] = NOW_S - 100


def _with_recent_prompt_on_nobody(state: UserState) -> None:
    state.last_prompt_by_goal["nobody"] = NOW_S - 100


def _nothing(state: UserState) -> None:
    pass


@pytest.mark.parametrize(
    ("goal", "at_s", "prepare", "expected"),
    [
        ("off", NOW_S - 10, _nothing, SuppressionReason.goal_disabled),
        ("no-trigger", NOW_S - 10, _nothing, SuppressionReason.trigger_disabled),
        ("claim", NOW_S - 301, _nothing, SuppressionReason.too_old),
        ("claim", NOW_S - 10, _with_open_prompt, SuppressionReason.open_prompt),
        ("claim", NOW_S - 10, _with_user_cooldown, SuppressionReason.user_cooldown),
        ("claim", NOW_S - 10, _with_goal_cooldown, SuppressionReason.user_goal_cooldown),
        ("nobody", NOW_S - 10, _nothing, SuppressionReason.not_sampled),
        # Precedence: the first rule in the documented order wins.
        ("off", NOW_S - 301, _with_open_prompt, SuppressionReason.goal_disabled),
        ("no-trigger", NOW_S - 301, _nothing, SuppressionReason.trigger_disabled),
        ("claim", NOW_S - 301, _with_open_prompt, SuppressionReason.too_old),
        ("claim", NOW_S - 10, _with_open_prompt_and_cooldown, SuppressionReason.open_prompt),
        ("claim", NOW_S - 10, _with_both_cooldowns, SuppressionReason.user_cooldown),
        ("nobody", NOW_S - 10, _with_recent_prompt_on_nobody, SuppressionReason.user_goal_cooldown),
    ],
)
def test_suppression_reasons(goal: str, at_s: float, prepare: Any, expected: SuppressionReason) -> None:
    state = UserState()
    prepare(state)
    pending_before = dict(state.pending)
    decision = _decide(state, _event(10, goal=goal, at_s=at_s), offset=3)
    assert decision.suppressed is expected
    assert decision.prompt is None and decision.prompt_id is None
    assert decision.dead_letter_reason is None
    # The outcome counts anyway (completion ratio counts every outcome); no prompt fact.
    assert decision.facts == [(3, OutcomeFact(goal, at_s, "completed", "web"))]
    assert state.pending == pending_before
    assert state.seen_events[_event_id(10)].suppressed == expected.value


@pytest.mark.parametrize(
    ("prepare", "at_s"),
    [
        (lambda s: s.pending.update({"p-old": _pending("policy", expires_at_s=NOW_S)}), NOW_S - 10),  # expired prompt
        (lambda s: setattr(s, "last_prompt_at_s", NOW_S - 10 - DAY_S), NOW_S - 10),  # user cooldown just over
        (lambda s: s.last_prompt_by_goal.update(claim=NOW_S - 10 - 7 * DAY_S), NOW_S - 10),  # goal cooldown just over
        (_nothing, NOW_S - 300),  # exactly max_event_age_seconds old
    ],
)
def test_boundaries_that_still_prompt(prepare: Any, at_s: float) -> None:
    state = UserState()
    prepare(state)
    decision = _decide(state, _event(11, at_s=at_s), offset=1)
    assert decision.suppressed is None and decision.prompt is not None


def test_cooldowns_use_event_time_of_the_last_prompt() -> None:
    state = UserState()
    first = _decide(state, _event(12, goal="claim"), offset=1)
    assert first.prompt is not None
    state.pending.clear()  # answered elsewhere; only the cooldown remains
    second = _decide(state, _event(13, goal="policy", at_s=NOW_S + 3600), offset=2, now_s=NOW_S + 3600)
    assert second.suppressed is SuppressionReason.user_cooldown


def test_adaptive_rate_comes_from_the_caller() -> None:
    sampled_out = _decide(UserState(), _event(14, goal="adaptive"), offset=1, rates={"adaptive": 0.0})
    assert sampled_out.suppressed is SuppressionReason.not_sampled
    no_rate_yet = _decide(UserState(), _event(14, goal="adaptive"), offset=1)  # max_rate 1.0
    assert no_rate_yet.prompt is not None


def test_sampling_is_sticky_per_user_and_goal() -> None:
    rate = 0.5
    refs = [pseudonymise(f"u{i}", b"k") for i in range(40)]
    for ref in refs:
        decision = decide_goal_event(
            UserState(), _event(15), user_ref=ref, offset=1, now_s=NOW_S, registry=REGISTRY, rates={"claim": rate}
        )
        assert (decision.prompt is not None) == sticky_sample(ref, "claim", rate)


# --- replay vs duplicate ------------------------------------------------------------------------------


@pytest.mark.parametrize("goal", ["claim", "nobody"])  # prompted and suppressed decisions alike
def test_replay_at_the_same_offset_re_emits_the_identical_decision(goal: str) -> None:
    state = UserState()
    first = _decide(state, _event(20, goal=goal), offset=5)
    after_first = _snapshot(state)
    again = _decide(state, _event(20, goal=goal), offset=5)
    assert again.replayed and not first.replayed
    assert again.facts == first.facts and all(offset == 5 for offset, _ in again.facts)
    assert again.prompt == first.prompt
    assert again.prompt_id == first.prompt_id and again.suppressed == first.suppressed
    assert again.dead_letter_reason is None
    assert _snapshot(state) == after_first


def test_duplicate_at_another_offset_re_emits_with_the_original_offset_and_reports() -> None:
    state = UserState()
    first = _decide(state, _event(21), offset=5)
    after_first = _snapshot(state)
    dup = _decide(state, _event(21), offset=9, now_s=NOW_S + 30)
    assert dup.dead_letter_reason is DeadLetterReason.duplicate
    assert dup.suppressed is SuppressionReason.duplicate_event
    assert "offset 5" in dup.detail
    assert dup.facts == first.facts and [offset for offset, _ in dup.facts] == [5, 5]
    assert dup.prompt == first.prompt  # still pending: re-sent with the same prompt id
    assert _snapshot(state) == after_first


def test_a_replay_from_restored_state_counts_the_outcome_in_its_channel_again() -> None:
    state = UserState()
    first = _decide(state, _event(23, kind="abandoned"), offset=5)
    restored = UserState.from_bytes(state.to_bytes())
    again = _decide(restored, _event(23, kind="abandoned"), offset=5)
    assert again.facts == first.facts
    assert again.facts[0] == (5, OutcomeFact("claim", NOW_S - 10, "abandoned", "web"))


def test_duplicate_after_the_prompt_expired_does_not_resend_it() -> None:
    state = UserState()
    _decide(state, _event(22), offset=5)
    dup = _decide(state, _event(22), offset=9, now_s=NOW_S + 1800)
    assert dup.prompt is None and dup.prompt_id is not None
    assert dup.dead_letter_reason is DeadLetterReason.duplicate
    assert len(dup.facts) == 2


def test_duplicate_started_event() -> None:
    state = UserState()
    first = _decide(state, _event(23, kind="started"), offset=1)
    replay = _decide(state, _event(23, kind="started"), offset=1)
    dup = _decide(state, _event(23, kind="started"), offset=4)
    assert first.facts == replay.facts == dup.facts == []
    assert replay.dead_letter_reason is None and replay.replayed
    assert dup.dead_letter_reason is DeadLetterReason.duplicate and dup.suppressed is SuppressionReason.duplicate_event


# --- open goals and inferred abandonment -----------------------------------------------------------


def _expire(state: UserState, now_s: float, offset: int, user_id: str | None = USER_ID) -> list[PromptDecision]:
    return expire_open_goals(state, now_s, REGISTRY, offset=offset, user_ref=USER_REF, user_id=user_id)


def test_started_records_an_open_goal_without_facts() -> None:
    state = UserState()
    started_at = NOW_S - 10
    decision = _decide(state, _event(30, kind="started", at_s=started_at), offset=1)
    assert decision.facts == [] and decision.prompt is None and decision.suppressed is None
    assert state.open_goals["claim"].event_id == _event_id(30)
    assert next_deadline_s(state) == started_at + TIMEOUT_S


def test_started_without_inferred_abandonment_or_measured_effort_opens_nothing() -> None:
    state = UserState()
    _decide(state, _event(31, kind="started", goal="untimed"), offset=1)
    assert state.open_goals == {} and next_deadline_s(state) is None


# --- measured effort ------------------------------------------------------------------------------


def test_a_completion_of_a_started_goal_counts_its_duration() -> None:
    state = UserState()
    _decide(state, _event(60, kind="started", goal="timed", at_s=NOW_S - 100), offset=1)
    # Kept for measured effort only: no inferred-abandonment timer for it, not where a rebalance looks.
    assert "timed" in state.open_goals and next_deadline_s(state) is None
    assert not state.open_goals["timed"].infers and not may_have_deadlines(state.to_bytes())
    decision = _decide(state, _event(61, goal="timed", at_s=NOW_S - 5), offset=2)
    assert (2, EffortFact("timed", NOW_S - 5, 95.0, False)) in decision.facts
    assert (2, OutcomeFact("timed", NOW_S - 5, "completed", "web")) in decision.facts
    assert state.open_goals == {}


def test_a_second_start_is_a_retry_timed_from_the_first() -> None:
    state = UserState()
    _decide(state, _event(62, kind="started", goal="timed", at_s=NOW_S - 300), offset=1)
    _decide(state, _event(63, kind="started", goal="timed", at_s=NOW_S - 100), offset=2)
    restored = UserState.from_bytes(state.to_bytes())  # the retry survives the changelog
    decision = _decide(restored, _event(64, goal="timed", at_s=NOW_S - 10), offset=3)
    assert [fact for _, fact in decision.facts if isinstance(fact, EffortFact)] == [
        EffortFact("timed", NOW_S - 10, 290.0, True)
    ]


def test_a_start_after_the_kept_time_is_a_new_attempt() -> None:
    state = UserState()
    _decide(state, _event(65, kind="started", goal="timed", at_s=NOW_S - 2000), offset=1)
    _decide(state, _event(66, kind="started", goal="timed", at_s=NOW_S - 100), offset=2)
    decision = _decide(state, _event(67, goal="timed", at_s=NOW_S - 40), offset=3)
    assert (3, EffortFact("timed", NOW_S - 40, 60.0, False)) in decision.facts


def test_a_start_kept_for_effort_only_is_forgotten_without_a_fact() -> None:
    state = UserState()
    _decide(state, _event(68, kind="started", goal="timed", at_s=NOW_S - 10), offset=1)
    assert _expire(state, NOW_S - 10 + EFFORT_KEEP_S, offset=2) == []
    assert state.open_goals == {}
    decision = _decide(state, _event(69, goal="timed", at_s=NOW_S + EFFORT_KEEP_S), offset=3)
    assert not any(isinstance(fact, EffortFact) for _, fact in decision.facts)


@pytest.mark.parametrize("goal", ["timed", "claim"])
def test_an_abandonment_ends_the_attempt_without_a_duration(goal: str) -> None:
    state = UserState()
    _decide(state, _event(70, kind="started", goal=goal, at_s=NOW_S - 100), offset=1)
    decision = _decide(state, _event(71, kind="abandoned", goal=goal, at_s=NOW_S - 5), offset=2)
    assert not any(isinstance(fact, EffortFact) for _, fact in decision.facts)
    assert state.open_goals == {}


@pytest.mark.parametrize(("took_s", "band"), [(10.0, "<30s"), (30.0, "30s-2m"), (700.0, "10m+")])
def test_the_prompt_after_a_timed_completion_carries_its_duration_band(took_s: float, band: str) -> None:
    state = UserState()
    _decide(state, _event(74, kind="started", goal="timed", at_s=NOW_S - 5 - took_s), offset=1)
    decision = _decide(state, _event(75, goal="timed", at_s=NOW_S - 5), offset=2)
    assert decision.prompt_id is not None and state.pending[decision.prompt_id].effort_band == band


def test_a_prompt_without_a_timed_completion_has_no_band() -> None:
    state = UserState()
    decision = _decide(state, _event(76, goal="timed"), offset=1)
    assert decision.prompt_id is not None and state.pending[decision.prompt_id].effort_band == ""


def test_a_completion_replayed_re_emits_its_duration_with_the_original_offset() -> None:
    state = UserState()
    _decide(state, _event(72, kind="started", goal="timed", at_s=NOW_S - 50), offset=1)
    first = _decide(state, _event(73, goal="timed", at_s=NOW_S - 20), offset=2)
    restored = UserState.from_bytes(state.to_bytes())
    replay = _decide(restored, _event(73, goal="timed", at_s=NOW_S - 20), offset=2)
    duplicate = _decide(restored, _event(73, goal="timed", at_s=NOW_S - 20), offset=9)
    assert (2, EffortFact("timed", NOW_S - 20, 30.0, False)) in first.facts
    assert replay.facts == first.facts == duplicate.facts
    assert replay.replayed and duplicate.dead_letter_reason is DeadLetterReason.duplicate


@pytest.mark.parametrize("closing", ["completed", "abandoned"])
def test_started_then_finished_closes_the_open_goal(closing: str) -> None:
    state = UserState()
    _decide(state, _event(32, kind="started", at_s=NOW_S - 60), offset=1)
    decision = _decide(state, _event(33, kind=closing, at_s=NOW_S - 10), offset=2)
    assert decision.facts[0] == (2, OutcomeFact("claim", NOW_S - 10, closing, "web"))
    assert state.open_goals == {} and next_deadline_s(state) is None
    assert _expire(state, NOW_S + 2 * TIMEOUT_S, offset=3) == []


def test_a_finish_older_than_the_start_does_not_close_it() -> None:
    state = UserState()
    _decide(state, _event(34, kind="started", at_s=NOW_S - 10), offset=1)
    _decide(state, _event(35, kind="completed", at_s=NOW_S - 60), offset=2)
    assert "claim" in state.open_goals


def test_inferred_abandonment_fires_at_the_deadline_not_before() -> None:
    state = UserState()
    started_at = NOW_S - 10
    deadline = started_at + TIMEOUT_S
    _decide(state, _event(36, kind="started", at_s=started_at), offset=1)

    assert _expire(state, deadline - 0.001, offset=2) == []
    assert "claim" in state.open_goals

    [decision] = _expire(state, deadline, offset=3)
    assert decision.event_id == _event_id(36) and decision.outcome == "abandoned_inferred"
    assert decision.facts == [
        (3, OutcomeFact("claim", deadline, "abandoned_inferred", "web")),
        (3, PromptFact("claim", deadline, "abandoned_inferred")),
    ]
    prompt = decision.prompt
    assert prompt is not None and prompt.outcome is PromptOutcome.abandoned_inferred
    assert prompt.prompt_id == prompt_id_for(_event_id(36), "abandoned_inferred")
    assert str(prompt.event_id) == _event_id(36) and prompt.user_id == USER_ID
    assert prompt.created_at.timestamp() == deadline and prompt.expires_at.timestamp() == deadline + 1800
    assert state.open_goals == {} and next_deadline_s(state) is None
    assert state.seen_events[_event_id(36)].expired_offset == 3


def test_inferred_abandonment_replay_is_idempotent() -> None:
    state = UserState()
    started_at = NOW_S - 10
    deadline = started_at + TIMEOUT_S
    _decide(state, _event(37, kind="started", at_s=started_at), offset=1)
    first = _expire(state, deadline + 5, offset=3)
    after_first = _snapshot(state)

    replay = _expire(state, deadline + 5, offset=3)
    assert len(replay) == 1 and replay[0].replayed
    assert replay[0].facts == first[0].facts and replay[0].prompt == first[0].prompt
    assert _snapshot(state) == after_first

    assert _expire(state, deadline + 60, offset=8) == []  # a later tick: nothing new, nothing twice
    assert _snapshot(state) == after_first
    replay_started = _decide(state, _event(37, kind="started", at_s=started_at), offset=1)
    assert replay_started.facts == [] and replay_started.dead_letter_reason is None


def test_expiry_ignores_goals_opened_after_the_driving_record() -> None:
    state = UserState()
    _decide(state, _event(38, kind="started", at_s=NOW_S - 2 * TIMEOUT_S), offset=10)
    assert _expire(state, NOW_S, offset=9) == []
    assert len(_expire(state, NOW_S, offset=11)) == 1


def test_inferred_abandonment_is_suppressed_like_any_outcome() -> None:
    state = UserState()
    _decide(state, _event(39, kind="started", at_s=NOW_S - 10), offset=1)
    _decide(state, _event(40, goal="policy", at_s=NOW_S - 5), offset=2)  # prompts: now a prompt is open
    [decision] = _expire(state, NOW_S - 10 + TIMEOUT_S, offset=3)
    assert decision.suppressed is SuppressionReason.open_prompt
    assert decision.facts == [(3, OutcomeFact("claim", NOW_S - 10 + TIMEOUT_S, "abandoned_inferred", "web"))]


def test_inferred_abandonment_without_a_user_id_cannot_prompt() -> None:
    state = UserState()
    _decide(state, _event(41, kind="started", at_s=NOW_S - 10), offset=1)
    [decision] = _expire(state, NOW_S + TIMEOUT_S, offset=2, user_id=None)
    assert decision.suppressed is SuppressionReason.no_recipient
    assert decision.prompt is None and state.pending == {} and state.last_prompt_at_s is None
    assert [type(f) for _, f in decision.facts] == [OutcomeFact]


# --- determinism -------------------------------------------------------------------------------------


def _run_script() -> tuple[list[PromptDecision], str]:
    state = UserState()
    decisions = [
        _decide(state, _event(50, kind="started", at_s=NOW_S - 100), offset=1),
        _decide(state, _event(51, goal="policy", kind="abandoned"), offset=2),
        _decide(state, _event(52, goal="nobody"), offset=3),
        _decide(state, _event(51, goal="policy", kind="abandoned"), offset=4, now_s=NOW_S + 1),
    ]
    decisions += _expire(state, NOW_S + TIMEOUT_S, offset=5)
    return decisions, _snapshot(state)


def test_same_inputs_give_identical_outputs() -> None:
    assert _run_script() == _run_script()


def test_longest_cooldown() -> None:
    assert longest_cooldown_s(REGISTRY) == 7 * DAY_S
