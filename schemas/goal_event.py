"""The goal event: an app reports that a user started, completed or abandoned a goal."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from schemas.common import LAX, Channel, GoalSlug, InputModel, Locale, Timestamp, UserId

#: The longest ``app_version`` accepted (a release name: ``web-2025.01.3``).
MAX_APP_VERSION_CHARS = 64


class GoalEventType(StrEnum):
    """What happened to the goal."""

    started = "started"
    completed = "completed"
    abandoned = "abandoned"


class GoalEvent(InputModel):
    """A user started, completed (golden path) or abandoned (drop-off) one customer goal.

    Topic ``ces.goal-events``, produced by apps, keyed by the user id.
    """

    event_id: Annotated[UUID, LAX]
    """Unique per event; a second event with the same id is a duplicate."""
    type: Annotated[GoalEventType, LAX]
    """started opens the goal, completed and abandoned close it."""
    goal: GoalSlug
    """Slug of the goal in the goal registry."""
    user_id: UserId
    """The app's user id; ces-stream pseudonymises it before storing anything."""
    session_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    """The app's session id, if it has one."""
    occurred_at: Timestamp
    """When the interaction happened on the user's side (event time)."""
    channel: Annotated[Channel, LAX]
    """Where the interaction happened."""
    locale: Locale
    """The user's language, used to pick the survey wording."""
    app_version: Annotated[str, StringConstraints(max_length=MAX_APP_VERSION_CHARS)] | None = None
    """Version of the app that sent the event."""
    attributes: Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], Annotated[str, StringConstraints(max_length=256)]],
        Field(max_length=32),
    ] = Field(default_factory=dict)
    """Free string attributes for the app's own analysis (at most 32); never used as metric labels."""
