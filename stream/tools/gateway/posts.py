"""``POST /v1/goal-events``, ``/v1/answers`` and ``/v1/prompt-events``: records from apps onto the input topics.

In this order: the token or API key (401), the body's size (413, unread), the records judged by the
intake's checks (:mod:`stream.ces.gateway.bodies`), a user token's records all its user's (403,
nothing written). Then, in one go, each valid record goes to its input topic keyed by its user id,
and each refused one to the dead-letter topic as the intake would write it; the answer waits for
the broker's acknowledgement of all of them. A record whose write was not acknowledged in time makes
the answer 503 with ``Retry-After``: the client sends the body again, and what was written already is
then answered "duplicate" (an id accepted within ``CES_GATEWAY_DEDUPE_SECONDS`` is not produced again;
one being written by another request waits for that write).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from schemas import DeadLetterReason
from stream.ces.gateway import (
    Body,
    BodyProblem,
    InputKind,
    Item,
    RecentIds,
    TokenClaims,
    gateway_dead_letter,
    lenient_user_id,
    read_body,
)
from stream.ces.intake import Limits, Rejection
from stream.observability.gateway_metrics import GatewayMetrics
from stream.settings import Settings
from stream.tools.gateway.auth import JSON, Authenticator, Refused, json_body, json_error
from stream.tools.gateway.kafka_io import GatewayProducer, OutRecord

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ITEM_STATUS = {"accepted": 202, "duplicate": 200, "unavailable": 503}


@dataclass(slots=True)
class _Plan:
    """What becomes of one item: its result, the record it writes (the input or its dead letter), and whether it was written."""

    item: Item
    result: str
    record: OutRecord | None = None
    dedupe_key: str | None = None
    wait_for: asyncio.Future[bool] | None = None
    written: bool = True


def _item_status(plan: _Plan) -> int:
    if not plan.written:
        return 503
    if plan.result == "rejected":
        rejection = plan.item.result
        assert isinstance(rejection, Rejection)
        return 400 if rejection.reason is DeadLetterReason.not_json else 422
    return ITEM_STATUS[plan.result]


def _item_json(plan: _Plan) -> dict[str, Any]:
    result = plan.result if plan.written else "unavailable"
    out: dict[str, Any] = {"index": plan.item.index, "status": result, "id": plan.item.record_id}
    rejection = plan.item.result
    if isinstance(rejection, Rejection):
        out["reason"] = rejection.reason.value
        out["detail"] = rejection.detail
    if not plan.written:
        out["retry"] = "the broker did not acknowledge in time: send it again"
    return out


class PostIntake:
    """The three POST endpoints of one gateway."""

    def __init__(
        self,
        settings: Settings,
        producer: GatewayProducer,
        metrics: GatewayMetrics,
        auth: Authenticator,
        known_goals: frozenset[str],
        user_ref: Callable[[str], str],
    ) -> None:
        self.producer = producer
        self.metrics = metrics
        self.auth = auth
        self.known_goals = known_goals
        self.user_ref = user_ref
        self.limits = Limits(settings.max_event_bytes, settings.future_skew_seconds, settings.late_grace_seconds)
        self.topics = {
            InputKind.goal_events: settings.topic_goal_events,
            InputKind.answers: settings.topic_survey_answers,
            InputKind.prompt_events: settings.topic_prompt_events,
        }
        self.dead_letter_topic = settings.topic_dead_letter
        self.max_body = settings.gateway_max_body_bytes
        self.max_items = settings.gateway_max_batch_items
        self.retry_after = str(settings.gateway_retry_after_seconds)
        self.recent = RecentIds(settings.gateway_dedupe_ids, settings.gateway_dedupe_seconds)
        self.inflight: dict[str, asyncio.Future[bool]] = {}

    def handler(self, kind: InputKind) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, kind)

        return handle

    async def handle(self, request: web.Request, kind: InputKind) -> web.StreamResponse:
        poster = self.auth.poster(request)
        body = await self._read(request)
        now_s = time.time()
        parsed = read_body(body, kind, self.known_goals, self.limits, now_s, self.max_items)
        if isinstance(parsed, BodyProblem):
            return await self._body_problem(kind, parsed, body, poster, now_s)
        if poster is not None:
            for item in parsed.items:
                if not isinstance(item.result, Rejection) and item.result.user_id != poster.user_id:
                    raise self.auth.forbidden(f"record {item.index} is another user's than the token's (sub)")
        plans = self._plan(kind, parsed, poster, now_s)
        await self._write(plans, now_s)
        return self._respond(kind, parsed.batch, plans)

    async def _read(self, request: web.Request) -> bytes:
        too_large = f"the body is larger than {self.max_body} bytes (CES_GATEWAY_MAX_BODY_BYTES)"
        if request.content_length is not None and request.content_length > self.max_body:
            raise Refused(json_error(413, "body_too_large", too_large))
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Refused(json_error(413, "body_too_large", too_large)) from None

    def _dead_letter(
        self, kind: InputKind, rejection: Rejection, raw: bytes, user: str | None, now_s: float
    ) -> OutRecord:
        topic = self.topics[kind]
        letter = gateway_dead_letter(
            rejection, topic=topic, key=None if user is None else user.encode(), value=raw, now_s=now_s
        )
        return OutRecord(self.dead_letter_topic, letter.kafka_key().encode(), letter.model_dump_json().encode())

    async def _body_problem(
        self, kind: InputKind, problem: BodyProblem, body: bytes, poster: TokenClaims | None, now_s: float
    ) -> web.Response:
        if problem.rejection is None:
            return json_error(problem.status, problem.error, problem.detail)
        user = poster.user_id if poster is not None else None
        record = self._dead_letter(kind, problem.rejection, body, user, now_s)
        (outcome,) = await self.producer.send([record], int(now_s * 1000))
        if outcome is not None:
            return self._unavailable(json_error(503, "unavailable", "the broker did not acknowledge in time: retry"))
        self.metrics.dead_letter(kind, problem.rejection.reason)
        return json_error(problem.status, problem.error, problem.detail)

    def _plan(self, kind: InputKind, body: Body, poster: TokenClaims | None, now_s: float) -> list[_Plan]:
        plans: list[_Plan] = []
        in_body: set[str] = set()
        for item in body.items:
            result = item.result
            if isinstance(result, Rejection):
                user = poster.user_id if poster is not None else lenient_user_id(item.raw)
                plans.append(_Plan(item, "rejected", self._dead_letter(kind, result, item.raw, user, now_s)))
                continue
            key = f"{kind.value}|{item.record_id}|{self.user_ref(result.user_id)}"
            if key in in_body or self.recent.seen(key, now_s):
                plans.append(_Plan(item, "duplicate"))
            elif key in self.inflight:
                plans.append(_Plan(item, "duplicate", wait_for=self.inflight[key]))
            else:
                record = OutRecord(self.topics[kind], result.user_id.encode(), item.raw)
                plans.append(_Plan(item, "accepted", record, dedupe_key=key))
            in_body.add(key)
        return plans

    async def _write(self, plans: list[_Plan], now_s: float) -> None:
        writing = [plan for plan in plans if plan.record is not None]
        if writing:
            loop = asyncio.get_running_loop()
            for plan in writing:
                if plan.dedupe_key is not None:
                    self.inflight[plan.dedupe_key] = loop.create_future()
            records = [plan.record for plan in writing if plan.record is not None]
            outcome = self.producer.submit(records, int(now_s * 1000))
            settled = False

            def settle(done: asyncio.Future[list[BaseException | None]]) -> None:
                nonlocal settled
                if not settled:
                    settled = True
                    self._settle(writing, done.result())

            # A client that hangs up does not stop the bookkeeping of what it sent: the callback does it.
            outcome.add_done_callback(settle)
            await asyncio.shield(outcome)
            settle(outcome)  # an outcome done at once (no producer yet) has not run its callbacks here
        for plan in plans:
            if plan.wait_for is not None:
                plan.written = await asyncio.shield(plan.wait_for)

    def _settle(self, writing: list[_Plan], outcomes: list[BaseException | None]) -> None:
        acked_s = time.time()
        for plan, outcome in zip(writing, outcomes, strict=True):
            plan.written = outcome is None
            if plan.dedupe_key is not None:
                future = self.inflight.pop(plan.dedupe_key, None)
                if future is not None and not future.done():
                    future.set_result(plan.written)
                if plan.written:
                    self.recent.add(plan.dedupe_key, acked_s)

    def _respond(self, kind: InputKind, batch: bool, plans: list[_Plan]) -> web.Response:
        for plan in plans:
            self.metrics.items.labels(kind.value, plan.result if plan.written else "unavailable").inc()
            rejection = plan.item.result
            if plan.result == "rejected" and plan.written and isinstance(rejection, Rejection):
                self.metrics.dead_letter(kind, rejection.reason)
        statuses = [_item_status(plan) for plan in plans]
        if not batch:
            status, payload = statuses[0], _item_json(plans[0])
        else:
            if 503 in statuses:
                status = 503
            elif all(plan.result == "rejected" for plan in plans):
                status = 400 if set(statuses) == {400} else 422
            else:
                status = 200
            counts = {
                name: sum(1 for p in plans if (p.result if p.written else "unavailable") == name)
                for name in ("accepted", "duplicate", "rejected", "unavailable")
            }
            payload = {**counts, "results": [_item_json(plan) for plan in plans]}
        response = web.Response(status=status, body=json_body(payload), content_type=JSON)
        return self._unavailable(response) if status == 503 else response

    def _unavailable(self, response: web.Response) -> web.Response:
        response.headers["Retry-After"] = self.retry_after
        self.metrics.unavailable.inc()
        return response
