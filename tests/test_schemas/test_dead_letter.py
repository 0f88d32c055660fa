"""DeadLetter: the original bytes survive exactly, whatever they are; every field constraint."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import MAX_DETAIL_CHARS, MAX_KEY_BYTES, MAX_ORIGINAL_BYTES, DeadLetter, DeadLetterReason

RECEIVED_AT = datetime(2025, 1, 31, 9, 30, 12, tzinfo=UTC)

ARBITRARY_BYTES = [
    pytest.param(b"", id="empty"),
    pytest.param(b'{"goal": "download-invoice"', id="truncated-json"),
    pytest.param("caf\u00e9 \U0001f600".encode(), id="utf-8"),
    pytest.param(b"\xff\xfe\x00\x80 not utf-8 \xc3\x28", id="not-utf-8"),
    pytest.param(bytes(range(256)), id="every-byte"),
    pytest.param(os.urandom(4099), id="random"),
    pytest.param(b"a", id="one-byte-padding-2"),
    pytest.param(b"ab", id="two-bytes-padding-1"),
]

# (dotted path, bad value, the JSON Schema rejects it too)
VIOLATIONS = [
    pytest.param("reason", "bad_mood", True, id="reason-unknown"),
    pytest.param("detail", "d" * (MAX_DETAIL_CHARS + 1), True, id="detail-too-long"),
    pytest.param("source_topic", "", True, id="source_topic-empty"),
    pytest.param("source_topic", "ces goal events", True, id="source_topic-space"),
    pytest.param("source_topic", "t" * 250, True, id="source_topic-too-long"),
    pytest.param("source_partition", -1, True, id="source_partition-negative"),
    pytest.param("source_offset", -1, True, id="source_offset-negative"),
    pytest.param("source_key", "not base64!", True, id="source_key-not-base64"),
    pytest.param("source_key", "abc", True, id="source_key-unpadded"),
    pytest.param("original", "Zm9v====", True, id="original-over-padded"),
    pytest.param("original", "Zm9v_-8=", True, id="original-urlsafe-alphabet"),
    pytest.param("original", None, True, id="original-null"),
    pytest.param("received_at", "2025-01-31T09:30:12", False, id="received_at-naive"),
]


def _dead_letter(key: bytes | None, value: bytes, detail: str = "x") -> DeadLetter:
    return DeadLetter.from_record(
        reason=DeadLetterReason.not_json,
        detail=detail,
        topic="ces.survey-answers",
        partition=2,
        offset=99,
        key=key,
        value=value,
        received_at=RECEIVED_AT,
    )


def test_reasons() -> None:
    assert [r.value for r in DeadLetterReason] == [
        "not_json", "schema_violation", "unknown_goal", "score_out_of_range", "unknown_prompt", "duplicate",
        "future_timestamp", "too_late", "oversize", "expired_prompt", "no_score", "processing_error",
        "undeliverable", "delivery_timed_out",
    ]  # fmt: skip


@pytest.mark.parametrize("value", ARBITRARY_BYTES)
def test_original_bytes_round_trip_through_json(value: bytes) -> None:
    letter = _dead_letter(key=value, value=value)
    again = DeadLetter.model_validate_json(letter.model_dump_json().encode("utf-8"))
    assert again.original_bytes() == value
    assert again.source_key_bytes() == value
    assert again == letter


def test_original_bytes_of_the_example(payload) -> None:
    letter = DeadLetter.model_validate_json(json.dumps(payload(DeadLetter)))
    assert letter.original_bytes() == b"not json \xff"
    assert letter.source_key_bytes() == b"customer-4711"


def test_from_record_fills_every_field() -> None:
    letter = _dead_letter(key=None, value=b"{}")
    assert letter.model_dump(mode="json") == {
        "schema_version": 1,
        "reason": "not_json",
        "detail": "x",
        "source_topic": "ces.survey-answers",
        "source_partition": 2,
        "source_offset": 99,
        "source_key": None,
        "original": "e30=",
        "original_size": 2,
        "truncated": False,
        "received_at": "2025-01-31T09:30:12Z",
    }
    assert letter.source_key_bytes() is None


@pytest.mark.parametrize(
    ("length", "expected_length"), [(MAX_DETAIL_CHARS, MAX_DETAIL_CHARS), (MAX_DETAIL_CHARS + 500, MAX_DETAIL_CHARS)]
)
def test_from_record_shortens_long_details(length: int, expected_length: int) -> None:
    detail = "d" * length
    letter = _dead_letter(key=None, value=b"", detail=detail)
    assert len(letter.detail) == expected_length
    assert letter.detail == detail if length <= MAX_DETAIL_CHARS else letter.detail.endswith("...")


def test_kafka_key_is_the_source_topic() -> None:
    assert _dead_letter(key=None, value=b"").kafka_key() == "ces.survey-answers"


def test_base64_is_standard_padded() -> None:
    # Consumers decode with any standard base64 decoder.
    letter = _dead_letter(key=b"\xfb\xff", value=b"\xfb\xff\xfe")
    assert (letter.source_key, letter.original) == ("+/8=", "+//+")
    assert base64.b64decode(letter.original) == b"\xfb\xff\xfe"


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        DeadLetter.model_validate_json(json.dumps(payload(DeadLetter, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(DeadLetter).is_valid(payload(DeadLetter, {path: value}))


def test_a_value_and_key_within_the_limits_are_kept_whole_and_not_flagged() -> None:
    value, key = os.urandom(MAX_ORIGINAL_BYTES), os.urandom(MAX_KEY_BYTES)
    letter = _dead_letter(key=key, value=value)
    assert (letter.original_bytes(), letter.source_key_bytes()) == (value, key)
    assert (letter.truncated, letter.original_size) == (False, MAX_ORIGINAL_BYTES)


@pytest.mark.parametrize(
    ("key_size", "value_size"), [(10, MAX_ORIGINAL_BYTES + 1), (MAX_KEY_BYTES + 1, 10), (900_000, 1_048_000)]
)
def test_a_longer_value_or_key_is_cut_flagged_and_sized_and_fits_a_kafka_record(key_size: int, value_size: int) -> None:
    value, key = os.urandom(value_size), os.urandom(key_size)
    letter = _dead_letter(key=key, value=value)
    again = DeadLetter.model_validate_json(letter.model_dump_json().encode("utf-8"))
    assert again.truncated is True
    assert again.original_size == value_size
    assert again.original_bytes() == value[:MAX_ORIGINAL_BYTES]
    assert again.source_key_bytes() == key[:MAX_KEY_BYTES]
    assert len(letter.model_dump_json().encode()) < 1_000_000  # Kafka's default record limit is 1 MiB


def test_a_dead_letter_written_before_the_size_fields_still_reads() -> None:
    old = {
        "reason": "not_json",
        "detail": "x",
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "source_key": None,
        "original": "eA==",
        "received_at": "2025-01-31T09:30:12Z",
    }
    letter = DeadLetter.model_validate(old)
    assert (letter.original_bytes(), letter.truncated, letter.original_size) == (b"x", False, None)
