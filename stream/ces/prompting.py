"""The prompt engine: from goal events (and timed-out started goals) to survey prompts.

Pure and deterministic: a decision depends only on the input, the source ``offset``,
``now_s`` (the Kafka timestamp of the internal record, fixed on replay), the goal
registry and the user's :class:`~stream.ces.user_state.UserState`, which it updates.

Exactness under at-least-once: every goal event's decision is recorded under its
``event_id`` together with its source offset. When the event arrives again the recorded
decision is re-emitted: the same facts with the ORIGINAL offset (the aggregate's
high-water mark drops them if they were applied and applies them if they were lost) and
the same prompt (same ``prompt_id``) if it is still pending. A second arrival at the same
offset is a replay; at another offset it is a genuine duplicate, which is additionally
reported (dead letter ``duplicate``, suppression ``duplicate_event``).

Rules for a completed/abandoned event, in order: duplicate/replay; goal disabled;
trigger disabled; too old; an open prompt on any goal; user cooldown; user+goal
cooldown; not sampled; else prompt. Every such event yields an :class:`OutcomeFact`,
every prompt a :class:`PromptFact`, both at the event's ``occurred_at``. A started event
opens the goal (when inferred abandonment is enabled) and yields no fact; completed or
abandoned closes it. :func:`expire_open_goals` turns open goals past their deadline into
``abandoned_inferred`` outcomes decided by the same rules, without the age check.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent, GoalEventType
from schemas.survey_prompt import PromptOutcome, SurveyPrompt
from stream.ces.buckets import Fact, OutcomeFact, PromptFact
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.sampling import sticky_sample
from stream.ces.user_state import OpenGoal, PendingPrompt, SeenEvent, UserState

#: Namespace of prompt ids: ``uuid5(PROMPT_NAMESPACE, f"{trigger_event_id}:{outcome}")``. Never change it.
PROMPT_NAMESPACE = uuid.UUID("6f1c2b1e-3c55-5d8e-9a47-1d2b8c0e4f73")


class SuppressionReason(StrEnum):
    """Why an outcome did not lead to a prompt."""

    user_cooldown = "user_cooldown"
    """The user was asked about some goal less than ``user_cooldown_seconds`` ago."""
    user_goal_cooldown = "user_goal_cooldown"
    """The user was asked about this goal less than ``cooldowns.user_goal_seconds`` ago."""
    not_sampled = "not_sampled"
    """The user is not in the goal's sample."""
    open_prompt = "open_prompt"
    """An unexpired, unanswered prompt is already out for this user."""
    duplicate_event = "duplicate_event"
    """The event was processed before (at another offset); its earlier decision is re-emitted."""
    too_old = "too_old"
    """The event happened longer than ``max_event_age_seconds`` before now: too late to ask."""
    goal_disabled = "goal_disabled"
    """The goal is switched off in the registry (its outcomes still count)."""
    trigger_disabled = "trigger_disabled"
    """The goal does not prompt after this outcome."""
    no_recipient = "no_recipient"
    """An inferred abandonment would prompt, but the caller does not know the raw user id to address it."""


@dataclass(frozen=True, slots=True)
class PromptDecision:
    """What one goal event (or one timed-out open goal) led to.

    :param event_id: identity of the input: the goal event id, or the started event id for an expiry.
    :param goal: goal slug.
    :param outcome: the outcome counted, ``None`` for a started event (or an unknown goal).
    :param prompt: the prompt to send, if any (re-sent unchanged on replay while pending).
    :param prompt_id: the prompt decided on, also when ``prompt`` is not (re-)sent.
    :param suppressed: why no prompt was made for the outcome; ``duplicate_event`` for a duplicate.
    :param facts: ``(source offset, fact)`` pairs for the aggregates; the offset is the
        original one on replay and duplicate.
    :param dead_letter_reason: ``duplicate`` or ``unknown_goal`` when the input goes to the dead letters.
    :param detail: explanation for the dead letter.
    :param replayed: True when the decision was re-emitted from the record, not taken now.
    """

    event_id: str
    goal: str
    outcome: str | None = None
    prompt: SurveyPrompt | None = None
    prompt_id: str | None = None
    suppressed: SuppressionReason | None = None
    facts: list[tuple[int, Fact]] = field(default_factory=list)
    dead_letter_reason: DeadLetterReason | None = None
    detail: str = ""
    replayed: bool = False


