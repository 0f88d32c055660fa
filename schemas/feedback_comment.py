"""The feedback comment: a free-text follow-up answer, kept apart from the metrics."""

from __future__ import annotations

from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, Strict, StringConstraints, model_validator

from schemas.common import Channel, GoalSlug, Locale, OutputModel, Timestamp
from schemas.survey_answer import MAX_COMMENT_CHARS
from schemas.survey_prompt import PromptOutcome, SurveyKind

FEEDBACK_COMMENT_SCHEMA_VERSION = 2
"""The comment's contract major version: 2 since ``survey``."""

UserRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A pseudonymous user reference: the first 32 hex chars of HMAC-SHA256(key, user id)."""


class CommentedAnswer(OutputModel):
    """What every message about an answer's comment carries: the answer, the comment and their context."""

    answer_id: UUID
    """The survey answer the comment came with (the comment-only record, when it came after the score)."""
    prompt_id: UUID
    """The prompt that was answered."""
    goal: GoalSlug
    """The goal the comment is about."""
    outcome: PromptOutcome
    """How the attempt at the goal ended."""
    score: int
    """The score given with the comment (or before it), on the prompt's scale."""
    user_ref: UserRef
    """Pseudonymous user reference (keyed hash), never the raw user id."""
    comment: Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMENT_CHARS)]
    """The comment, non-empty."""
    answered_at: Timestamp
    """When the user answered."""
    channel: Channel
    """Where the user answered."""
    locale: Locale | None = None
    """Language of the prompt the user answered, if known."""


class FeedbackComment(CommentedAnswer):
    """The answer to the follow-up question, with the context needed to read it.

    Topic ``ces.feedback-comments``, produced by ces-stream, keyed by the goal. Carries a pseudonymous
    ``user_ref``, never the app's user id; the comment text itself is the user's own words.
    """

    schema_version: Annotated[int, Strict(), Field(ge=1, le=FEEDBACK_COMMENT_SCHEMA_VERSION)] = (
        FEEDBACK_COMMENT_SCHEMA_VERSION
    )
    """Contract major version of this message: 2 since ``survey``."""

    survey: SurveyKind = SurveyKind.ces
    """The question the comment follows up: ``ces``, ``csat`` or ``nps``."""

    @model_validator(mode="after")
    def _kind_from_version_2(self) -> Self:
        if self.schema_version < 2 and self.survey is not SurveyKind.ces:
            raise ValueError("survey is written from schema_version 2 on")
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.feedback-comments``: the goal slug.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.goal
