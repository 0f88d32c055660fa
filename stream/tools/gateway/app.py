"""The gateway's two aiohttp applications: the API (for apps and browsers) and its ``/metrics`` (for Prometheus).

Every API answer passes one middleware: a refusal becomes its JSON 4xx, an unexpected error a JSON
500 logged without the request's URL (its query may hold a stream ticket), and each request is counted and
timed per endpoint. CORS headers go on every response of an allowed origin, streams included
(``on_response_prepare``), and ``OPTIONS`` preflights are answered for them. The access log names
method, path (never the query string), status and time, at DEBUG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from stream.ces.gateway import InputKind
from stream.observability.gateway_metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from stream.settings import Settings
from stream.tools.gateway.auth import JSON, Refused, json_error
from stream.tools.gateway.delivery import Delivery
from stream.tools.gateway.element import Element
from stream.tools.gateway.posts import PostIntake

log = logging.getLogger(__name__)
access_log = logging.getLogger("stream.tools.gateway.access")
UNTIMED_ENDPOINTS = frozenset({"prompts-stream"})
CORS_MAX_AGE_S = "600"
CORS_HEADERS = "Authorization, Content-Type, Last-Event-ID"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One DEBUG line per request: method, path, status, milliseconds. No query string, no header, no client address."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %d %.1fms", request.method, request.path, response.status, time * 1000)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


@dataclass(frozen=True)
class Health:
    """What ``/health`` reports: ready when the producer is connected and the prompts of the replay window are read."""

    check: Callable[[], tuple[bool, dict[str, Any]]]

    async def handle(self, request: web.Request) -> web.Response:
        healthy, body = self.check()
        return web.Response(status=200 if healthy else 503, body=orjson.dumps(body), content_type=JSON)


def _endpoint(request: web.Request) -> str:
    route = request.match_info.route
    name = getattr(route, "name", None)
    return name or "other"


def _observing(metrics: GatewayMetrics) -> Any:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        endpoint = _endpoint(request)
        try:
            response = await handler(request)
        except Refused as refused:
            response = refused.response
        except web.HTTPException as exc:  # aiohttp's own: 404, 405, ...
            kept = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
            response = json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason, kept)
        except Exception as exc:
            log.error("gateway: %s %s failed: %s", request.method, endpoint, type(exc).__name__, exc_info=exc)
            response = json_error(500, "internal_error", "the gateway failed on this request")
        metrics.requests.labels(endpoint, str(response.status)).inc()
        if endpoint not in UNTIMED_ENDPOINTS:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    return observe


def _cors(origins: tuple[str, ...]) -> tuple[Callable[[web.Request], str | None], Handler]:
    """Which origin a request may be answered to, and the preflight handler."""
    any_origin = "*" in origins
    allowed = frozenset(origins)

    def origin_of(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        return origin if origin and (any_origin or origin in allowed) else None

    async def preflight(request: web.Request) -> web.StreamResponse:
        if origin_of(request) is None or "Access-Control-Request-Method" not in request.headers:
            return json_error(403, "origin_not_allowed", "this origin is not in CES_GATEWAY_CORS_ORIGINS")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": CORS_MAX_AGE_S,
            },
        )

    return origin_of, preflight


def build_api(
    settings: Settings, metrics: GatewayMetrics, posts: PostIntake, delivery: Delivery, health: Health
) -> web.Application:
    """The API: the POST endpoints, the stream ticket, the prompt stream and long-poll, the ``<ces-prompt>`` element,
    ``/health``."""
    app = web.Application(client_max_size=settings.gateway_max_body_bytes, middlewares=[_observing(metrics)])
    for kind in InputKind:
        app.router.add_post(f"/v1/{kind.value}", posts.handler(kind), name=kind.value)
    app.router.add_post("/v1/prompts/ticket", delivery.ticket, name="prompts-ticket")
    app.router.add_get("/v1/prompts/stream", delivery.stream, name="prompts-stream", allow_head=False)
    app.router.add_get("/v1/prompts", delivery.poll, name="prompts-poll", allow_head=False)
    app.router.add_get("/health", health.handle, name="health", allow_head=False)
    Element(settings, posts.known_goals).add_routes(app)  # the <ces-prompt> element, and /demo in demo mode
    origin_of, preflight = _cors(settings.gateway_cors_origins)
    app.router.add_route("OPTIONS", "/v1/{tail:.*}", preflight, name="preflight")

    async def add_cors(request: web.Request, response: web.StreamResponse) -> None:
        origin = origin_of(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
            response.headers["Vary"] = "Origin"

    app.on_response_prepare.append(add_cors)
    return app


def runner_options() -> dict[str, Any]:
    """The API's server options: the path-only access log, and handlers cancelled when their client hangs up
    (a stream whose browser left ends at once, not at its next heartbeat)."""
    return {"access_log_class": PathOnlyAccessLogger, "access_log": access_log, "handler_cancellation": True}


def build_ops(metrics: GatewayMetrics, health: Health) -> web.Application:
    """``/metrics`` and ``/health``, for Prometheus and the probes (off the public port)."""

    async def render(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", render, allow_head=False)
    app.router.add_get("/health", health.handle, allow_head=False)
    return app
