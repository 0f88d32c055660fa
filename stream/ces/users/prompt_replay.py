"""Re-emitting recorded decisions: a goal event or an expiry delivered again.

A replay (same offset) re-emits the recorded facts with their original offset and the
prompt if it is still pending; a genuine duplicate (another offset) is reported too.
"""

from __future__ import annotations

from schemas.dead_letter import DeadLetterReason
from schemas.survey_prompt import SurveyPrompt
from stream.ces.goals import EffortFact, Fact, OutcomeFact, PromptFact
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.registry.nps_model import NpsConfig
from stream.ces.users.goal_records import SeenEvent
from stream.ces.users.prompt_decision import PromptDecision, SuppressionReason, build_prompt
from stream.ces.users.state import UserState


def _recorded_facts(seen: SeenEvent, offset: int, channel: str = "") -> list[tuple[int, Fact]]:
    """The facts a recorded decision emitted, with the offset they were first emitted with.

    :param channel: the channel of the goal event delivered again (an expiry's is recorded in ``seen``).
    """
    if seen.outcome is None:
        return []
    facts: list[tuple[int, Fact]] = [(offset, OutcomeFact(seen.goal, seen.at_s, seen.outcome, seen.channel or channel))]
    if seen.prompt_id is not None:
        facts.append((offset, PromptFact(seen.goal, seen.at_s, seen.outcome, seen.survey)))
    if seen.duration_s is not None:
        facts.append((offset, EffortFact(seen.goal, seen.at_s, seen.duration_s, seen.retried)))
    return facts


def _resend(
    state: UserState,
    seen: SeenEvent,
    goal_cfg: GoalConfig | None,
    user_id: str | None,
    now_s: float,
    nps: NpsConfig | None,
) -> SurveyPrompt | None:
    """The recorded prompt again, if it is still pending and unexpired and can be addressed."""
    if seen.prompt_id is None or goal_cfg is None or user_id is None:
        return None
    pending = state.pending.get(seen.prompt_id)
    if pending is None or pending.expires_at_s <= now_s:
        return None
    return build_prompt(goal_cfg, seen.prompt_id, pending, user_id, nps)


def replay_goal_event(
    state: UserState,
    seen: SeenEvent,
    event_id: str,
    user_id: str,
    offset: int,
    now_s: float,
    goal_cfg: GoalConfig,
    channel: str,
    nps: NpsConfig | None = None,
) -> PromptDecision:
    """Re-emit the recorded decision for an event seen before; report it if it is a duplicate.

    :param channel: the event's channel (its outcome counts in that stratum again).
    :param nps: the registry's NPS question (to re-send an NPS prompt).
    """
    goal_cfg_for_seen = goal_cfg if goal_cfg.slug == seen.goal else None
    # A started event's own decision has no outcome; its later expiry is replayed by its own offset.
    outcome = seen.outcome if seen.expired_offset is None else None
    recorded = seen if seen.expired_offset is None else SeenEvent(seen.offset, seen.goal, seen.at_s)
    decision = PromptDecision(
        event_id=event_id,
        goal=seen.goal,
        outcome=outcome,
        prompt=_resend(state, recorded, goal_cfg_for_seen, user_id, now_s, nps),
        prompt_id=recorded.prompt_id,
        suppressed=None if recorded.suppressed is None else SuppressionReason(recorded.suppressed),
        facts=_recorded_facts(recorded, seen.offset, channel),
        replayed=True,
    )
    if offset == seen.offset:
        return decision
    return _as_duplicate(decision, f"goal event {event_id} was already processed at offset {seen.offset}")


def replay_expiry(
    state: UserState,
    seen: SeenEvent,
    event_id: str,
    user_id: str | None,
    now_s: float,
    registry: GoalRegistry,
) -> PromptDecision:
    """Re-emit a recorded inferred abandonment (its driving record was delivered again)."""
    assert seen.expired_offset is not None
    return PromptDecision(
        event_id=event_id,
        goal=seen.goal,
        outcome=seen.outcome,
        prompt=_resend(state, seen, registry.get(seen.goal), user_id, now_s, registry.nps_enabled),
        prompt_id=seen.prompt_id,
        suppressed=None if seen.suppressed is None else SuppressionReason(seen.suppressed),
        facts=_recorded_facts(seen, seen.expired_offset),
        replayed=True,
    )


def _as_duplicate(decision: PromptDecision, detail: str) -> PromptDecision:
    return PromptDecision(
        event_id=decision.event_id,
        goal=decision.goal,
        outcome=decision.outcome,
        prompt=decision.prompt,
        prompt_id=decision.prompt_id,
        suppressed=SuppressionReason.duplicate_event,
        facts=decision.facts,
        dead_letter_reason=DeadLetterReason.duplicate,
        detail=detail,
        replayed=True,
    )
