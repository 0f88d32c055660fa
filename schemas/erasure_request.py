"""The erasure request: forget one user (AVG/GDPR article 17), as far as ces-stream can."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from schemas.common import LAX, InputModel, Timestamp, UserId


class ErasureRequest(InputModel):
    """Remove everything ces-stream holds about one user that it can remove.

    Topic ``ces.erasure-requests``, produced by operators (``ces-stream erase --user ID``) or a privacy
    tool, keyed by the user id. ces-stream deletes the user's per-user state (a tombstone in every table
    keyed by the user's pseudonym); the user's next event is treated as a new user's. Anonymous figures
    are not changed. A request for a user ces-stream does not know is a no-op; a request sent twice does
    nothing the second time. What an erasure cannot reach is listed in ``docs/personal-data.md``.
    """

    request_id: Annotated[UUID, LAX]
    """Unique per request, for the operator's records (a request sent again keeps its id)."""
    user_id: UserId
    """The app's user id to forget, exactly as the apps send it in goal events and answers."""
    requested_at: Timestamp
    """When the erasure was asked for."""

    def kafka_key(self) -> str:
        """Return the record key for ``ces.erasure-requests``: the user id (as for goal events).

        :returns: the key as text; encode it as UTF-8.
        """
        return self.user_id
