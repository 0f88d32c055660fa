"""The release verdict: a goal's new app release is found worse or better than the one before it."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, PositiveInt, Strict, StringConstraints, model_validator

from schemas.common import Channel, GoalSlug, OutputModel, Timestamp
from schemas.goal_event import MAX_APP_VERSION_CHARS
from schemas.goal_summary import Difference

RELEASE_VERDICT_SCHEMA_VERSION = 1
"""The release verdict's contract major version."""

_Version = Annotated[str, StringConstraints(min_length=1, max_length=MAX_APP_VERSION_CHARS)]


class ReleaseVerdict(OutputModel):
    """A new release of an app (an ``app_version`` on one channel) against the release before it, for one goal.

    Topic ``ces.release-verdicts``, produced by ces-stream, keyed by ``goal|channel|version``: one record
    when the release's CES share is found lower (``worse``) or higher (``better``) than the previous
    release's, that is when the confidence sequence of the difference excludes zero. The sequence stays
    valid however often it is read, so the chance of a wrong verdict per release is at most
    ``error_rate``. A restart may write the same verdict again (same key).
    """

    schema_version: Annotated[int, Strict(), Field(ge=1, le=RELEASE_VERDICT_SCHEMA_VERSION)] = (
        RELEASE_VERDICT_SCHEMA_VERSION
    )
    """Contract major version of this message."""

    goal: GoalSlug
    """The goal."""
    survey: Literal["ces", "csat"]
    """The goal's own question the shares are of."""
    channel: Channel
    """The channel of both releases (each channel ships its own versions)."""
    version: _Version
    """The new release: the version first seen last on this channel for this goal."""
    previous_version: _Version
    """The release first seen before it."""
    direction: Literal["worse", "better"]
    """``worse``: the new release's share is lower (harder, or less satisfied); ``better``: higher."""
    difference: Difference
    """The new release's CES share minus the previous one's."""
    lower: Difference
    """Lower bound of the difference's confidence sequence."""
    upper: Difference
    """Upper bound of the difference's confidence sequence."""
    answers: PositiveInt
    """Answers of the new release when the verdict was reached."""
    previous_answers: PositiveInt
    """Answers of the previous release in the window then."""
    error_rate: Annotated[float, Field(gt=0.0, lt=1.0)]
    """The chance of a wrong verdict per release (``CES_RELEASE_ERROR_RATE``)."""
    window: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*[smhd]$")]
    """The window the releases were read from (the longest window)."""
    first_seen: Timestamp
    """When the new release was first seen in the window (the start of its first bucket)."""
    decided_at: Timestamp
    """When ces-stream reached the verdict."""
    text: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    """The verdict in one line: ``2.3 · file-claim · web: −0.09 [−0.14, −0.04] after 412 answers (worse than 2.2)``."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.lower <= self.difference <= self.upper:
            raise ValueError("the difference must lie within its bounds")
        if (self.direction == "worse") != (self.upper < 0.0) or (self.direction == "better") != (self.lower > 0.0):
            raise ValueError("a worse verdict needs an interval below zero, a better one an interval above zero")
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.release-verdicts``: ``goal|channel|version``.

        :returns: the key as text; encode it as UTF-8.
        """
        return f"{self.goal}|{self.channel.value}|{self.version}"
