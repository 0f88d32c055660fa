"""What the prompt engine decides for one goal event or expiry, and the prompt it sends.

Shared by the engine (:mod:`stream.ces.users.prompt_engine`), its rules
(:mod:`stream.ces.users.suppression`) and the replay of recorded decisions
(:mod:`stream.ces.users.prompt_replay`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from schemas.dead_letter import DeadLetterReason
from schemas.survey_prompt import PromptOutcome, SurveyKind, SurveyPrompt
from stream.ces.goals import Fact
from stream.ces.registry import GoalConfig
from stream.ces.registry.nps_model import NpsConfig
from stream.ces.users.prompt_records import PendingPrompt

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
    dismissal_cooldown = "dismissal_cooldown"
    """The user dismissed this goal's last prompt less than ``cooldowns.after_dismissal_seconds`` ago."""
    survey_budget = "survey_budget"
    """The user had the goal's ``budget.max_prompts`` prompts (any goal, any kind) in its budget period."""
    nps_asked = "nps_asked"
    """The registry's NPS question was due at this moment and asked instead (``nps.priority: nps``)."""


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


def build_prompt(
    goal_cfg: GoalConfig, prompt_id: str, pending: PendingPrompt, user_id: str, nps: NpsConfig | None = None
) -> SurveyPrompt | None:
    """The prompt of a pending record in the record's locale: the goal's own question (its kind), or
    the NPS question at the goal's moment; None for an NPS prompt when the registry has no NPS any more."""
    locale = pending.locale
    texts: GoalConfig | NpsConfig = goal_cfg
    if pending.survey == SurveyKind.nps.value:
        if nps is None:
            return None
        texts = nps
    return SurveyPrompt(
        prompt_id=uuid.UUID(prompt_id),
        user_id=user_id,
        goal=goal_cfg.slug,
        outcome=PromptOutcome(pending.outcome),
        locale=locale,
        question=texts.question_for(locale),
        follow_up_question=texts.follow_up_for(locale),
        scale=texts.scale_spec_for(locale),
        created_at=utc(pending.created_at_s),
        expires_at=utc(pending.expires_at_s),
        event_id=uuid.UUID(pending.event_id),
        survey=SurveyKind(pending.survey),
        follow_ups=texts.follow_ups_for(locale),
    )


def utc(at_s: float) -> datetime:
    return datetime.fromtimestamp(at_s, tz=UTC)
