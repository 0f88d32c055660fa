"""The survey prompt: ces-stream asks an app to show one CES question to one user."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from schemas.common import GoalSlug, Locale, OutputModel, OutputPart, Timestamp, UserId

_Text = Annotated[str, StringConstraints(min_length=1)]


class PromptOutcome(StrEnum):
    """How the user's attempt at the goal ended, as the prompt was triggered."""

    completed = "completed"
    abandoned = "abandoned"
    abandoned_inferred = "abandoned_inferred"
    """No completed/abandoned event arrived within the goal's timeout after ``started``."""


class ScaleKind(StrEnum):
    """The answer scales the domain uses (see docs/domain.md)."""

    five_point = "five_point"
    seven_point = "seven_point"
    five_point_inverted = "five_point_inverted"
    ten_point = "ten_point"
    emoticon = "emoticon"


class ScaleLabel(OutputPart):
    """The text shown for one point of the scale (usually only the ends are labelled)."""

    value: int
    """The scale point."""
    label: _Text
    """Its text in the prompt's locale."""


class ScaleSpec(OutputPart):
    """Everything an app needs to render the answer scale."""

    kind: ScaleKind
    """Which scale."""
    min_score: int
    """Lowest point."""
    max_score: int
    """Highest point."""
    inverted: bool
    """True when a low score means little effort (the "how much effort" wording)."""
    labels: list[ScaleLabel] = Field(default_factory=list)
    """Labels for some or all points, ascending by value."""

    @model_validator(mode="after")
    def _check_points(self) -> Self:
        if self.min_score >= self.max_score:
            raise ValueError(f"min_score {self.min_score} must be below max_score {self.max_score}")
        values = [label.value for label in self.labels]
        outside = [v for v in values if not self.min_score <= v <= self.max_score]
        if outside:
            raise ValueError(f"label values {outside} outside {self.min_score}..{self.max_score}")
        if len(set(values)) != len(values):
            raise ValueError(f"label values {values} repeat a point")
        return self


class SurveyPrompt(OutputModel):
    """Ask this user about this goal now.

    Topic ``ces.survey-prompts``, produced by ces-stream, keyed by the user id. The app shows it right
    after the interaction and answers with a ``SurveyAnswer`` carrying ``prompt_id``, before ``expires_at``.
    """

    prompt_id: UUID
    """Identity of this prompt; deterministic, so a replay re-sends the same id."""
    user_id: UserId
    """The user to ask (the app's own id; the app needs it to find the user)."""
    goal: GoalSlug
    """The goal the question is about."""
    outcome: PromptOutcome
    """How the attempt ended; the app may word the prompt differently after a drop-off."""
    locale: Locale
    """Language of the texts below."""
    question: _Text
    """The CES question, e.g. "How difficult or easy was it for you to download your invoice?"."""
    follow_up_question: _Text
    """The open follow-up question, e.g. "What could we do to make this easier?"."""
    scale: ScaleSpec
    """The answer scale to render."""
    created_at: Timestamp
    """When ces-stream decided to ask."""
    expires_at: Timestamp
    """Answers after this moment are not counted."""
    event_id: UUID
    """The goal event that triggered the prompt (for inferred abandonment: the ``started`` event)."""

    @model_validator(mode="after")
    def _check_expiry(self) -> Self:
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be after created_at")
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.survey-prompts``: the user id.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.user_id
