"""Why a user would (not) be asked now: the prompt engine's decision for one goal, with every rule's verdict.

For support ("why did this user never get the survey?", ``ces-stream explain``). Pure and read-only: the
decision comes from the engine itself (:func:`~stream.ces.users.prompt_engine.decide_goal_event`) run on a
copy of the user's state with a goal event happening now, so it is the one the worker would take; each
rule's verdict comes from the same rule functions the engine calls
(:mod:`stream.ces.users.suppression`), in the order of docs/architecture.md "Why a prompt is not sent",
with the figures behind it (the sticky sampling point against the rate, each cooldown with its end, the
survey budget used and allowed, the open prompts with their expiry, an open goal attempt). The state
passed in is never changed.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.common import Channel
from schemas.goal_event import GoalEvent, GoalEventType
from schemas.survey_prompt import PromptOutcome
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.users.prompt_decision import SuppressionReason
from stream.ces.users.prompt_engine import decide_goal_event
from stream.ces.users.sampling import sample_point
from stream.ces.users.state import UserState
from stream.ces.users.suppression import (
    goal_cooldown,
    in_user_cooldown,
    nps_due,
    open_prompt,
    over_budget,
    sampled,
    sampling_rate,
    trigger_enabled,
)

#: The outcomes an explanation may consider: those of a goal event that ends a goal.
EXPLAINED_OUTCOMES = (PromptOutcome.completed, PromptOutcome.abandoned)

#: The channel considered when the state names none (a new user, or records without a channel).
DEFAULT_CHANNEL = Channel.web.value

#: Stands in for the raw user id in the engine's scratch prompt (never sent, never returned).
_NO_USER_ID = "explain"
_EXPLAIN_NAMESPACE = uuid.UUID("0b7e4d2a-5f3c-4e11-9c8a-2d6f1e0a7b35")


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One rule of the prompt engine for this user and goal now.

    :param rule: the suppression reason the rule names (``ces_survey_prompts_suppressed_total{reason}``).
    :param stops: whether the rule holds, i.e. would stop the prompt on its own.
    :param detail: what the rule looked at, in words.
    :param figures: the same as numbers and times (epoch seconds), for ``--json``.
    """

    rule: str
    stops: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Explanation:
    """What the engine would decide for a goal event of one user now, and why.

    :param goal: goal slug.
    :param outcome: the outcome considered (``completed`` or ``abandoned``).
    :param channel: the channel considered.
    :param at_s: the time considered (now), epoch seconds.
    :param prompted: whether a prompt would be sent (the goal's own question or the NPS question).
    :param survey: the question that would be asked (``ces``, ``csat``, ``nps``), None without a prompt.
    :param suppressed: the reason the goal's own question is held back (counted under it), None when asked.
    :param rules: every rule's verdict, in the engine's order.
    :param nps_due: for a goal marked ``nps_moment`` with NPS on, whether the NPS question is due; else None.
    :param open_goal: the user's open attempt at this goal, if any (a completion now closes it).
    """

    goal: str
    outcome: str
    channel: str
    at_s: float
    prompted: bool
    survey: str | None
    suppressed: str | None
    rules: tuple[RuleVerdict, ...]
    nps_due: bool | None = None
    open_goal: dict[str, Any] | None = None

    @property
    def first_stopping_rule(self) -> str | None:
        """The first rule that holds: the reason the engine names, unless the NPS question went first."""
        return next((r.rule for r in self.rules if r.stops), None)

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "outcome": self.outcome,
            "channel": self.channel,
            "at": iso(self.at_s),
            "decision": "prompt" if self.prompted else "suppressed",
            "survey": self.survey,
            "suppressed": self.suppressed,
            "nps_due": self.nps_due,
            "open_goal": self.open_goal,
            "rules": [{"rule": r.rule, "stops": r.stops, "detail": r.detail, "figures": r.figures} for r in self.rules],
        }


