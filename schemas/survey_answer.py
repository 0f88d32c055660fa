"""The survey answer: the user's score (and optional comment) for one survey prompt."""

from __future__ import annotations

from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from schemas.common import LAX, Channel, GoalSlug, InputModel, Timestamp, UserId
from schemas.survey_prompt import SurveyKind

MAX_COMMENT_CHARS = 2000
"""Longest follow-up comment accepted, in characters (code points)."""

SURVEY_ANSWER_SCHEMA_VERSION = 2
"""The answer's contract major version: 2 since ``survey`` and the comment sent after the score."""

_SCORE_BEFORE_VERSION_2: dict[str, Any] = {
    "if": {"not": {"required": ["schema_version"], "properties": {"schema_version": {"const": 2}}}},
    "then": {"required": ["score"], "properties": {"score": {"type": "integer"}}},
}
_COMMENT_WITHOUT_SCORE: dict[str, Any] = {
    "if": {"anyOf": [{"not": {"required": ["score"]}}, {"properties": {"score": {"type": "null"}}}]},
    "then": {"required": ["comment"], "properties": {"comment": {"type": "string", "pattern": "\\S"}}},
}


class SurveyAnswer(InputModel):
    """The answer to one survey prompt, or (from schema_version 2) its comment sent after the score.

    Topic ``ces.survey-answers``, produced by apps, keyed by the user id. The score's range is checked
    against the prompt's scale by ces-stream, not here: the scale belongs to the prompt. An app that
    asks the follow-up question after the score was sent sends the comment as a second record for the
    same prompt, with its own ``answer_id``, ``schema_version`` 2 and no ``score``: it joins the score.
    """

    # What the validator below checks, for JSON Schema readers: a score unless version 2 brings a comment.
    model_config = ConfigDict(json_schema_extra={"allOf": [_SCORE_BEFORE_VERSION_2, _COMMENT_WITHOUT_SCORE]})

    schema_version: Annotated[int, Field(ge=1, le=SURVEY_ANSWER_SCHEMA_VERSION)] = 1
    """Contract major version; absent means 1, a newer major is rejected."""

    answer_id: Annotated[UUID, LAX]
    """Unique per answer; the same answer sent twice is a duplicate."""
    prompt_id: Annotated[UUID, LAX]
    """The prompt being answered (one answer per prompt)."""
    user_id: UserId
    """The app's user id; must be the user the prompt was sent to."""
    goal: GoalSlug
    """The prompt's goal, repeated so a mix-up is detectable."""
    score: int | None = None
    """The chosen point on the prompt's scale (a JSON integer; "5", 5.0 and true are rejected). Required in
    schema_version 1; from 2 on absent (or null) in a record that only brings the comment."""
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)] | None = None
    """Answer to the follow-up question; goes to ces.feedback-comments, never to metrics."""
    answered_at: Timestamp
    """When the user submitted the answer."""
    channel: Annotated[Channel, LAX]
    """Where the user answered."""
    survey: Annotated[SurveyKind, LAX] | None = None
    """The prompt's survey kind, repeated (optional) so a mix-up is detectable."""
    may_contact: bool | None = None
    """Whether the user agreed to be contacted about this answer (optional; a JSON boolean). Travels with
    the comment of a negative-band answer to ces.high-effort-answers; ces-stream keeps it nowhere else."""

    @model_validator(mode="after")
    def _score_or_comment(self) -> Self:
        if self.score is None:
            if self.schema_version < 2:
                raise ValueError("score: required in schema_version 1 (a comment-only record needs version 2)")
            if not (self.comment or "").strip():
                raise ValueError("score: a record without a score must bring a comment")
        return self
