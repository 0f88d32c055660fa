"""The user token: minted by an app's backend, accepted only unchanged, with the right secret, before it expires."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from stream.ces.gateway import TokenClaims, TokenProblem, TokenRejection, mint_token, verify_token

SECRET = b"s" * 32
OTHER = b"o" * 32
NOW = 1_700_000_000.0
DAY = 86400.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    return f"{b64(payload)}.{b64(hmac.new(secret, payload, hashlib.sha256).digest())}"


def problem(result: TokenClaims | TokenRejection) -> TokenProblem:
    assert isinstance(result, TokenRejection), result
    return result.problem


def test_a_minted_token_gives_back_its_user_and_expiry():
    token = mint_token(SECRET, "customer-4711", int(NOW) + 600, app="web")
    assert verify_token(token, [SECRET], NOW, DAY) == TokenClaims("customer-4711", int(NOW) + 600, "web")


def test_the_format_is_base64url_payload_dot_hmac_of_the_payload():
    token = mint_token(SECRET, "u-1", 1_700_000_600)
    payload_text, _ = token.split(".")
    payload = base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4))
    assert json.loads(payload) == {"sub": "u-1", "exp": 1_700_000_600}
    assert "=" not in token
    assert token == signed(payload)


def test_a_token_an_app_backend_signs_itself_is_accepted():
    token = signed(json.dumps({"sub": "klant 12 ü", "exp": int(NOW) + 60, "app": "ios"}).encode())
    assert verify_token(token, [SECRET], NOW, DAY) == TokenClaims("klant 12 ü", int(NOW) + 60, "ios")


def test_an_expired_token_is_refused_from_its_exp_on():
    token = mint_token(SECRET, "u", int(NOW))
    assert problem(verify_token(token, [SECRET], NOW, DAY)) is TokenProblem.expired
    assert isinstance(verify_token(token, [SECRET], NOW - 1, DAY), TokenClaims)


def test_another_secret_is_a_bad_signature():
    token = mint_token(OTHER, "u", int(NOW) + 60)
    assert problem(verify_token(token, [SECRET], NOW, DAY)) is TokenProblem.bad_signature


def test_the_previous_secret_still_works_during_a_rotation():
    token = mint_token(OTHER, "u", int(NOW) + 60)
    assert isinstance(verify_token(token, [SECRET, OTHER], NOW, DAY), TokenClaims)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.replace(b'"u-1"', b'"u-2"'),  # another user
        lambda p: p.replace(b"1700000600", b"1900000600"),  # a longer life
    ],
)
def test_a_tampered_payload_is_a_bad_signature(change):
    token = mint_token(SECRET, "u-1", 1_700_000_600)
    payload_text, signature = token.split(".")
    payload = base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4))
    forged = f"{b64(change(payload))}.{signature}"
    assert problem(verify_token(forged, [SECRET], NOW, DAY)) is TokenProblem.bad_signature


def test_a_flipped_signature_bit_is_a_bad_signature():
    token = mint_token(SECRET, "u", int(NOW) + 60)
    payload_text, signature_text = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature_text + "="))
    raw[0] ^= 1
    assert problem(verify_token(f"{payload_text}.{b64(bytes(raw))}", [SECRET], NOW, DAY)) is TokenProblem.bad_signature


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "ab$.cd", "x" * 3000 + ".y", "eyJ.!!", f"{b64(b'{}')}.{b64(b'short')}"],
)
def test_what_is_not_a_token_is_missing_or_malformed(token):
    assert problem(verify_token(token, [SECRET], NOW, DAY)) in (TokenProblem.missing, TokenProblem.malformed)


def test_no_token_is_missing():
    assert problem(verify_token(None, [SECRET], NOW, DAY)) is TokenProblem.missing


@pytest.mark.parametrize(
    "claims",
    [
        [],
        {"exp": int(NOW) + 60},
        {"sub": "", "exp": int(NOW) + 60},
        {"sub": "a\nb", "exp": int(NOW) + 60},
        {"sub": "u", "exp": "1700000060"},
        {"sub": "u", "exp": True},
        {"sub": "u", "exp": 1.7e9},
        {"sub": "u", "exp": int(NOW) + 60, "app": 3},
        {"sub": 7, "exp": int(NOW) + 60},
    ],
)
def test_a_signed_payload_without_valid_claims_is_refused(claims):
    token = signed(json.dumps(claims).encode())
    assert problem(verify_token(token, [SECRET], NOW, DAY)) is TokenProblem.invalid_claims


def test_a_signed_payload_that_is_not_json_is_refused():
    assert problem(verify_token(signed(b"\xff not json"), [SECRET], NOW, DAY)) is TokenProblem.invalid_claims


def test_a_token_living_longer_than_the_limit_is_refused():
    token = mint_token(SECRET, "u", int(NOW + DAY) + 1)
    assert problem(verify_token(token, [SECRET], NOW, DAY)) is TokenProblem.too_long_lived


def test_the_refusal_never_repeats_the_token_or_the_user():
    token = mint_token(OTHER, "customer-4711", int(NOW) + 60)
    rejection = verify_token(token, [SECRET], NOW, DAY)
    assert isinstance(rejection, TokenRejection)
    assert "customer-4711" not in rejection.detail and token not in rejection.detail


@pytest.mark.parametrize("user", ["", "a\x00b", "x" * 257])
def test_minting_refuses_a_user_id_the_contracts_refuse(user):
    with pytest.raises(ValueError, match="user id"):
        mint_token(SECRET, user, int(NOW) + 60)


def test_minting_refuses_an_empty_secret():
    with pytest.raises(ValueError, match="secret"):
        mint_token(b"", "u", int(NOW) + 60)
