"""The high-effort answer: a negative-band answer with its comment, for someone to follow up."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

from schemas.feedback_comment import CommentedAnswer, FeedbackComment
from schemas.survey_prompt import SurveyKind

HIGH_EFFORT_ANSWER_SCHEMA_VERSION = 1
"""The high-effort answer's contract major version."""


class HighEffortAnswer(CommentedAnswer):
    """An answer in the negative band of its scale, with the comment the user wrote: one to follow up.

    Topic ``ces.high-effort-answers``, produced by ces-stream, keyed by the goal: one record per
    such answer, when its comment is known (with the score, or when a comment sent after the score
    joins it). For CES a hard experience, for CSAT a dissatisfied user, for NPS a detractor (0-6).
    The comment's personal data is masked, as on ``ces.feedback-comments``. ``user_ref`` is the
    pseudonym: reaching the user takes the app's own lookup, and only when ``may_contact`` is true.
    """

    schema_version: Annotated[int, Strict(), Field(ge=1, le=HIGH_EFFORT_ANSWER_SCHEMA_VERSION)] = (
        HIGH_EFFORT_ANSWER_SCHEMA_VERSION
    )
    """Contract major version of this message."""

    survey: SurveyKind
    """The question answered: ``ces``, ``csat`` or ``nps``."""
    app_version: str | None = None
    """The app version the goal event named (kept with its prompt); null when it named none, and for an inferred
    abandonment."""
    may_contact: bool | None = None
    """Whether the user agreed to be contacted about the answer, as the app sent it with the comment
    (``SurveyAnswer.may_contact``); null when the app does not say."""

    @classmethod
    def of(
        cls, comment: FeedbackComment, *, may_contact: bool | None, app_version: str | None = None
    ) -> HighEffortAnswer:
        """The high-effort answer of a (masked) feedback comment."""
        fields = comment.model_dump(exclude={"schema_version"})
        return cls(**fields, app_version=app_version, may_contact=may_contact)

    def kafka_key(self) -> str:
        """Return the record key for ``ces.high-effort-answers``: the goal slug.

        :returns: the key as text; encode it as UTF-8.
        """
        return self.goal
