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


def _dismissed(state: UserState, prompt_id: str) -> bool:
    display = state.displays.get(prompt_id) if state.displays else None
    return display is not None and display.dismissed is not None


#: The sample key of the NPS question (never a goal slug: those have no "~").
NPS_SAMPLE_KEY = "~nps"


def _open_prompt(state: UserState, now_s: float) -> bool:
    return any(p.expires_at_s > now_s and not _dismissed(state, pid) for pid, p in state.pending.items())


def _over_budget(state: UserState, goal_cfg: GoalConfig, at_s: float) -> bool:
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
    if _open_prompt(state, now_s) or _over_budget(state, goal_cfg, at_s):
        return False
    if state.last_prompt_at_s is not None and at_s - state.last_prompt_at_s < registry.user_cooldown_seconds:
        return False
    if state.last_nps_at_s is not None and at_s - state.last_nps_at_s < nps.period_seconds:
        return False
    rate = nps.sampling.rate
    return rate is not None and sticky_sample(user_ref, NPS_SAMPLE_KEY, rate)


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
    """The first rule that stops a prompt, in the documented order, or None to prompt."""
    if not goal_cfg.enabled:
        return SuppressionReason.goal_disabled
    if not _trigger_enabled(goal_cfg, outcome):
        return SuppressionReason.trigger_disabled
    if too_old:
        return SuppressionReason.too_old
    if _open_prompt(state, now_s):
        return SuppressionReason.open_prompt
    # Cooldowns compare event times; an event older than the last prompt is inside the cooldown too.
    if state.last_prompt_at_s is not None and at_s - state.last_prompt_at_s < registry.user_cooldown_seconds:
        return SuppressionReason.user_cooldown
    if _over_budget(state, goal_cfg, at_s):
        return SuppressionReason.survey_budget
    after_dismissal = goal_cfg.cooldowns.after_dismissal_seconds
    dismissed_at = state.dismissed_by_goal.get(goal_cfg.slug) if state.dismissed_by_goal else None
    if after_dismissal is not None and dismissed_at is not None:
        if at_s - dismissed_at < after_dismissal:
            return SuppressionReason.dismissal_cooldown
    else:
        last_for_goal = state.last_prompt_by_goal.get(goal_cfg.slug)
        if last_for_goal is not None and at_s - last_for_goal < goal_cfg.cooldowns.user_goal_seconds:
            return SuppressionReason.user_goal_cooldown
    if not sticky_sample(user_ref, goal_cfg.slug, _sampling_rate(goal_cfg, rates)):
        return SuppressionReason.not_sampled
    return None
