"""Who a request is: a user (a token the app's backend signed), a stream ticket, or a server (the API key).

Checked first, before the body is read and before anything touches Kafka. The token comes only in
``Authorization: Bearer <token>``: it names the user id, and URLs are logged (proxies, load
balancers, browser history), so a ``token`` query parameter is refused. Where a browser cannot set
headers (EventSource), the prompt endpoints take a stream ticket in the ``ticket`` query parameter
instead: it names only the user's pseudonymous reference (:mod:`stream.ces.gateway.ticket`).
Neither a token nor a ticket is ever logged.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from stream.ces.gateway import (
    TicketClaims,
    TokenClaims,
    TokenProblem,
    TokenRejection,
    mint_ticket,
    verify_ticket,
    verify_token,
)
from stream.observability.gateway_metrics import GatewayMetrics
from stream.settings import Settings

JSON = "application/json"


def json_error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    """A response with a JSON body ``{"error": ..., "detail": ...}``."""
    return web.Response(
        status=status, body=orjson.dumps({"error": error, "detail": detail}), content_type=JSON, headers=headers
    )


_ERRORS = {TokenProblem.missing: "missing_token", TokenProblem.token_in_url: "token_in_url"}


class Refused(Exception):
    """A request answered at once with ``response`` (a 4xx)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


TOKEN_IN_URL = TokenRejection(
    TokenProblem.token_in_url,
    "the token query parameter is refused (URLs are logged): send the token in the Authorization header "
    "(Bearer <token>), or open the stream with a ticket from POST /v1/prompts/ticket (?ticket=<ticket>)",
)


def _presented(request: web.Request) -> str | None:
    """The bearer credential of the Authorization header (the only place a token or the API key is read)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Authenticator:
    """Checks tokens and tickets against the current (and previous) secret, and the API key.

    :param user_ref: the pseudonymous reference of a user id (the key of a user's prompts).
    """

    def __init__(self, settings: Settings, metrics: GatewayMetrics, user_ref: Callable[[str], str]) -> None:
        secrets = (settings.gateway_token_secret, settings.gateway_previous_token_secret)
        self._secrets = tuple(s.get_secret_value().encode() for s in secrets if s is not None)
        api_key = settings.gateway_api_key
        self._api_key = api_key.get_secret_value().encode() if api_key is not None else None
        self._max_ttl_s = settings.gateway_token_max_ttl_seconds
        self._metrics = metrics
        self._user_ref = user_ref

    def _refuse(self, rejection: TokenRejection) -> Refused:
        self._metrics.auth_failures.labels(rejection.problem.value).inc()
        return Refused(
            json_error(
                401,
                _ERRORS.get(rejection.problem, "invalid_token"),
                rejection.detail,
                {"WWW-Authenticate": 'Bearer realm="ces-stream", error="invalid_token"'},
            )
        )

    def _token(self, request: web.Request) -> str | None:
        """The bearer credential; a token in the query is refused (even beside a header: it has leaked already).

        :raises Refused: 401 ``token_in_url``.
        """
        if "token" in request.query:
            raise self._refuse(TOKEN_IN_URL)
        return _presented(request)

    def user(self, request: web.Request) -> TokenClaims:
        """The user of a request that must carry a user token in the header (``POST /v1/prompts/ticket``).

        :raises Refused: 401.
        """
        claims = verify_token(self._token(request), self._secrets, time.time(), self._max_ttl_s)
        if isinstance(claims, TokenRejection):
            raise self._refuse(claims)
        return claims

    def reader(self, request: web.Request) -> TicketClaims:
        """Whose prompts a stream or long-poll reads: a user token in the header, else the ``ticket`` parameter.

        :raises Refused: 401.
        """
        if _presented(request) is not None or "token" in request.query:
            claims = self.user(request)
            return TicketClaims(self._user_ref(claims.user_id), claims.expires_s)
        ticket = verify_ticket(request.query.get("ticket"), self._secrets, time.time())
        if isinstance(ticket, TokenRejection):
            raise self._refuse(ticket)
        return ticket

    def ticket(self, claims: TokenClaims) -> str:
        """A stream ticket for the token's user, expiring with the token (signed under the current secret)."""
        return mint_ticket(self._secrets[0], self._user_ref(claims.user_id), claims.expires_s)

    def poster(self, request: web.Request) -> TokenClaims | None:
        """The user a POST is limited to, or None for the API key (any user).

        :raises Refused: 401.
        """
        presented = self._token(request)
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
