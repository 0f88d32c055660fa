"""Who a request is: a user (a token the app's backend signed) or a server (the API key).

Checked first, before the body is read and before anything touches Kafka. The token comes in
``Authorization: Bearer <token>`` or, where a browser cannot set headers (EventSource,
``navigator.sendBeacon``), as the ``token`` query parameter; neither is ever logged.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import orjson
from aiohttp import web

from stream.ces.gateway import TokenClaims, TokenProblem, TokenRejection, verify_token
from stream.observability.gateway_metrics import GatewayMetrics
from stream.settings import Settings

JSON = "application/json"


def json_error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    """A response with a JSON body ``{"error": ..., "detail": ...}``."""
    return web.Response(
        status=status, body=orjson.dumps({"error": error, "detail": detail}), content_type=JSON, headers=headers
    )


class Refused(Exception):
    """A request answered at once with ``response`` (a 4xx)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _presented(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token") or None


class Authenticator:
    """Checks tokens against the current (and previous) secret, and the API key."""

    def __init__(self, settings: Settings, metrics: GatewayMetrics) -> None:
        secrets = (settings.gateway_token_secret, settings.gateway_previous_token_secret)
        self._secrets = tuple(s.get_secret_value().encode() for s in secrets if s is not None)
        api_key = settings.gateway_api_key
        self._api_key = api_key.get_secret_value().encode() if api_key is not None else None
        self._max_ttl_s = settings.gateway_token_max_ttl_seconds
        self._metrics = metrics

    def _refuse(self, rejection: TokenRejection) -> Refused:
        self._metrics.auth_failures.labels(rejection.problem.value).inc()
        return Refused(
            json_error(
                401,
                "invalid_token" if rejection.problem is not TokenProblem.missing else "missing_token",
                rejection.detail,
                {"WWW-Authenticate": 'Bearer realm="ces-stream", error="invalid_token"'},
            )
        )

    def user(self, request: web.Request) -> TokenClaims:
        """The user of a request that must carry a user token (the prompt endpoints).

        :raises Refused: 401.
        """
        claims = verify_token(_presented(request), self._secrets, time.time(), self._max_ttl_s)
        if isinstance(claims, TokenRejection):
            raise self._refuse(claims)
        return claims

    def poster(self, request: web.Request) -> TokenClaims | None:
        """The user a POST is limited to, or None for the API key (any user).

        :raises Refused: 401.
        """
        presented = _presented(request)
        if (
            self._api_key is not None
            and presented is not None
            and hmac.compare_digest(presented.encode(), self._api_key)
        ):
            return None
        claims = verify_token(presented, self._secrets, time.time(), self._max_ttl_s)
        if isinstance(claims, TokenRejection):
            raise self._refuse(claims)
        return claims

    def forbidden(self, detail: str) -> Refused:
        """403: a user token posting another user's record."""
        self._metrics.auth_failures.labels("forbidden").inc()
        return Refused(json_error(403, "forbidden", detail))


def json_body(value: Any) -> bytes:
    return orjson.dumps(value)
