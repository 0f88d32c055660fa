"""The survey prompt: ces-stream asks an app to show one survey question (CES, CSAT or NPS) to one user."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, Strict, StringConstraints, model_validator

from schemas.common import GoalSlug, Locale, OutputModel, OutputPart, Timestamp, UserId

_Text = Annotated[str, StringConstraints(min_length=1)]

SURVEY_PROMPT_SCHEMA_VERSION = 2
"""The prompt's contract major version: 2 since survey kinds and follow-up questions by band."""


class SurveyKind(StrEnum):
    """Which question a prompt asks (docs/domain.md, "CES, CSAT and NPS")."""

    ces = "ces"
    """Customer Effort Score: how easy was this goal (transactional, per goal)."""
    csat = "csat"
    """Customer satisfaction with this interaction (transactional, per goal)."""
    nps = "nps"
    """Net Promoter Score: how likely to recommend us (relational: per user, at most once per period)."""


class AnswerBand(StrEnum):
    """A band of scores with its own follow-up question: how the score counts (CES: easy, neutral,
    difficult; CSAT: satisfied or not; NPS: promoters, passives, detractors)."""

    negative = "negative"
    neutral = "neutral"
    positive = "positive"


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
    zero_to_ten = "zero_to_ten"
    """0..10, the NPS scale: 0 = not at all likely, 10 = extremely likely."""
    yes_no = "yes_no"
    """0 = no, 1 = yes (a CSAT "were you satisfied?")."""


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


class FollowUp(OutputPart):
    """The follow-up question to ask after a score in one band."""

    band: AnswerBand
    """Which band."""
    scores: list[int]
    """The scale points in the band, ascending."""
    question: _Text
    """The open question to ask after one of those scores, in the prompt's locale."""


class SurveyPrompt(OutputModel):
    """Ask this user one survey question now: about this goal (CES, CSAT), or NPS at this goal's moment.

    Topic ``ces.survey-prompts``, produced by ces-stream, keyed by the user id. The app shows it right
    after the interaction and answers with a ``SurveyAnswer`` carrying ``prompt_id``, before ``expires_at``.
    """

    schema_version: Annotated[int, Strict(), Field(ge=1, le=SURVEY_PROMPT_SCHEMA_VERSION)] = (
        SURVEY_PROMPT_SCHEMA_VERSION
    )
    """Contract major version of this message: 2 since ``survey`` and ``follow_ups`` (1: CES only, one
    follow-up question)."""
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
    """The question, e.g. "How difficult or easy was it for you to download your invoice?"."""
    follow_up_question: _Text
    """The open follow-up question, e.g. "What could we do to make this easier?"; asked after any score
    when ``follow_ups`` is empty."""
    scale: ScaleSpec
    """The answer scale to render."""
    created_at: Timestamp
    """When ces-stream decided to ask."""
    expires_at: Timestamp
    """Answers after this moment are not counted."""
    event_id: UUID
    """The goal event that triggered the prompt (for inferred abandonment: the ``started`` event)."""
    survey: SurveyKind = SurveyKind.ces
    """Which question this is: ``ces`` or ``csat`` about ``goal``, or ``nps`` asked at ``goal``'s moment."""
    follow_ups: list[FollowUp] = Field(default_factory=list)
    """Follow-up questions by band of the score. When not empty it is complete: after a score in a band
    that is not listed, ask nothing. Empty: ask ``follow_up_question`` after any score."""

    @model_validator(mode="after")
    def _check_expiry(self) -> Self:
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be after created_at")
        if self.schema_version < 2 and (self.survey is not SurveyKind.ces or self.follow_ups):
            raise ValueError("survey and follow_ups are written from schema_version 2 on")
        seen: set[int] = set()
        for follow_up in self.follow_ups:
            outside = [s for s in follow_up.scores if not self.scale.min_score <= s <= self.scale.max_score]
            if outside or seen.intersection(follow_up.scores) or not follow_up.scores:
                raise ValueError(
                    f"follow_ups: the {follow_up.band} band's scores {follow_up.scores} are not "
                    "distinct points of the scale"
                )
            seen.update(follow_up.scores)
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.survey-prompts``: the user id.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.user_id
