"""Erasure requests at intake: validation (every bad one has a reason), the payload forwarded without the raw id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import DeadLetterReason, ErasureRequest
from stream.ces.intake import Envelope, EnvelopeKind, Limits, Rejection, erasure_payload, validate_erasure_request

LIMITS = Limits(max_event_bytes=4096, future_skew_s=300.0, late_grace_s=3600.0)


def request_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "request_id": "6f1c2b7e-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
        "user_id": "customer-4711",
        "requested_at": "2025-02-03T10:00:00Z",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def test_a_valid_request_parses():
    result = validate_erasure_request(json.dumps(request_doc()).encode(), LIMITS)
    assert isinstance(result, ErasureRequest)
    assert result.user_id == "customer-4711" and result.kafka_key() == "customer-4711"


def test_an_old_request_is_never_refused_for_its_age():
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    assert isinstance(
        validate_erasure_request(json.dumps(request_doc(requested_at=old)).encode(), LIMITS), ErasureRequest
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, DeadLetterReason.not_json),
        (b"", DeadLetterReason.not_json),
        (b"not json", DeadLetterReason.not_json),
        (b"x" * 5000, DeadLetterReason.oversize),
        (json.dumps(request_doc(user_id="")).encode(), DeadLetterReason.schema_violation),
        (json.dumps(request_doc(user_id="a\nb")).encode(), DeadLetterReason.schema_violation),
        (
            json.dumps({k: v for k, v in request_doc().items() if k != "user_id"}).encode(),
            DeadLetterReason.schema_violation,
        ),
        (json.dumps(request_doc(request_id="nope")).encode(), DeadLetterReason.schema_violation),
        (json.dumps(request_doc(requested_at="yesterday")).encode(), DeadLetterReason.schema_violation),
        (json.dumps([1, 2]).encode(), DeadLetterReason.schema_violation),
    ],
)
def test_bad_requests_are_rejected_with_a_reason(raw, reason):
    result = validate_erasure_request(raw, LIMITS)
    assert isinstance(result, Rejection) and result.reason is reason
    assert "customer-4711" not in result.detail  # the detail goes into dead letters and never names the user


def test_the_forwarded_payload_has_no_raw_user_id():
    request = ErasureRequest.model_validate(request_doc(user_id="customer-4711"))
    payload = erasure_payload(request)
    assert b"customer-4711" not in payload
    assert json.loads(payload) == {"request_id": str(request.request_id), "requested_at": "2025-02-03T10:00:00+00:00"}
    envelope = Envelope(EnvelopeKind.erasure, "ces.erasure-requests", 0, 7, b"customer-4711", payload)
    assert Envelope.decode(envelope.encode()) == envelope
    assert EnvelopeKind("e") is EnvelopeKind.erasure
