"""The stream ticket: what a browser puts in the URL of its prompt stream instead of the user token.

EventSource cannot set headers, so whatever authenticates a stream is in its URL, and URLs are
logged (proxies, load balancers, browser history). A token names the user id (base64 is no
secret); a ticket names only the user's pseudonymous reference (``pseudonymise(user_id,
CES_PSEUDONYM_KEY)``, an HMAC: not reversible), the key the gateway holds that user's prompts under.
``POST /v1/prompts/ticket`` mints one for a valid token (in the ``Authorization`` header); it
expires with that token.

Format: ``base64url(payload) "." base64url(HMAC-SHA256(ticket key, payload))`` with ``payload``
the compact JSON ``{"ref": "<user ref>", "exp": <unix seconds>}``. The ticket key is derived from
the token secret with a label of its own (:func:`ticket_key`), so a ticket is never a valid token
and a token never a valid ticket, and any instance that shares the secret accepts any instance's
ticket: nothing is kept on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from stream.ces.gateway.token import TokenProblem, TokenRejection, decode_signed, encode_signed, signed_by_any

#: Longest ticket read at all (a ticket is about 120 characters).
MAX_TICKET_CHARS = 512
#: The label the ticket key is derived under (a new one invalidates every ticket at once).
TICKET_KEY_LABEL = b"ces-stream stream ticket v1"
# A user ref is lowercase hex (stream.ces.intake.pseudonym: 32 characters).
_USER_REF = re.compile(r"^[0-9a-f]{8,128}$")


@dataclass(frozen=True, slots=True)
class TicketClaims:
    """Whose prompts a connection reads, and until when: from a ticket, or from a token in the header."""

    user_ref: str
    expires_s: int


def ticket_key(secret: bytes) -> bytes:
    """The key tickets are signed with, derived from a token secret (never the secret itself)."""
    return hmac.new(secret, TICKET_KEY_LABEL, hashlib.sha256).digest()


def mint_ticket(secret: bytes, user_ref: str, expires_s: int) -> str:
    """A ticket for the prompts of ``user_ref`` until ``expires_s`` (the token's ``exp``).

    :param secret: the current token secret (``CES_GATEWAY_TOKEN_SECRET`` as UTF-8).
    :raises ValueError: for an empty secret or a user ref that is not lowercase hex.
    """
    if not secret:
        raise ValueError("the token secret must not be empty")
    if not _USER_REF.match(user_ref):
        raise ValueError("the user ref must be the lowercase hex of pseudonymise()")
    payload = json.dumps({"ref": user_ref, "exp": int(expires_s)}, separators=(",", ":")).encode()
    return encode_signed(ticket_key(secret), payload)


def _claims(payload: bytes) -> TicketClaims | None:
    try:
        claims = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    ref, exp = claims.get("ref"), claims.get("exp")
    if not isinstance(ref, str) or not _USER_REF.match(ref) or not isinstance(exp, int) or isinstance(exp, bool):
        return None
    return TicketClaims(user_ref=ref, expires_s=exp)


def verify_ticket(ticket: str | None, secrets: Sequence[bytes], now_s: float) -> TicketClaims | TokenRejection:
    """The claims of a valid ticket, or why it is refused (missing, malformed, bad_signature, expired).

    :param secrets: the accepted token secrets (the current one first; during a rotation also the previous
        one): the ticket keys are derived from them.
    """
    if not ticket:
        return TokenRejection(
            TokenProblem.missing, "a stream ticket (from POST /v1/prompts/ticket) or a user token is required"
        )
    parts = decode_signed(ticket, MAX_TICKET_CHARS)
    if parts is None:
        return TokenRejection(TokenProblem.malformed, "the ticket is not <payload>.<signature> in base64url")
    payload, signature = parts
    if not signed_by_any([ticket_key(secret) for secret in secrets if secret], payload, signature):
        return TokenRejection(TokenProblem.bad_signature, "the ticket's signature does not match")
    claims = _claims(payload)
    if claims is None:  # signed by a gateway, so not expected: reported as malformed
        return TokenRejection(TokenProblem.malformed, "the ticket's payload is not ref and exp")
    if now_s >= claims.expires_s:
        return TokenRejection(TokenProblem.expired, "the ticket has expired: get a new one with a fresh token")
    return claims
