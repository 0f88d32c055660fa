"""``ces-stream dead-letters``: choosing the dead letters to replay, and counting them (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import MAX_ORIGINAL_BYTES, DeadLetter, DeadLetterReason
from stream.ces.intake import Rejection, dead_letter
from stream.tools.dead_letters import parse_letters, select, summary_rows

SEEN = datetime(2025, 1, 31, 9, 30, tzinfo=UTC).timestamp()


def letter(topic: str, reason: DeadLetterReason, value: bytes = b'{"goal": "later"}') -> DeadLetter:
    rejection = Rejection(reason, "why")
    return dead_letter(rejection, topic=topic, partition=1, offset=7, key=b"u-1", value=value, received_at_s=SEEN)


def test_a_replay_takes_the_source_topics_letters_with_the_reasons_asked_and_leaves_cut_ones_aside():
    letters = [
        letter("in.goals", DeadLetterReason.unknown_goal),
        letter("in.goals", DeadLetterReason.not_json, b"not json"),
        letter("in.answers", DeadLetterReason.unknown_goal),
        letter("in.goals", DeadLetterReason.too_late),
    ]
    selection = select(letters, "in.goals", ["unknown_goal", "too_late"])
    assert [(x.reason.value, x.original_bytes()) for x in selection.chosen] == [
        ("unknown_goal", b'{"goal": "later"}'),
        ("too_late", b'{"goal": "later"}'),
    ]
    assert selection.chosen[0].source_key_bytes() == b"u-1" and selection.chosen[0].received_at.timestamp() == SEEN
    assert select(letters, "in.goals", ["duplicate"]).chosen == []


def test_summary_counts_per_topic_and_reason_most_first_and_unreadable_records_are_counted_apart():
    letters, unreadable = parse_letters(
        [
            letter(topic, reason).model_dump_json().encode()
            for topic, reason in (
                ("in.goals", DeadLetterReason.unknown_goal),
                ("in.goals", DeadLetterReason.unknown_goal),
                ("out.feed", DeadLetterReason.undeliverable),
            )
        ]
        + [b"{}", None]
    )
    assert unreadable == 2
    assert summary_rows(letters) == [("in.goals", "unknown_goal", 2), ("out.feed", "undeliverable", 1)]


def test_a_cut_original_is_not_replayed():
    cut = letter("in.goals", DeadLetterReason.oversize, b"x" * (MAX_ORIGINAL_BYTES + 1))
    assert cut.truncated
    selection = select([cut], "in.goals", ["oversize"])
    assert selection.chosen == [] and selection.truncated == 1
