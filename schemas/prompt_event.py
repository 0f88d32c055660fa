"""The prompt event: an app reports that it showed a survey prompt to the user, or that the user dismissed it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from schemas.common import LAX, Channel, GoalSlug, InputModel, Timestamp, UserId


class PromptEventType(StrEnum):
    """What happened to the prompt in the app."""

    shown = "shown"
    dismissed = "dismissed"


class PromptEvent(InputModel):
    """The app showed a survey prompt to its user (``shown``), or the user closed it without answering
    (``dismissed``). Optional: apps that send none keep every figure as it was.

    Topic ``ces.prompt-events``, produced by apps, keyed by the user id. With them ces-stream counts the
    funnel (prompts sent, shown, dismissed, answered), the response ratio over the prompts shown, and
    can tell an app that stopped rendering prompts from users who stopped answering them.
    """

    event_id: Annotated[UUID, LAX]
    """Unique per event; the same event sent twice is a duplicate."""
    type: Annotated[PromptEventType, LAX]
    """shown: the prompt appeared on the user's screen; dismissed: the user closed it without answering."""
    prompt_id: Annotated[UUID, LAX]
    """The prompt (as ces-stream sent it)."""
    user_id: UserId
    """The app's user id; must be the user the prompt was sent to."""
    goal: GoalSlug
    """The prompt's goal, repeated so a mix-up is detectable."""
    occurred_at: Timestamp
    """When the prompt was shown or dismissed on the user's side (event time)."""
    channel: Annotated[Channel, LAX]
    """Where it was shown."""