def prompt_id_for(trigger_event_id: str | uuid.UUID, outcome: str) -> uuid.UUID:
    """Return the deterministic prompt id for a trigger event and outcome.

    :param trigger_event_id: the goal event id (the started event's id for inferred abandonment).
    :param outcome: the outcome value, e.g. ``completed``.
    :returns: ``uuid5(PROMPT_NAMESPACE, f"{trigger_event_id}:{outcome}")``.
    """
    return uuid.uuid5(PROMPT_NAMESPACE, f"{trigger_event_id}:{outcome}")


def longest_cooldown_s(registry: GoalRegistry) -> float:
    """Return the longest cooldown in force: how long prompt stamps must be kept.

    :param registry: the goal registry.
    :returns: max of the user cooldown and every goal's user+goal cooldown; pass it to
        :meth:`UserState.prune` as ``cooldown_keep_s``.
    """
    return max([registry.user_cooldown_seconds, *(g.cooldowns.user_goal_seconds for g in registry.goals)])


def next_deadline_s(state: UserState) -> float | None:
    """Return the earliest inferred-abandonment deadline of the user's open goals, or None.

    :param state: the user's state.
    """
    return min((og.deadline_s for og in state.open_goals.values()), default=None)


def decide_goal_event(
    state: UserState,
    event: GoalEvent,
    *,
    user_ref: str,
    offset: int,
    now_s: float,
    registry: GoalRegistry,
    rates: Mapping[str, float] | None = None,
) -> PromptDecision:
    """Decide what one goal event leads to, and record the decision in ``state``.

    :param state: the user's state; updated in place.
    :param event: the validated goal event.
    :param user_ref: the user's pseudonymous reference (for sampling).
    :param offset: source offset of the event on the internal per-user topic.
    :param now_s: Kafka timestamp of that record, epoch seconds (the same on replay).
    :param registry: the goal registry.
    :param rates: current adaptive sampling rate per goal slug; a goal with a fixed rate
        uses its rate unless given here; an adaptive goal missing here uses its ``max_rate``.
    :returns: the decision. For an unknown goal: dead letter ``unknown_goal`` and no
        state change (the caller usually checks the registry first).
    """
    event_id = str(event.event_id)
    goal_cfg = registry.get(event.goal)
    if goal_cfg is None:
        return PromptDecision(
            event_id=event_id,
            goal=event.goal,
            dead_letter_reason=DeadLetterReason.unknown_goal,
            detail=f"goal {event.goal!r} is not in the goal registry",
        )
    seen = state.seen_events.get(event_id)
    if seen is not None:
        return _replay_goal_event(state, seen, event_id, event.user_id, offset, now_s, goal_cfg)

    state.note_offset(offset)
    at_s = event.occurred_at.timestamp()
    if event.type is GoalEventType.started:
        _open_goal(state, goal_cfg, event_id, at_s, event.locale, event.channel.value, offset)
        state.seen_events[event_id] = SeenEvent(offset=offset, goal=goal_cfg.slug, at_s=at_s, recorded_at_s=now_s)
        return PromptDecision(event_id=event_id, goal=goal_cfg.slug)

    open_goal = state.open_goals.get(goal_cfg.slug)
    if open_goal is not None and open_goal.started_at_s <= at_s:
        del state.open_goals[goal_cfg.slug]  # this attempt ended; no inferred abandonment
    outcome = PromptOutcome(event.type.value)
    too_old = now_s - at_s > goal_cfg.max_event_age_seconds
    return _decide_outcome(
        state,
        goal_cfg,
        registry,
        event_id=event_id,
        outcome=outcome,
        at_s=at_s,
        locale=event.locale,
        channel=event.channel.value,
        user_ref=user_ref,
        user_id=event.user_id,
        offset=offset,
        now_s=now_s,
        rates=rates,
        too_old=too_old,
    )


