"""``GET /api/explain?user=<id>&goal=<slug>[&outcome=&channel=]``: why a user would (not) be asked now.

Behind a bearer token (``CES_EXPLAIN_TOKEN``; unset: the endpoint is off, 404). The raw user id is
pseudonymised with the pseudonym key at once and used for nothing else: it is never logged, never in a
metric, never in the answer (which names the user reference and its partition). Only the worker that owns
the user's partition of ``<app_id>-user-events`` holds the state: it answers from its ``users`` table
(:func:`stream.ces.users.explain`, read-only); another worker answers 421 with the partition, and
``ces-stream explain`` asks the next one.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from faust.types import AppT

from schemas.common import Channel
from schemas.survey_prompt import PromptOutcome
from stream.ces.intake import partition_for, pseudonymise
from stream.ces.registry import GoalRegistry
from stream.ces.users import UserState, explain
from stream.ces.users.explain import EXPLAINED_OUTCOMES
from stream.pipeline.stage_helpers import owned_partitions
from stream.settings import Settings

#: The status of a worker that does not own the user's partition (the client asks another one).
NOT_OWNER = 421

_MAX_USER_ID_CHARS = 256


class ExplainApi:
    """The answers of ``/api/explain``, from the user stage's table.

    :param load_state: the user stage's read of one stored state (``UserStage.load_state``).
    :param rates: the user stage's current adaptive sampling rates (read at each request).
    :param topic_name: ``<app_id>-user-events``, whose partitions hold the users.
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        registry: GoalRegistry,
        topic_name: str,
        load_state: Callable[[str], UserState],
        rates: Callable[[], Mapping[str, float]],
    ) -> None:
        self.app = app
        self.registry = registry
        self.topic_name = topic_name
        self.load_state = load_state
        self.rates = rates
        self.partitions = settings.topic_partitions
        self.key = settings.pseudonym_key.get_secret_value().encode()
        token = settings.explain_token
        self.token = None if token is None else token.get_secret_value().encode()

    def authorized(self, authorization: str | None) -> bool:
        """Whether the ``Authorization`` header carries the token (compared in constant time)."""
        scheme, _, given = (authorization or "").partition(" ")
        return (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), self.token)
        )

    def answer(
        self, query: Mapping[str, str], authorization: str | None, now_s: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of one request."""
        if self.token is None:
            return 404, {"error": "the explain endpoint is off (CES_EXPLAIN_TOKEN is not set)"}
        if not self.authorized(authorization):
            return 401, {"error": "a bearer token (CES_EXPLAIN_TOKEN) is required"}
        user_id, goal = query.get("user", ""), query.get("goal", "")
        if not user_id or len(user_id) > _MAX_USER_ID_CHARS:
            return 400, {"error": "user: the user id, 1..256 characters"}
        if self.registry.get(goal) is None:
            return 400, {"error": f"goal: {goal!r} is not in the goal registry", "goals": list(self.registry.slugs)}
        outcome = query.get("outcome") or PromptOutcome.completed.value
        if outcome not in {o.value for o in EXPLAINED_OUTCOMES}:
            return 400, {"error": "outcome: completed or abandoned"}
        channel = query.get("channel") or None
        if channel is not None and channel not in {c.value for c in Channel}:
            return 400, {"error": f"channel: one of {', '.join(c.value for c in Channel)}"}
        user_ref = pseudonymise(user_id, self.key)
        partition = partition_for(user_ref, self.partitions)
        if self.app.rebalancing:
            return 503, {"error": "the workers are rebalancing: ask again in a moment", "partition": partition}
        if partition not in owned_partitions(self.app, self.topic_name):
            return NOT_OWNER, {
                "error": f"partition {partition} of {self.topic_name} is owned by another worker: ask the others",
                "partition": partition,
                "owner": False,
            }
        explanation = explain(
            self.registry,
            self.load_state(user_ref),
            goal,
            user_ref=user_ref,
            now_s=time.time() if now_s is None else now_s,
            outcome=PromptOutcome(outcome),
            channel=channel,
            rates=self.rates(),
        )
        return 200, {"user_ref": user_ref, "partition": partition, "owner": True, **explanation.to_json_obj()}
