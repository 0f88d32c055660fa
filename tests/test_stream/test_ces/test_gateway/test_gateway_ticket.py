"""The stream ticket: a pseudonym and an expiry signed under a key derived from the token secret; never a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from stream.ces.gateway import (
    TicketClaims,
    TokenClaims,
    TokenProblem,
    TokenRejection,
    mint_ticket,
    mint_token,
    ticket_key,
    verify_ticket,
    verify_token,
)
from stream.ces.intake import pseudonymise

SECRET = b"s" * 32
OTHER = b"o" * 32
NOW = 1_700_000_000.0
DAY = 86400.0
REF = pseudonymise("customer-4711", b"pseudonym-key")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def problem(result: TicketClaims | TokenClaims | TokenRejection) -> TokenProblem:
    assert isinstance(result, TokenRejection), result
    return result.problem


def test_a_minted_ticket_gives_back_its_ref_and_expiry():
    ticket = mint_ticket(SECRET, REF, int(NOW) + 600)
    assert verify_ticket(ticket, [SECRET], NOW) == TicketClaims(REF, int(NOW) + 600)


def test_the_payload_is_the_ref_and_exp_only_signed_under_the_derived_key():
    ticket = mint_ticket(SECRET, REF, int(NOW) + 600)
    payload_text, signature_text = ticket.split(".")
    payload = unb64(payload_text)
    assert payload == json.dumps({"ref": REF, "exp": int(NOW) + 600}, separators=(",", ":")).encode()
    assert b"customer-4711" not in payload
    derived = hmac.new(SECRET, b"ces-stream stream ticket v1", hashlib.sha256).digest()
    assert ticket_key(SECRET) == derived != SECRET
    assert unb64(signature_text) == hmac.new(derived, payload, hashlib.sha256).digest()


def test_a_tampered_payload_is_a_bad_signature():
    ticket = mint_ticket(SECRET, REF, int(NOW) + 600)
    _, signature = ticket.split(".")
    for forged in (
        json.dumps({"ref": "0" * 32, "exp": int(NOW) + 600}, separators=(",", ":")),  # another user
        json.dumps({"ref": REF, "exp": int(NOW) + 60_000}, separators=(",", ":")),  # a longer life
    ):
        assert (
            problem(verify_ticket(f"{b64(forged.encode())}.{signature}", [SECRET], NOW)) is TokenProblem.bad_signature
        )


def test_a_tampered_signature_is_a_bad_signature():
    payload_text, signature_text = mint_ticket(SECRET, REF, int(NOW) + 600).split(".")
    raw = bytearray(unb64(signature_text))
    raw[-1] ^= 1
    assert problem(verify_ticket(f"{payload_text}.{b64(bytes(raw))}", [SECRET], NOW)) is TokenProblem.bad_signature


def test_an_expired_ticket_is_refused_from_its_exp_on():
    ticket = mint_ticket(SECRET, REF, int(NOW))
    assert problem(verify_ticket(ticket, [SECRET], NOW)) is TokenProblem.expired
    assert isinstance(verify_ticket(ticket, [SECRET], NOW - 1), TicketClaims)


@pytest.mark.parametrize("ticket", [None, ""])
def test_no_ticket_is_missing(ticket):
    assert problem(verify_ticket(ticket, [SECRET], NOW)) is TokenProblem.missing


@pytest.mark.parametrize("ticket", ["abc", "a.b.c", "ab$.cd", "x" * 600 + ".y", f"{b64(b'{}')}.{b64(b'short')}"])
def test_what_is_not_a_ticket_is_malformed(ticket):
    assert problem(verify_ticket(ticket, [SECRET], NOW)) is TokenProblem.malformed


def test_a_signed_payload_without_ref_and_exp_is_malformed():
    for claims in ({"sub": "customer-4711", "exp": int(NOW) + 60}, {"ref": "Not Hex!", "exp": int(NOW) + 60}, []):
        payload = json.dumps(claims).encode()
        signature = hmac.new(ticket_key(SECRET), payload, hashlib.sha256).digest()
        assert problem(verify_ticket(f"{b64(payload)}.{b64(signature)}", [SECRET], NOW)) is TokenProblem.malformed


def test_a_token_is_no_ticket_and_a_ticket_no_token():
    token = mint_token(SECRET, "customer-4711", int(NOW) + 600)
    assert problem(verify_ticket(token, [SECRET], NOW)) is TokenProblem.bad_signature
    ticket = mint_ticket(SECRET, REF, int(NOW) + 600)
    assert problem(verify_token(ticket, [SECRET], NOW, DAY)) is TokenProblem.bad_signature


def test_the_previous_secret_still_works_during_a_rotation_and_another_does_not():
    ticket = mint_ticket(OTHER, REF, int(NOW) + 600)
    assert isinstance(verify_ticket(ticket, [SECRET, OTHER], NOW), TicketClaims)
    assert problem(verify_ticket(ticket, [SECRET], NOW)) is TokenProblem.bad_signature


def test_the_refusal_never_repeats_the_ticket():
    ticket = mint_ticket(OTHER, REF, int(NOW) + 600)
    rejection = verify_ticket(ticket, [SECRET], NOW)
    assert isinstance(rejection, TokenRejection) and ticket not in rejection.detail and REF not in rejection.detail


@pytest.mark.parametrize(("secret", "ref"), [(b"", REF), (SECRET, "customer-4711"), (SECRET, "")])
def test_minting_refuses_an_empty_secret_or_a_ref_that_is_not_a_pseudonym(secret, ref):
    with pytest.raises(ValueError, match=r"secret|user ref"):
        mint_ticket(secret, ref, int(NOW) + 60)
