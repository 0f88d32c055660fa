"""The user token of the gateway: minted by the app's backend, checked by the gateway.

Format: ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload))``, both without padding,
where ``payload`` is the UTF-8 JSON object ``{"sub": "<user id>", "exp": <unix seconds>}`` (and
optionally ``"app": "<name>"``). The signature covers the payload bytes exactly as they were
decoded; the gateway reads the claims only after the signature holds. A token names one user and
ends at ``exp``: whoever holds it may post that user's events and read that user's prompts until
then, so tokens are short-lived (the gateway refuses one whose ``exp`` lies further ahead than
``CES_GATEWAY_TOKEN_MAX_TTL_SECONDS``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

#: Longest token read at all (a 256-character user id and an app name fit easily).
MAX_TOKEN_CHARS = 2048
MAX_APP_CHARS = 64
_SIGNATURE_BYTES = 32
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
# schemas.common.UserId: 1..256 characters without C0/C1 control characters.
_USER_ID = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,256}$")


class TokenProblem(StrEnum):
    """Why a token or a stream ticket was refused (the ``reason`` of ``ces_gateway_auth_failures_total``)."""

    missing = "missing"
    """No token in the request."""
    malformed = "malformed"
    """Not two base64url parts, or too long."""
    bad_signature = "bad_signature"
    """Signed with another secret, or changed after signing."""
    invalid_claims = "invalid_claims"
    """Correctly signed, but the payload is not the expected JSON (sub, exp)."""
    expired = "expired"
    """``exp`` has passed."""
    too_long_lived = "too_long_lived"
    """``exp`` lies further ahead than the gateway accepts."""
    token_in_url = "token_in_url"
    """The token came in the URL's ``token`` query parameter, which is refused (URLs are logged)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says."""

    user_id: str
    expires_s: int
    app: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRejection:
    """A refused token or ticket: the reason and a sentence for the 401 body (never the token or the user id)."""

    problem: TokenProblem
    detail: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def encode_signed(key: bytes, payload: bytes) -> str:
    """``base64url(payload) "." base64url(HMAC-SHA256(key, payload))``: a token, or a ticket under its own key."""
    return f"{_b64encode(payload)}.{_b64encode(_sign(key, payload))}"


def decode_signed(text: str, max_chars: int) -> tuple[bytes, bytes] | None:
    """The payload and signature bytes of ``<payload>.<signature>``, or None when it is not that."""
    if len(text) > max_chars or text.count(".") != 1:
        return None
    payload_text, signature_text = text.split(".")
    payload, signature = _b64decode(payload_text), _b64decode(signature_text)
    if payload is None or signature is None or len(signature) != _SIGNATURE_BYTES:
        return None
    return payload, signature


def signed_by_any(keys: Sequence[bytes], payload: bytes, signature: bytes) -> bool:
    """Whether one of the (non-empty) keys signed ``payload`` with ``signature`` (compared in constant time)."""
    return any(hmac.compare_digest(_sign(key, payload), signature) for key in keys if key)


def mint_token(secret: bytes, user_id: str, expires_s: int, app: str | None = None) -> str:
    """A token for ``user_id`` that expires at ``expires_s`` (what an app's backend does).

    :param secret: the shared secret (``CES_GATEWAY_TOKEN_SECRET`` as UTF-8).
    :param user_id: the app's own user id (the ``user_id`` of that user's events).
    :param expires_s: unix seconds after which the token is refused.
    :param app: optional name of the app (kept in the token, not checked).
    :raises ValueError: for an empty secret or a user id the contracts would refuse.
    """
    if not secret:
        raise ValueError("the token secret must not be empty")
    if not _USER_ID.match(user_id):
        raise ValueError("the user id must be 1 to 256 characters without control characters")
    claims: dict[str, object] = {"sub": user_id, "exp": int(expires_s)}
    if app is not None:
        claims["app"] = app
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return encode_signed(secret, payload)


def _claims(payload: bytes) -> TokenClaims | None:
    try:
        claims = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    sub, exp, app = claims.get("sub"), claims.get("exp"), claims.get("app")
    if not isinstance(sub, str) or not _USER_ID.match(sub):
        return None
    if not isinstance(exp, int) or isinstance(exp, bool):
        return None
    if app is not None and (not isinstance(app, str) or len(app) > MAX_APP_CHARS):
        return None
    return TokenClaims(user_id=sub, expires_s=exp, app=app)


def verify_token(
    token: str | None, secrets: Sequence[bytes], now_s: float, max_ttl_s: float
) -> TokenClaims | TokenRejection:
    """The claims of a valid token, or why it is refused.

    :param token: the token as the request carried it, or None.
    :param secrets: the accepted secrets (the current one first; during a rotation also the previous one).
    :param now_s: the current unix time.
    :param max_ttl_s: how far ahead ``exp`` may lie.
    """
    if not token:
        return TokenRejection(TokenProblem.missing, "a user token is required (Authorization: Bearer <token>)")
    parts = decode_signed(token, MAX_TOKEN_CHARS)
    if parts is None:
        return TokenRejection(TokenProblem.malformed, "the token is not <payload>.<signature> in base64url")
    payload, signature = parts
    if not signed_by_any(secrets, payload, signature):
        return TokenRejection(TokenProblem.bad_signature, "the token's signature does not match")
    claims = _claims(payload)
    if claims is None:
        return TokenRejection(
            TokenProblem.invalid_claims, "the token's payload must be JSON with sub (a user id) and exp (unix seconds)"
        )
    if now_s >= claims.expires_s:
        return TokenRejection(TokenProblem.expired, "the token has expired: ask the app's backend for a new one")
    if claims.expires_s - now_s > max_ttl_s:
        return TokenRejection(
            TokenProblem.too_long_lived, f"the token expires more than {max_ttl_s:.0f} s ahead: mint a short-lived one"
        )
    return claims
