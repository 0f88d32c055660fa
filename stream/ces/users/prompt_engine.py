"""The prompt engine: from goal events (and timed-out started goals) to survey prompts.

Pure and deterministic: a decision depends only on the input, the source ``offset``,
``now_s`` (the Kafka timestamp of the internal record, fixed on replay), the goal
registry and the user's :class:`~stream.ces.users.state.UserState`, which it updates.

Exactness under at-least-once: every goal event's decision is recorded under its
``event_id`` together with its source offset. When the event arrives again the recorded
decision is re-emitted: the same facts with the ORIGINAL offset (the aggregate's
high-water mark drops them if they were applied and applies them if they were lost) and
the same prompt (same ``prompt_id``) if it is still pending. A second arrival at the same
offset is a replay; at another offset it is a genuine duplicate, which is additionally
reported (dead letter ``duplicate``, suppression ``duplicate_event``). The re-emitting
lives in :mod:`stream.ces.users.prompt_replay`.

Rules for a completed/abandoned event, in order: duplicate/replay; goal disabled;
trigger disabled; too old; an open prompt on any goal; user cooldown; user+goal
cooldown; not sampled; else prompt (the rules: :mod:`stream.ces.users.suppression`). Every such event yields an :class:`OutcomeFact`,
every prompt a :class:`PromptFact`, both at the event's ``occurred_at``. A started event
opens the goal (when inferred abandonment or measured effort is on) and yields no fact; a
second start while it is open is a retry of the same attempt. Completed or abandoned closes
it; a completion of an open goal also yields an :class:`EffortFact` (seconds from the
attempt's first start, retried or not). :func:`expire_open_goals` turns open goals past
their deadline into ``abandoned_inferred`` outcomes decided by the same rules, without the
age check (goals without inferred abandonment are just forgotten).
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.dead_letter import DeadLetterReason
from schemas.goal_event import GoalEvent, GoalEventType
from schemas.survey_prompt import PromptOutcome, SurveyPrompt
from stream.ces.goals import NPS, EffortFact, Fact, OutcomeFact, PromptFact
from stream.ces.goals.effort import duration_band
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.registry.nps_model import NpsConfig
from stream.ces.users.goal_records import OpenGoal, SeenEvent
from stream.ces.users.prompt_decision import PromptDecision, SuppressionReason, build_prompt, prompt_id_for
from stream.ces.users.prompt_records import OLD_SURVEY, PendingPrompt
from stream.ces.users.prompt_replay import replay_expiry, replay_goal_event
from stream.ces.users.state import UserState
from stream.ces.users.suppression import nps_due, suppression_for


def longest_budget_s(registry: GoalRegistry) -> float:
    """Return the longest survey budget period: how long prompt stamps must be kept (0 without budgets)."""
    return max((g.budget.period_seconds for g in registry.goals if g.budget is not None), default=0.0)


def longest_cooldown_s(registry: GoalRegistry) -> float:
    """Return the longest cooldown in force: how long prompt stamps must be kept.

    :param registry: the goal registry.
    :returns: max of the user cooldown and every goal's user+goal and after-dismissal cooldown; pass
        it to :meth:`UserState.prune` as ``cooldown_keep_s``.
    """
    after_dismissal = [g.cooldowns.after_dismissal_seconds or 0.0 for g in registry.goals]
    return max(
        [registry.user_cooldown_seconds, *(g.cooldowns.user_goal_seconds for g in registry.goals), *after_dismissal]
    )


def next_deadline_s(state: UserState) -> float | None:
    """Return the earliest inferred-abandonment deadline of the user's open goals, or None.

    A start kept for measured effort alone needs no timer: it is forgotten at the user's next
    record after its deadline (:func:`expire_open_goals`).

    :param state: the user's state.
    """
    return min((og.deadline_s for og in state.open_goals.values() if og.infers), default=None)


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
        return replay_goal_event(
            state, seen, event_id, event.user_id, offset, now_s, goal_cfg, event.channel.value, registry.nps_enabled
        )

    state.note_offset(offset)
    at_s = event.occurred_at.timestamp()
    if event.type is GoalEventType.started:
        _open_goal(state, goal_cfg, event_id, at_s, event.locale, event.channel.value, offset)
        state.seen_events[event_id] = SeenEvent(offset=offset, goal=goal_cfg.slug, at_s=at_s, recorded_at_s=now_s)
        return PromptDecision(event_id=event_id, goal=goal_cfg.slug)

    outcome = PromptOutcome(event.type.value)
    effort: tuple[float, bool] | None = None
    open_goal = state.open_goals.get(goal_cfg.slug)
    if open_goal is not None and open_goal.started_at_s <= at_s:
        del state.open_goals[goal_cfg.slug]  # this attempt ended; no inferred abandonment
        if outcome is PromptOutcome.completed and goal_cfg.measured_effort.enabled:
            effort = (at_s - open_goal.attempt_started_at_s, open_goal.starts > 1)
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
        effort=effort,
        app_version=event.app_version or "",
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
        replay_expiry(state, seen, event_id, user_id, now_s, registry)
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
        if not og.infers or not goal_cfg.triggers.inferred_abandonment.enabled:
            continue  # kept for measured effort only: the start is forgotten, nothing is counted
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
    kept_s = goal_cfg.start_kept_seconds()
    if kept_s is None:
        return
    current = state.open_goals.get(goal_cfg.slug)
    if current is not None and current.started_at_s > at_s:
        return  # a newer attempt is already open; this start arrived out of order
    # A start while the attempt is still open is a retry: the attempt (and its effort) runs on.
    retry = current is not None and current.deadline_s >= at_s
    state.open_goals[goal_cfg.slug] = OpenGoal(
        event_id=event_id,
        started_at_s=at_s,
        deadline_s=at_s + kept_s,
        locale=locale,
        offset=offset,
        channel=channel,
        first_started_at_s=current.attempt_started_at_s if retry and current is not None else None,
        starts=current.starts + 1 if retry and current is not None else 1,
        infers=goal_cfg.triggers.inferred_abandonment.enabled,
    )


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
    effort: tuple[float, bool] | None = None,
    app_version: str = "",
) -> PromptDecision:
    """Take and record a new decision for one outcome (goal event or inferred abandonment).

    :param effort: for a timed completion, ``(seconds from the attempt's first start, retried)``.
    :param app_version: the goal event's, kept with its prompt (``""``: none, and at inferred abandonment).
    """
    goal = goal_cfg.slug
    reason = suppression_for(
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
    asked = _nps_asked(
        state,
        goal_cfg,
        registry,
        reason,
        user_id,
        outcome=outcome,
        at_s=at_s,
        user_ref=user_ref,
        now_s=now_s,
        too_old=too_old,
    )
    ask_nps = asked is not None
    if ask_nps and reason is None:
        reason = SuppressionReason.nps_asked
    survey = NPS if ask_nps else goal_cfg.survey
    facts: list[tuple[int, Fact]] = [(offset, OutcomeFact(goal, at_s, outcome.value, channel))]
    prompt: SurveyPrompt | None = None
    prompt_id: str | None = None
    if reason is None or ask_nps:
        assert user_id is not None  # for the type checker: no_recipient was handled above
        prompt_id = str(prompt_id_for(event_id, outcome.value))
        band = "" if effort is None else duration_band(goal_cfg.measured_effort.duration_bands_seconds, effort[0])
        pending = _record_prompt(
            state, goal_cfg, prompt_id, event_id, outcome, at_s, now_s, locale, channel, band, asked
        )
        pending.app_version = app_version  # its answer is read per release
        prompt = build_prompt(goal_cfg, prompt_id, pending, user_id, registry.nps_enabled)
        facts.append((offset, PromptFact(goal, at_s, outcome.value, survey)))
    if effort is not None:  # after the prompt, as a replay re-emits them
        facts.append((offset, EffortFact(goal, at_s, effort[0], effort[1])))
    # The identity of an expiry is the started event: record it there, with the expiry's offset.
    expired = outcome is PromptOutcome.abandoned_inferred
    state.seen_events[event_id] = SeenEvent(
        offset=started_offset if expired and started_offset is not None else offset,
        goal=goal,
        at_s=at_s,
        outcome=outcome.value,
        prompt_id=prompt_id,
        suppressed=None if reason is None else reason.value,
        expired_offset=offset if expired else None,
        recorded_at_s=now_s,
        duration_s=None if effort is None else effort[0],
        retried=effort is not None and effort[1],
        # A goal event delivered again brings its channel; an expiry record does not.
        channel=channel if expired else "",
        survey=survey if prompt_id is not None else OLD_SURVEY,
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


def _nps_asked(
    state: UserState,
    goal_cfg: GoalConfig,
    registry: GoalRegistry,
    reason: SuppressionReason | None,
    user_id: str | None,
    *,
    outcome: PromptOutcome,
    at_s: float,
    user_ref: str,
    now_s: float,
    too_old: bool,
) -> NpsConfig | None:
    """The NPS question when this moment asks it, else None: when due, it goes first by its priority or
    when the goal's own question is held back anyway (``reason``); it is asked instead of that question,
    never beside it, and only to a user the prompt can reach."""
    nps = registry.nps_enabled
    if nps is None or user_id is None or (nps.priority != "nps" and reason is None):
        return None
    due = nps_due(
        state, nps, goal_cfg, registry, outcome=outcome, at_s=at_s, user_ref=user_ref, now_s=now_s, too_old=too_old
    )
    return nps if due else None


def _record_prompt(
    state: UserState,
    goal_cfg: GoalConfig,
    prompt_id: str,
    event_id: str,
    outcome: PromptOutcome,
    at_s: float,
    now_s: float,
    locale: str,
    channel: str,
    effort_band: str,
    nps: NpsConfig | None,
) -> PendingPrompt:
    """Record a new pending prompt and the cooldown and budget stamps; return the record.

    :param effort_band: the duration band of a timed completion (its answer counts there too), else ``""``.
    :param nps: the NPS question when it is the one asked (at the goal's moment), else None for the
        goal's own question.
    """
    scale = goal_cfg.scale_obj() if nps is None else nps.scale_obj()
    expiry_s = goal_cfg.prompt_expiry_seconds if nps is None else nps.prompt_expiry_seconds
    pending = PendingPrompt(
        goal=goal_cfg.slug,
        outcome=outcome.value,
        created_at_s=now_s,
        expires_at_s=now_s + expiry_s,
        scale_kind=scale.kind.value,
        positive=tuple(sorted(scale.positive)),
        min_score=scale.min_score,
        max_score=scale.max_score,
        inverted=scale.inverted,
        locale=locale,
        event_id=event_id,
        channel=channel,
        effort_band=effort_band if nps is None else "",
        survey=goal_cfg.survey if nps is None else NPS,
    )
    state.pending[prompt_id] = pending
    state.stamp_prompt(at_s)
    # Keep the latest stamp: an out-of-order older event must not shorten a running cooldown.
    last = state.last_prompt_at_s
    state.last_prompt_at_s = at_s if last is None else max(at_s, last)
    if nps is not None:
        state.last_nps_at_s = at_s if state.last_nps_at_s is None else max(at_s, state.last_nps_at_s)
        return pending  # the goal's own cooldowns are about its own question
    state.last_prompt_by_goal[goal_cfg.slug] = max(at_s, state.last_prompt_by_goal.get(goal_cfg.slug, at_s))
    state.dismissed_by_goal.pop(goal_cfg.slug, None)  # a new prompt: the dismissed one no longer counts
    return pending
