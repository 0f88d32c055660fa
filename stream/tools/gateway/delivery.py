"""``GET /v1/prompts/stream`` (Server-Sent Events) and ``GET /v1/prompts`` (long-poll): a user's prompts, live;
``POST /v1/prompts/ticket``: the stream ticket that opens them from a browser.

Both take a stream ticket (the ``ticket`` query parameter: EventSource cannot set headers, and a
ticket names no user id) or the user's token in the ``Authorization`` header, and the id
of the last prompt the client saw (``Last-Event-ID``, which a browser sends by itself when it
reconnects, or the ``after`` query parameter); they first write what the gateway holds for the user
after that id (without one: every unexpired prompt the user has not answered, seen or dismissed),
then each new prompt as it is read from the topic. A stream ends when its ticket (or token) expires
(after an ``expired`` event) or when the gateway stops.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

from aiohttp import web

from stream.ces.gateway import (
    HEARTBEAT,
    EventId,
    PromptRecord,
    TicketClaims,
    parse_event_id,
    sse_event,
    sse_prompt,
    stream_preamble,
)
from stream.observability.gateway_metrics import GatewayMetrics
from stream.settings import Settings
from stream.tools.gateway.auth import JSON, Authenticator, Refused, json_body, json_error
from stream.tools.gateway.hub import Hub, Subscriber, TooMany

DEFAULT_WAIT_S = 25.0


def _after(request: web.Request) -> EventId | None:
    """The last id the client saw: the Last-Event-ID header (a browser's reconnect), else ``after``.

    :raises Refused: 400 for one that is not ``<partition>-<offset>``.
    """
    text = request.headers.get("Last-Event-ID") or request.query.get("after")
    if not text:
        return None
    try:
        return parse_event_id(text)
    except ValueError as exc:
        raise Refused(json_error(400, "bad_event_id", str(exc))) from None


class Delivery:
    """The two prompt endpoints of one gateway."""

    def __init__(self, settings: Settings, hub: Hub, auth: Authenticator, metrics: GatewayMetrics) -> None:
        self.hub = hub
        self.auth = auth
        self.metrics = metrics
        self.heartbeat_s = settings.gateway_heartbeat_seconds
        self.max_wait_s = settings.gateway_long_poll_max_seconds
        self.retry_after = str(settings.gateway_retry_after_seconds)

    def _subscribe(self, user_ref: str) -> Subscriber:
        try:
            return self.hub.subscribe(user_ref)
        except TooMany as exc:
            if exc.per_user:
                raise Refused(json_error(429, "too_many_connections", "this user has too many open streams")) from None
            raise Refused(
                json_error(503, "too_many_connections", "the gateway is full", {"Retry-After": self.retry_after})
            ) from None

    def _delivered(self, prompt: PromptRecord, via: str, live: bool, now_s: float) -> None:
        self.metrics.delivered.labels(via, "live" if live else "resume").inc()
        if live:
            self.metrics.delivery_lag.labels(via).observe(max(now_s - prompt.created_s, 0.0))

    async def ticket(self, request: web.Request) -> web.Response:
        """A stream ticket for the user of the token in the Authorization header, expiring with the token."""
        claims = self.auth.user(request)
        expires_at = datetime.fromtimestamp(claims.expires_s, UTC).isoformat().replace("+00:00", "Z")
        body = {"ticket": self.auth.ticket(claims), "expires_at": expires_at}
        return web.Response(body=json_body(body), content_type=JSON, headers={"Cache-Control": "no-store"})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        claims = self.auth.reader(request)
        after = _after(request)
        user_ref = claims.user_ref
        subscriber = self._subscribe(user_ref)
        self.metrics.open_streams.inc()
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache, no-store, no-transform",
                    "X-Accel-Buffering": "no",  # nginx: pass events on at once
                }
            )
            await response.prepare(request)
            owed = self.hub.pending(user_ref, after)
            await response.write(stream_preamble() + self._events(subscriber, owed, after, live=False))
            await self._live(response, subscriber, claims, after)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
        finally:
            self.hub.unsubscribe(subscriber)
            self.metrics.open_streams.dec()

    def _events(self, subscriber: Subscriber, prompts: list[PromptRecord], after: EventId | None, live: bool) -> bytes:
        """The events of the prompts not written here yet, unexpired, after ``after`` (a gateway that restarted
        reads prompts the client saw again)."""
        now_s = time.time()
        out = b""
        for prompt in prompts:
            if prompt.prompt_id in subscriber.sent or prompt.expires_s <= now_s:
                continue
            if after is not None and after.precedes(prompt.event_id):
                continue
            subscriber.sent.add(prompt.prompt_id)
            out += sse_prompt(prompt)
            self._delivered(prompt, "stream", live, now_s)
        return out

    async def _live(
        self, response: web.StreamResponse, subscriber: Subscriber, claims: TicketClaims, after: EventId | None
    ) -> None:
        """Write each new prompt, a heartbeat when idle, until the ticket (the token) expires or the gateway stops."""
        try:
            while not subscriber.closing:
                left_s = claims.expires_s - time.time()
                if left_s <= 0:
                    await response.write(sse_event("expired", b'{"reason":"token_expired"}'))
                    return
                if not await subscriber.wait(min(self.heartbeat_s, left_s)):
                    await response.write(HEARTBEAT)
                    continue
                events = self._events(subscriber, subscriber.take(), after, live=True)
                if events:
                    await response.write(events)
        except ConnectionError:
            return  # the client went away

    async def poll(self, request: web.Request) -> web.Response:
        claims = self.auth.reader(request)
        after = _after(request)
        try:
            wait_s = min(max(float(request.query.get("wait", DEFAULT_WAIT_S)), 0.0), self.max_wait_s)
        except ValueError:
            raise Refused(json_error(400, "bad_wait", "wait is a number of seconds")) from None
        user_ref = claims.user_ref
        owed = self.hub.pending(user_ref, after)
        live = False
        if not owed and wait_s > 0:
            owed, live = await self._wait(user_ref, after, min(time.time() + wait_s, claims.expires_s)), True
        now_s = time.time()
        owed = [prompt for prompt in owed if prompt.expires_s > now_s]
        for prompt in owed:
            self._delivered(prompt, "poll", live, now_s)
        last = str(owed[-1].event_id) if owed else (None if after is None else str(after))
        items = b",".join(b'{"id":"' + str(p.event_id).encode() + b'","prompt":' + p.data + b"}" for p in owed)
        body = b'{"prompts":[' + items + b'],"last_id":' + json_body(last) + b"}"
        return web.Response(body=body, content_type=JSON, headers={"Cache-Control": "no-store"})

    async def _wait(self, user_ref: str, after: EventId | None, deadline_s: float) -> list[PromptRecord]:
        subscriber = self._subscribe(user_ref)
        self.metrics.waiting_polls.inc()
        try:
            while not subscriber.closing:
                left_s = deadline_s - time.time()
                if left_s <= 0 or not await subscriber.wait(left_s):
                    return []
                fresh = [p for p in subscriber.take() if after is None or not after.precedes(p.event_id)]
                if fresh:
                    return fresh
            return []
        finally:
            self.hub.unsubscribe(subscriber)
            self.metrics.waiting_polls.dec()
