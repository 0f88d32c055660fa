"""The rules that stop a prompt, in the order docs/architecture.md lists them.

Goal disabled; trigger disabled; too old; an open prompt on any goal (one the user dismissed
is not open); user cooldown; the survey budget (the goal's ``budget``: at most ``max_prompts``
prompts of any goal and kind in its period); after a dismissal of the goal's last prompt, the goal's cooldown
after a dismissal (when set, instead of the user+goal cooldown); user+goal cooldown; not
sampled. The first rule that holds names the
:class:`~stream.ces.users.prompt_decision.SuppressionReason`.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.survey_prompt import PromptOutcome
from stream.ces.registry import GoalConfig, GoalRegistry
from stream.ces.registry.nps_model import NpsConfig
from stream.ces.users.prompt_decision import SuppressionReason
from stream.ces.users.sampling import sticky_sample
from stream.ces.users.state import UserState


def trigger_enabled(goal_cfg: GoalConfig, outcome: PromptOutcome) -> bool:
    """Rule 3: whether the goal prompts at this outcome (``triggers``)."""
    triggers = goal_cfg.triggers
    if outcome is PromptOutcome.completed:
        return triggers.completed
    if outcome is PromptOutcome.abandoned:
        return triggers.abandoned
    return triggers.inferred_abandonment.enabled


def sampling_rate(goal_cfg: GoalConfig, rates: Mapping[str, float] | None) -> float:
    """The goal's sampling rate now: the adaptive one in ``rates``, else the fixed rate (or ``max_rate``)."""
    if rates is not None and goal_cfg.slug in rates:
        return rates[goal_cfg.slug]
    sampling = goal_cfg.sampling
    return sampling.rate if sampling.rate is not None else sampling.max_rate


def _dismissed(state: UserState, prompt_id: str) -> bool:
    display = state.displays.get(prompt_id) if state.displays else None
    return display is not None and display.dismissed is not None


#: The sample key of the NPS question (never a goal slug: those have no "~").
NPS_SAMPLE_KEY = "~nps"


def open_prompt(state: UserState, now_s: float) -> bool:
    """Rule 5: whether the user has an unexpired prompt, on any goal, not reported dismissed."""
    return any(p.expires_at_s > now_s and not _dismissed(state, pid) for pid, p in state.pending.items())


def over_budget(state: UserState, goal_cfg: GoalConfig, at_s: float) -> bool:
    """Rule 7: whether the user had the goal's ``budget.max_prompts`` prompts in its budget period."""
    budget = goal_cfg.budget
    return budget is not None and state.prompts_since(at_s - budget.period_seconds) >= budget.max_prompts


def nps_due(
    state: UserState,
    nps: NpsConfig,
    goal_cfg: GoalConfig,
    registry: GoalRegistry,
    *,
    outcome: PromptOutcome,
    at_s: float,
    user_ref: str,
    now_s: float,
    too_old: bool,
) -> bool:
    """Whether this moment may ask the NPS question: a completion (never an exit) of an enabled goal
    marked ``nps_moment``, in time, no prompt open, past the user cooldown, within the goal's budget,
    no NPS prompt in the NPS period, and the user in the NPS sample."""
    if not (goal_cfg.nps_moment and goal_cfg.enabled and outcome is PromptOutcome.completed) or too_old:
        return False
    if open_prompt(state, now_s) or over_budget(state, goal_cfg, at_s):
        return False
    if in_user_cooldown(state, registry, at_s):
        return False
    if state.last_nps_at_s is not None and at_s - state.last_nps_at_s < nps.period_seconds:
        return False
    rate = nps.sampling.rate
    return rate is not None and sticky_sample(user_ref, NPS_SAMPLE_KEY, rate)


def in_user_cooldown(state: UserState, registry: GoalRegistry, at_s: float) -> bool:
    """Rule 6: whether the user was prompted less than ``user_cooldown_seconds`` before ``at_s``."""
    # Cooldowns compare event times; an event older than the last prompt is inside the cooldown too.
    return state.last_prompt_at_s is not None and at_s - state.last_prompt_at_s < registry.user_cooldown_seconds


def goal_cooldown(state: UserState, goal_cfg: GoalConfig, at_s: float) -> SuppressionReason | None:
    """Rules 8 and 9: the cooldown after a dismissal of the goal's last prompt (when the goal sets one and
    the user dismissed it: it replaces rule 9), else the user+goal cooldown; None when neither holds."""
    after_dismissal = goal_cfg.cooldowns.after_dismissal_seconds
    dismissed_at = state.dismissed_by_goal.get(goal_cfg.slug) if state.dismissed_by_goal else None
    if after_dismissal is not None and dismissed_at is not None:
        if at_s - dismissed_at < after_dismissal:
            return SuppressionReason.dismissal_cooldown
    else:
        last_for_goal = state.last_prompt_by_goal.get(goal_cfg.slug)
        if last_for_goal is not None and at_s - last_for_goal < goal_cfg.cooldowns.user_goal_seconds:
            return SuppressionReason.user_goal_cooldown
    return None


def sampled(goal_cfg: GoalConfig, user_ref: str, rates: Mapping[str, float] | None) -> bool:
    """Rule 10: whether the user is in the goal's (sticky) sample at its rate now."""
    return sticky_sample(user_ref, goal_cfg.slug, sampling_rate(goal_cfg, rates))


def suppression_for(
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
    """The first rule that stops a prompt, in the documented order, or None to prompt.

    Each rule is one of the functions above (``stream.ces.users.explain`` reads them one by one).
    """
    if not goal_cfg.enabled:
        return SuppressionReason.goal_disabled
    if not trigger_enabled(goal_cfg, outcome):
        return SuppressionReason.trigger_disabled
    if too_old:
        return SuppressionReason.too_old
    if open_prompt(state, now_s):
        return SuppressionReason.open_prompt
    if in_user_cooldown(state, registry, at_s):
        return SuppressionReason.user_cooldown
    if over_budget(state, goal_cfg, at_s):
        return SuppressionReason.survey_budget
    reason = goal_cooldown(state, goal_cfg, at_s)
    if reason is not None:
        return reason
    if not sampled(goal_cfg, user_ref, rates):
        return SuppressionReason.not_sampled
    return None