def iso(at_s: float) -> str:
    """An epoch time as ISO 8601 UTC, to the second."""
    return datetime.fromtimestamp(at_s, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def explain(
    registry: GoalRegistry,
    state: UserState | None,
    goal: str,
    *,
    user_ref: str,
    now_s: float,
    outcome: PromptOutcome = PromptOutcome.completed,
    channel: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> Explanation:
    """What a ``goal`` event of the user with ``outcome`` on ``channel`` happening at ``now_s`` would lead to.

    :param registry: the goal registry.
    :param state: the user's state as stored (None: a user the worker holds nothing of); never changed.
    :param goal: goal slug.
    :param user_ref: the user's pseudonymous reference (the sampling hashes it).
    :param now_s: the time considered, epoch seconds (the event happens then, and is decided then).
    :param outcome: ``completed`` (default) or ``abandoned``.
    :param channel: a ``Channel`` value; default the channel of the user's latest open attempt or prompt, else web.
    :param rates: the worker's adaptive sampling rates, as the engine gets them.
    :raises ValueError: for a goal not in the registry, or another outcome.
    """
    goal_cfg = registry.get(goal)
    if goal_cfg is None:
        raise ValueError(f"goal {goal!r} is not in the goal registry")
    if outcome not in EXPLAINED_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(o.value for o in EXPLAINED_OUTCOMES)}")
    current = state if state is not None else UserState()
    last_channel, locale = _latest_channel_and_locale(current)
    channel = channel or last_channel
    scratch = copy.deepcopy(current)
    event = GoalEvent(
        event_id=uuid.uuid5(_EXPLAIN_NAMESPACE, f"{user_ref}:{goal}:{outcome.value}:{now_s!r}"),
        type=GoalEventType(outcome.value),
        goal=goal,
        user_id=_NO_USER_ID,
        occurred_at=datetime.fromtimestamp(now_s, tz=UTC),
        channel=Channel(channel),
        locale=locale,
    )
    decision = decide_goal_event(
        scratch,
        event,
        user_ref=user_ref,
        offset=scratch.last_offset + 1,
        now_s=now_s,
        registry=registry,
        rates=rates,
    )
    nps = registry.nps_enabled
    due = None
    if nps is not None and goal_cfg.nps_moment:
        due = nps_due(
            current, nps, goal_cfg, registry, outcome=outcome, at_s=now_s, user_ref=user_ref, now_s=now_s, too_old=False
        )
    return Explanation(
        goal=goal,
        outcome=outcome.value,
        channel=event.channel.value,
        at_s=now_s,
        prompted=decision.prompt is not None,
        survey=None if decision.prompt is None else decision.prompt.survey.value,
        suppressed=None if decision.suppressed is None else decision.suppressed.value,
        rules=rule_verdicts(current, goal_cfg, registry, outcome=outcome, at_s=now_s, user_ref=user_ref, rates=rates),
        nps_due=due,
        open_goal=_open_goal(current, goal_cfg, now_s),
    )


def rule_verdicts(
    state: UserState,
    goal_cfg: GoalConfig,
    registry: GoalRegistry,
    *,
    outcome: PromptOutcome,
    at_s: float,
    user_ref: str,
    rates: Mapping[str, float] | None,
) -> tuple[RuleVerdict, ...]:
    """Every rule's verdict for a new goal event at ``at_s`` (decided at ``at_s``), in the engine's order."""
    R = SuppressionReason
    max_age = goal_cfg.max_event_age_seconds
    return (
        RuleVerdict(R.duplicate_event.value, False, "a new goal event (one delivered again re-emits its decision)"),
        RuleVerdict(
            R.goal_disabled.value,
            not goal_cfg.enabled,
            "the goal is enabled" if goal_cfg.enabled else "the goal is disabled (enabled: false)",
        ),
        RuleVerdict(
            R.trigger_disabled.value,
            not trigger_enabled(goal_cfg, outcome),
            f"the goal {'prompts' if trigger_enabled(goal_cfg, outcome) else 'does not prompt'} at {outcome.value}",
        ),
        RuleVerdict(R.too_old.value, False, f"the event is now (at most {max_age:g} s old)", {"max_age_s": max_age}),
        _open_prompt_verdict(state, at_s),
        _user_cooldown_verdict(state, registry, at_s),
        _budget_verdict(state, goal_cfg, at_s),
        *_goal_cooldown_verdicts(state, goal_cfg, at_s),
        _sampling_verdict(goal_cfg, user_ref, rates),
    )


def _open_prompt_verdict(state: UserState, now_s: float) -> RuleVerdict:
    prompts = [
        {"goal": p.goal, "survey": p.survey, "created_at": iso(p.created_at_s), "expires_at": iso(p.expires_at_s)}
        for p in state.pending.values()
        if p.expires_at_s > now_s
    ]
    stops = open_prompt(state, now_s)
    if stops:
        detail = "an open prompt: " + ", ".join(f"{p['goal']} until {p['expires_at']}" for p in prompts)
    elif prompts:
        detail = "no open prompt (the unexpired one was dismissed)"
    else:
        detail = "no open prompt"
    return RuleVerdict(SuppressionReason.open_prompt.value, stops, detail, {"unexpired_prompts": prompts})


def _cooldown(rule: SuppressionReason, stops: bool, what: str, since_s: float | None, length_s: float) -> RuleVerdict:
    figures: dict[str, Any] = {"cooldown_s": length_s}
    if since_s is None:
        return RuleVerdict(rule.value, stops, f"no {what} on record (cooldown {length_s:g} s)", figures)
    until = iso(since_s + length_s)
    figures.update({"since": iso(since_s), "until": until})
    state = "in the cooldown" if stops else "cooldown over"
    return RuleVerdict(
        rule.value, stops, f"{what} at {iso(since_s)}, cooldown {length_s:g} s: {state} (until {until})", figures
    )


def _user_cooldown_verdict(state: UserState, registry: GoalRegistry, at_s: float) -> RuleVerdict:
    return _cooldown(
        SuppressionReason.user_cooldown,
        in_user_cooldown(state, registry, at_s),
        "last prompt (any goal)",
        state.last_prompt_at_s,
        registry.user_cooldown_seconds,
    )


def _budget_verdict(state: UserState, goal_cfg: GoalConfig, at_s: float) -> RuleVerdict:
    budget = goal_cfg.budget
    rule = SuppressionReason.survey_budget.value
    if budget is None:
        return RuleVerdict(rule, False, "the goal sets no survey budget")
    since = at_s - budget.period_seconds
    used = state.prompts_since(since)
    stops = over_budget(state, goal_cfg, at_s)
    figures: dict[str, Any] = {"used": used, "allowed": budget.max_prompts, "period_s": budget.period_seconds}
    detail = f"{used} of {budget.max_prompts} prompts used in the last {budget.period_seconds:g} s"
    if stops:
        counted = [t for t in state.prompt_stamps if t > since]
        frees_at = iso(counted[used - budget.max_prompts] + budget.period_seconds)
        figures["frees_at"] = frees_at
        detail += f": over budget (a prompt frees up at {frees_at})"
    return RuleVerdict(rule, stops, detail, figures)


def _goal_cooldown_verdicts(state: UserState, goal_cfg: GoalConfig, at_s: float) -> tuple[RuleVerdict, RuleVerdict]:
    reason = goal_cooldown(state, goal_cfg, at_s)
    after_dismissal = goal_cfg.cooldowns.after_dismissal_seconds
    dismissed_at = state.dismissed_by_goal.get(goal_cfg.slug) if state.dismissed_by_goal else None
    stops_dismissal = reason is SuppressionReason.dismissal_cooldown
    if after_dismissal is None:
        dismissal = RuleVerdict(
            SuppressionReason.dismissal_cooldown.value, False, "the goal sets no cooldown after a dismissal"
        )
    else:
        dismissal = _cooldown(
            SuppressionReason.dismissal_cooldown,
            stops_dismissal,
            "dismissal of its last prompt",
            dismissed_at,
            after_dismissal,
        )
    user_goal = _cooldown(
        SuppressionReason.user_goal_cooldown,
        reason is SuppressionReason.user_goal_cooldown,
        "last prompt about this goal",
        state.last_prompt_by_goal.get(goal_cfg.slug),
        goal_cfg.cooldowns.user_goal_seconds,
    )
    if after_dismissal is not None and dismissed_at is not None:
        user_goal = RuleVerdict(
            user_goal.rule, False, "replaced by the cooldown after the dismissal of its last prompt", user_goal.figures
        )
    return dismissal, user_goal


def _sampling_verdict(goal_cfg: GoalConfig, user_ref: str, rates: Mapping[str, float] | None) -> RuleVerdict:
    point = sample_point(user_ref, goal_cfg.slug)
    rate = sampling_rate(goal_cfg, rates)
    adaptive = goal_cfg.sampling.target_answers_per_day is not None
    stops = not sampled(goal_cfg, user_ref, rates)
    kind = "adaptive rate" if adaptive else "rate"
    verdict = "not in the sample" if stops else "in the sample"
    detail = f"sticky sampling value {point:.4f} vs the goal's {kind} {rate:.4f}: {verdict}"
    return RuleVerdict(
        SuppressionReason.not_sampled.value, stops, detail, {"sample_point": point, "rate": rate, "adaptive": adaptive}
    )


def _open_goal(state: UserState, goal_cfg: GoalConfig, now_s: float) -> dict[str, Any] | None:
    og = state.open_goals.get(goal_cfg.slug)
    if og is None:
        return None
    return {
        "started_at": iso(og.started_at_s),
        "attempt_started_at": iso(og.attempt_started_at_s),
        "starts": og.starts,
        "deadline": iso(og.deadline_s),
        "inferred_abandonment": og.infers,
        "running_s": max(0.0, now_s - og.attempt_started_at_s),
    }


def _latest_channel_and_locale(state: UserState) -> tuple[str, str]:
    """The channel and locale of the user's latest open attempt or prompt; else web and en."""
    seen = [(og.started_at_s, og.channel, og.locale) for og in state.open_goals.values()]
    seen += [(p.created_at_s, p.channel, p.locale) for p in state.pending.values()]
    known = [item for item in seen if item[1]]
    if not known:
        return DEFAULT_CHANNEL, "en"
    _, channel, locale = max(known, key=lambda item: item[0])
    return channel, locale or "en"
