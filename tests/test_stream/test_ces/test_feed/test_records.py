"""A record of ces.high-effort-answers as the feed reads it: a valid answer, or the reason it is not one."""

from __future__ import annotations

import json

import pytest

from schemas import DeadLetterReason
from schemas.examples import example_payload
from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.feed import OTHER_GOAL, goal_label, read_answer
from stream.ces.intake import Rejection

EXAMPLE = example_payload(HighEffortAnswer)


def test_a_valid_record_reads_as_the_answer():
    assert read_answer(json.dumps(EXAMPLE).encode(), 65536) == HighEffortAnswer.model_validate(EXAMPLE)


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (None, DeadLetterReason.not_json, "empty record value"),
        (b"", DeadLetterReason.not_json, "empty record value"),
        (b"\xff\xfe not json", DeadLetterReason.not_json, "not JSON"),
        (b"[1, 2", DeadLetterReason.not_json, "not JSON"),
        (json.dumps({**EXAMPLE, "score": "two"}).encode(), DeadLetterReason.schema_violation, "score"),
        (json.dumps({**EXAMPLE, "schema_version": 2}).encode(), DeadLetterReason.schema_violation, "schema_version"),
        (json.dumps({**EXAMPLE, "user_id": "customer-4711"}).encode(), DeadLetterReason.schema_violation, "user_id"),
        (
            json.dumps({k: v for k, v in EXAMPLE.items() if k != "comment"}).encode(),
            DeadLetterReason.schema_violation,
            "comment",
        ),
        (b"x" * 70_000, DeadLetterReason.oversize, "70000 bytes"),
    ],
    ids=["none", "empty", "bytes", "truncated", "mistyped", "newer-version", "raw-user-id", "no-comment", "oversize"],
)
def test_anything_else_is_a_rejection_with_a_reason(value, reason, detail):
    rejection = read_answer(value, 65536)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is reason
    assert detail in rejection.detail


def test_the_goal_label_is_bounded_by_the_registry():
    assert goal_label("download-invoice", {"download-invoice"}) == "download-invoice"
    assert goal_label("a-new-goal", {"download-invoice"}) == OTHER_GOAL
    assert not HighEffortAnswer.model_fields["goal"].metadata[0].pattern.startswith("(")  # "(other)" is no slug
