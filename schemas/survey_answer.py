"""The survey answer: the user's score (and optional comment) for one survey prompt."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import StringConstraints

from schemas.common import LAX, Channel, GoalSlug, InputModel, Timestamp, UserId

MAX_COMMENT_CHARS = 2000
"""Longest follow-up comment accepted, in characters (code points)."""


class SurveyAnswer(InputModel):
    """The answer to one survey prompt.

    Topic ``ces.survey-answers``, produced by apps, keyed by the user id. The score's range is checked
    against the prompt's scale by ces-stream, not here: the scale belongs to the prompt.
    """

    answer_id: Annotated[UUID, LAX]
    """Unique per answer; the same answer sent twice is a duplicate."""
    prompt_id: Annotated[UUID, LAX]
    """The prompt being answered (one answer per prompt)."""
    user_id: UserId
    """The app's user id; must be the user the prompt was sent to."""
    goal: GoalSlug
    """The prompt's goal, repeated so a mix-up is detectable."""
    score: int
    """The chosen point on the prompt's scale (a JSON integer; "5", 5.0 and true are rejected)."""
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)] | None = None
    """Answer to the follow-up question; goes to ces.feedback-comments, never to metrics."""
    answered_at: Timestamp
    """When the user submitted the answer."""
    channel: Annotated[Channel, LAX]
    """Where the user answered."""
