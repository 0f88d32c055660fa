"""Tests for stream.ces.intake.envelope: the header-line-plus-payload format of the internal user-events topic."""

from __future__ import annotations

import json

import pytest

from stream.ces.intake.envelope import Envelope, EnvelopeKind

PAYLOADS = [
    b"",
    b'{"goal":"download-invoice","score":4}',
    b"line one\nline two\n\nline four\n",
    b"\n",
    b"\n\n{}\n",
    b"\xff\xfe\x00\x80 not utf-8",
    bytes(range(256)),
    b'{"k":"a","t":"fake","p":0,"o":0,"key":null}\nnot a header',
]
KEYS = [None, b"", b"customer-4711", b"\xff\x00\xfe\n", "klant-\u00e9\u00e8".encode()]


@pytest.mark.parametrize("kind", list(EnvelopeKind))
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: repr(p[:12]))
@pytest.mark.parametrize("key", KEYS, ids=lambda k: repr(k))
def test_round_trip(kind, payload, key):
    env = Envelope(kind, "ces.goal-events", 7, 123_456_789_012, key, payload)
    decoded = Envelope.decode(env.encode())
    assert decoded == env
    assert decoded.kind is kind
    assert decoded.payload == payload
    assert decoded.source_key == key
    if key is None:
        assert decoded.source_key is None
    else:
        assert isinstance(decoded.source_key, bytes)


@pytest.mark.parametrize(
    ("kind", "letter"), [(EnvelopeKind.goal_event, "g"), (EnvelopeKind.answer, "a"), (EnvelopeKind.expiry, "x")]
)
def test_kind_codes_are_stable(kind, letter):
    # Records already on the topic carry these letters: changing one breaks every replay.
    assert kind.value == letter
    header = json.loads(Envelope(kind, "t", 0, 0, None, b"").encode().split(b"\n", 1)[0])
    assert header["k"] == letter


def test_header_is_one_json_line_and_payload_follows_unchanged():
    payload = b'{"a":1}\n{"b":2}'
    data = Envelope(EnvelopeKind.answer, "ces.survey-answers", 2, 41, b"\x00\xff", payload).encode()
    header_line, rest = data.split(b"\n", 1)
    assert rest == payload
    header = json.loads(header_line)
    assert header == {"k": "a", "t": "ces.survey-answers", "p": 2, "o": 41, "key": "AP8="}


@pytest.mark.parametrize(
    "topic", ["ces.goal-events", "weird\ntopic", "t\u00f6pic", ""], ids=["plain", "newline", "non-ascii", "empty"]
)
def test_odd_topic_names_do_not_break_the_header_line(topic):
    env = Envelope(EnvelopeKind.goal_event, topic, 0, 0, b"k", b"payload\nwith newline")
    assert Envelope.decode(env.encode()) == env


def test_expiry_envelope_with_negative_offset_round_trips():
    # The expiry timer sends envelopes with source offset -1 and no key.
    env = Envelope(EnvelopeKind.expiry, "ces-stream-user-events", 3, -1, None, b'{"user_id": null}')
    assert Envelope.decode(env.encode()) == env


@pytest.mark.parametrize(
    "data",
    [b"", b"not json\npayload", b'{"k":"z","t":"t","p":0,"o":0,"key":null}\n', b'{"t":"t","p":0,"o":0}\n'],
    ids=["empty", "not-json", "unknown-kind", "no-kind"],
)
def test_decoding_garbage_raises(data):
    # The user stage catches this and dead-letters the record as processing_error.
    with pytest.raises((ValueError, KeyError)):
        Envelope.decode(data)


def test_the_source_timestamp_travels_in_the_header_and_is_optional():
    from stream.ces.intake import Envelope, EnvelopeKind

    stamped = Envelope(EnvelopeKind.goal_event, "in", 1, 2, b"k", b"{}", 1_750_000_000.25)
    assert Envelope.decode(stamped.encode()) == stamped
    plain = Envelope(EnvelopeKind.goal_event, "in", 1, 2, b"k", b"{}")
    assert b'"ts"' not in plain.encode() and Envelope.decode(plain.encode()).source_timestamp is None
