"""Reading the raw user id back from a re-keyed started event (pure part, no broker)."""

from __future__ import annotations

import json

import pytest

from stream.ces.intake.envelope import Envelope, EnvelopeKind, user_id_from_record

REF = "ab" * 16


def record(kind=EnvelopeKind.goal_event, event_id="e-1", user_id="gina", key=None):
    key = REF.encode() if key is None else key
    payload = json.dumps({"event_id": event_id, "type": "started", "goal": "pay-bill", "user_id": user_id}).encode()
    return key, Envelope(kind, "in", 0, 7, b"k", payload).encode()


def test_reads_the_user_id_of_that_users_started_event():
    assert user_id_from_record(*record(), REF, "e-1") == "gina"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        record(key=("cd" * 16).encode()),  # another user's record at that offset
        record(event_id="e-2"),  # another event of the same user
        record(kind=EnvelopeKind.answer),  # not a goal event
        record(user_id=""),  # no usable id
        (REF.encode(), None),  # a tombstone
        (REF.encode(), b"not an envelope"),
        (REF.encode(), b'{"k":"g","t":"in","p":0,"o":1,"key":null}\n[1, 2]'),  # payload not an object
        (None, record()[1]),
    ],
)
def test_anything_else_gives_no_user_id(key, value):
    assert user_id_from_record(key, value, REF, "e-1") is None