def expire_open_goals(
    state: UserState,
    now_s: float,
    registry: GoalRegistry,
    *,
    offset: int,
    user_ref: str,
    user_id: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> list[PromptDecision]:
    """Infer abandonment for open goals whose deadline has passed, and record it in ``state``.

    Driven by an internal record (a timer tick, or any input of the user) at ``offset``
    with timestamp ``now_s``. First re-emits expiries already recorded for this offset
    (a replay), then expires every open goal with ``deadline_s <= now_s`` that was opened
    by an event before ``offset`` (a goal opened later cannot have expired at this offset
    the first time, so a replay against newer state decides exactly as before). Each
    expiry yields an ``abandoned_inferred`` outcome fact at the deadline and, by the usual
    rules without the age check, maybe a prompt.

    :param state: the user's state; updated in place.
    :param now_s: Kafka timestamp of the driving record, epoch seconds.
    :param registry: the goal registry; open goals of goals no longer in it are dropped without facts.
    :param offset: source offset of the driving record.
    :param user_ref: the user's pseudonymous reference.
    :param user_id: the raw user id if the caller knows it (it is never stored); without it
        a prompt cannot be addressed and is suppressed as ``no_recipient``.
    :param rates: current adaptive sampling rates, as for :func:`decide_goal_event`.
    :returns: one decision per expiry (replayed ones first), in deadline order.
    """
    decisions = [
        _replay_expiry(state, seen, event_id, user_id, now_s, registry)
        for event_id, seen in state.seen_events.items()
        if seen.expired_offset == offset
    ]
    due = sorted(
        (og.deadline_s, goal, og)
        for goal, og in state.open_goals.items()
        if og.deadline_s <= now_s and og.offset < offset
    )
    for deadline_s, goal, og in due:
        del state.open_goals[goal]
        goal_cfg = registry.get(goal)
        if goal_cfg is None:
            continue  # goal removed from the registry: nothing may be counted for it
        state.note_offset(offset)
        decision = _decide_outcome(
            state,
            goal_cfg,
            registry,
            event_id=og.event_id,
            outcome=PromptOutcome.abandoned_inferred,
            at_s=deadline_s,
            locale=og.locale,
            channel=og.channel,
            user_ref=user_ref,
            user_id=user_id,
            offset=offset,
            now_s=now_s,
            rates=rates,
            too_old=False,
            started_offset=og.offset,
        )
        decisions.append(decision)
    return decisions


def _open_goal(
    state: UserState, goal_cfg: GoalConfig, event_id: str, at_s: float, locale: str, channel: str, offset: int
) -> None:
    inferred = goal_cfg.triggers.inferred_abandonment
    if not inferred.enabled:
        return
    current = state.open_goals.get(goal_cfg.slug)
    if current is not None and current.started_at_s > at_s:
        return  # a newer attempt is already open; this start arrived out of order
    state.open_goals[goal_cfg.slug] = OpenGoal(
        event_id=event_id,
        started_at_s=at_s,
        deadline_s=at_s + inferred.timeout_seconds,
        locale=locale,
        offset=offset,
        channel=channel,
    )


def _trigger_enabled(goal_cfg: GoalConfig, outcome: PromptOutcome) -> bool:
    triggers = goal_cfg.triggers
    if outcome is PromptOutcome.completed:
        return triggers.completed
    if outcome is PromptOutcome.abandoned:
        return triggers.abandoned
    return triggers.inferred_abandonment.enabled


def _sampling_rate(goal_cfg: GoalConfig, rates: Mapping[str, float] | None) -> float:
    if rates is not None and goal_cfg.slug in rates:
        return rates[goal_cfg.slug]
    sampling = goal_cfg.sampling
    return sampling.rate if sampling.rate is not None else sampling.max_rate


def _suppression(
    state: UserState,
    goal_cfg: GoalConfig,
    registry: GoalRegistry,
    *,
    outcome: PromptOutcome,
    at_s: float,
    user_ref: str,
    now_s: float,
    rates: Mapping[str, float] | None,
    too_old: bool,
) -> SuppressionReason | None:
    """The first rule that stops a prompt, in the documented order, or None to prompt."""
    if not goal_cfg.enabled:
        return SuppressionReason.goal_disabled
    if not _trigger_enabled(goal_cfg, outcome):
        return SuppressionReason.trigger_disabled
    if too_old:
        return SuppressionReason.too_old
    if any(p.expires_at_s > now_s for p in state.pending.values()):
        return SuppressionReason.open_prompt
    # Cooldowns compare event times; an event older than the last prompt is inside the cooldown too.
    if state.last_prompt_at_s is not None and at_s - state.last_prompt_at_s < registry.user_cooldown_seconds:
        return SuppressionReason.user_cooldown
    last_for_goal = state.last_prompt_by_goal.get(goal_cfg.slug)
    if last_for_goal is not None and at_s - last_for_goal < goal_cfg.cooldowns.user_goal_seconds:
        return SuppressionReason.user_goal_cooldown
    if not sticky_sample(user_ref, goal_cfg.slug, _sampling_rate(goal_cfg, rates)):
        return SuppressionReason.not_sampled
    return None


def _decide_outcome(
    state: UserState,
    goal_cfg: GoalConfig,
    registry: GoalRegistry,
    *,
    event_id: str,
    outcome: PromptOutcome,
    at_s: float,
    locale: str,
    channel: str,
    user_ref: str,
    user_id: str | None,
    offset: int,
    now_s: float,
    rates: Mapping[str, float] | None,
    too_old: bool,
    started_offset: int | None = None,
) -> PromptDecision:
    """Take and record a new decision for one outcome (goal event or inferred abandonment)."""
    goal = goal_cfg.slug
    reason = _suppression(
        state,
        goal_cfg,
        registry,
        outcome=outcome,
        at_s=at_s,
        user_ref=user_ref,
        now_s=now_s,
        rates=rates,
        too_old=too_old,
    )
    if reason is None and user_id is None:
        reason = SuppressionReason.no_recipient
    facts: list[tuple[int, Fact]] = [(offset, OutcomeFact(goal, at_s, outcome.value))]
    prompt: SurveyPrompt | None = None
    prompt_id: str | None = None
    if reason is None:
        assert user_id is not None  # for the type checker: no_recipient was handled above
        prompt_id = str(prompt_id_for(event_id, outcome.value))
        scale = goal_cfg.scale_obj()
        pending = PendingPrompt(
            goal=goal,
            outcome=outcome.value,
            created_at_s=now_s,
            expires_at_s=now_s + goal_cfg.prompt_expiry_seconds,
            scale_kind=scale.kind.value,
            positive=tuple(sorted(scale.positive)),
            min_score=scale.min_score,
            max_score=scale.max_score,
            inverted=scale.inverted,
            locale=locale,
            event_id=event_id,
            channel=channel,
        )
        state.pending[prompt_id] = pending
        # Keep the latest stamp: an out-of-order older event must not shorten a running cooldown.
        last = state.last_prompt_at_s
        state.last_prompt_at_s = at_s if last is None else max(at_s, last)
        state.last_prompt_by_goal[goal] = max(at_s, state.last_prompt_by_goal.get(goal, at_s))
        prompt = _build_prompt(goal_cfg, prompt_id, pending, user_id)
        facts.append((offset, PromptFact(goal, at_s, outcome.value)))
    if outcome is PromptOutcome.abandoned_inferred:
        # The identity of an expiry is the started event: record it there, with the expiry's offset.
        state.seen_events[event_id] = SeenEvent(
            offset=started_offset if started_offset is not None else offset,
            goal=goal,
            at_s=at_s,
            outcome=outcome.value,
            prompt_id=prompt_id,
            suppressed=None if reason is None else reason.value,
            expired_offset=offset,
            recorded_at_s=now_s,
        )
    else:
        state.seen_events[event_id] = SeenEvent(
            offset=offset,
            goal=goal,
            at_s=at_s,
            outcome=outcome.value,
            prompt_id=prompt_id,
            suppressed=None if reason is None else reason.value,
            recorded_at_s=now_s,
        )
    return PromptDecision(
        event_id=event_id,
        goal=goal,
        outcome=outcome.value,
        prompt=prompt,
        prompt_id=prompt_id,
        suppressed=reason,
        facts=facts,
    )


def _recorded_facts(seen: SeenEvent, offset: int) -> list[tuple[int, Fact]]:
    """The facts a recorded decision emitted, with the offset they were first emitted with."""
    if seen.outcome is None:
        return []
    facts: list[tuple[int, Fact]] = [(offset, OutcomeFact(seen.goal, seen.at_s, seen.outcome))]
    if seen.prompt_id is not None:
        facts.append((offset, PromptFact(seen.goal, seen.at_s, seen.outcome)))
    return facts


def _resend(
    state: UserState, seen: SeenEvent, goal_cfg: GoalConfig | None, user_id: str | None, now_s: float
) -> SurveyPrompt | None:
    """The recorded prompt again, if it is still pending and unexpired and can be addressed."""
    if seen.prompt_id is None or goal_cfg is None or user_id is None:
        return None
    pending = state.pending.get(seen.prompt_id)
    if pending is None or pending.expires_at_s <= now_s:
        return None
    return _build_prompt(goal_cfg, seen.prompt_id, pending, user_id)


def _replay_goal_event(
    state: UserState,
    seen: SeenEvent,
    event_id: str,
    user_id: str,
    offset: int,
    now_s: float,
    goal_cfg: GoalConfig,
) -> PromptDecision:
    """Re-emit the recorded decision for an event seen before; report it if it is a duplicate."""
    goal_cfg_for_seen = goal_cfg if goal_cfg.slug == seen.goal else None
    # A started event's own decision has no outcome; its later expiry is replayed by its own offset.
    outcome = seen.outcome if seen.expired_offset is None else None
    recorded = seen if seen.expired_offset is None else SeenEvent(seen.offset, seen.goal, seen.at_s)
    decision = PromptDecision(
        event_id=event_id,
        goal=seen.goal,
        outcome=outcome,
        prompt=_resend(state, recorded, goal_cfg_for_seen, user_id, now_s),
        prompt_id=recorded.prompt_id,
        suppressed=None if recorded.suppressed is None else SuppressionReason(recorded.suppressed),
        facts=_recorded_facts(recorded, seen.offset),
        replayed=True,
    )
    if offset == seen.offset:
        return decision
    return _as_duplicate(decision, f"goal event {event_id} was already processed at offset {seen.offset}")


def _replay_expiry(
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
        prompt=_resend(state, seen, registry.get(seen.goal), user_id, now_s),
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


def _build_prompt(goal_cfg: GoalConfig, prompt_id: str, pending: PendingPrompt, user_id: str) -> SurveyPrompt:
    return SurveyPrompt(
        prompt_id=uuid.UUID(prompt_id),
        user_id=user_id,
        goal=goal_cfg.slug,
        outcome=PromptOutcome(pending.outcome),
        locale=pending.locale,
        question=goal_cfg.question_for(pending.locale),
        follow_up_question=goal_cfg.follow_up_for(pending.locale),
        scale=goal_cfg.scale_spec_for(pending.locale),
        created_at=_utc(pending.created_at_s),
        expires_at=_utc(pending.expires_at_s),
        event_id=uuid.UUID(pending.event_id),
    )


def _utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=timezone.utc)
