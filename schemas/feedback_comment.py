"""The feedback comment: a free-text follow-up answer, kept apart from the metrics."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import StringConstraints

from schemas.common import Channel, GoalSlug, Locale, OutputModel, Timestamp
from schemas.survey_answer import MAX_COMMENT_CHARS
from schemas.survey_prompt import PromptOutcome

UserRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A pseudonymous user reference: the first 32 hex chars of HMAC-SHA256(key, user id)."""


class FeedbackComment(OutputModel):
    """The answer to the follow-up question, with the context needed to read it.

    Topic ``ces.feedback-comments``, produced by ces-stream, keyed by the goal. Carries a pseudonymous
    ``user_ref``, never the app's user id; the comment text itself is the user's own words.
    """

    answer_id: UUID
    """The survey answer the comment came with."""
    prompt_id: UUID
    """The prompt that was answered."""
    goal: GoalSlug
    """The goal the comment is about."""
    outcome: PromptOutcome
    """How the attempt at the goal ended."""
    score: int
    """The score given with the comment, on the goal's scale."""
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

    def kafka_key(self) -> str:
        """Return the record key for ``ces.feedback-comments``: the goal slug.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.goal
