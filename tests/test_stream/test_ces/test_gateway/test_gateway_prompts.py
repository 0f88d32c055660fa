"""Prompts as the gateway reads and writes them: event ids, the records it reads, Server-Sent Events, recent ids."""

from __future__ import annotations

import json

import pytest

from schemas import SurveyPrompt
from schemas.examples import example_payload
from stream.ces.gateway import (
    Closure,
    EventId,
    RecentIds,
    parse_event_id,
    read_closure,
    read_prompt,
    sse_event,
    sse_prompt,
    stream_preamble,
)


def prompt_bytes(**fields: object) -> bytes:
    return SurveyPrompt(**{**example_payload(SurveyPrompt), **fields}).model_dump_json().encode()


def test_event_ids_read_and_print_as_partition_dash_offset():
    assert parse_event_id("3-1742") == EventId(3, 1742)
    assert str(EventId(3, 1742)) == "3-1742"
    assert parse_event_id(" 0-0 ") == EventId(0, 0)


@pytest.mark.parametrize("text", ["", "3", "3-", "-1-2", "a-b", "3-4-5", "1e3-4", "99999999999-1"])
def test_anything_else_is_no_event_id(text):
    with pytest.raises(ValueError, match="partition"):
        parse_event_id(text)


def test_an_id_precedes_the_later_offsets_of_its_partition_only():
    seen = EventId(2, 10)
    assert seen.precedes(EventId(2, 10)) and seen.precedes(EventId(2, 3))
    assert not seen.precedes(EventId(2, 11))
    assert not seen.precedes(EventId(1, 5))


def test_a_prompt_record_is_read_with_its_times_and_its_json_unchanged():
    value = prompt_bytes()
    record = read_prompt(3, 17, value)
    assert record is not None
    payload = example_payload(SurveyPrompt)
    assert (record.event_id, record.user_id, record.prompt_id) == (
        EventId(3, 17),
        "customer-4711",
        payload["prompt_id"],
    )
    assert record.expires_s - record.created_s == 1800
    assert record.data == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"nope",
        b"[]",
        b'{"user_id": "u"}',
        b'{"user_id": "u", "prompt_id": "p", "created_at": "x", "expires_at": "y"}',
    ],
)
def test_a_record_that_is_no_prompt_is_skipped(value):
    assert read_prompt(0, 0, value) is None


def test_a_prompt_written_over_several_lines_is_sent_on_one():
    value = json.dumps(json.loads(prompt_bytes()), indent=2).encode()
    record = read_prompt(0, 1, value)
    assert record is not None and b"\n" not in record.data
    assert json.loads(record.data) == json.loads(value)


def test_an_answer_or_prompt_event_closes_its_prompt():
    assert read_closure(b'{"user_id": "u", "prompt_id": "p", "score": 4}') == Closure("u", "p")
    assert read_closure(b'{"user_id": "u"}') is None
    assert read_closure(b"garbage") is None


def test_a_prompt_event_on_the_stream_has_its_id_type_and_json():
    record = read_prompt(3, 17, prompt_bytes())
    assert record is not None
    event = sse_prompt(record)
    assert event.startswith(b"id: 3-17\nevent: prompt\ndata: {")
    assert event.endswith(b"}\n\n") and event.count(b"\n") == 4
    assert sse_event("expired", b"{}") == b"event: expired\ndata: {}\n\n"
    assert stream_preamble().startswith(b"retry: ")


def test_recent_ids_are_bounded_in_number_and_in_age():
    recent = RecentIds(max_ids=2, ttl_s=10)
    recent.add("a", 0)
    recent.add("b", 1)
    assert recent.seen("a", 2) and recent.seen("b", 2)
    recent.add("c", 3)
    assert not recent.seen("a", 3) and len(recent) == 2
    assert recent.seen("b", 10.9)
    assert not recent.seen("b", 11)
    assert recent.seen("c", 12)


def test_no_recent_ids_when_the_bound_is_zero():
    recent = RecentIds(max_ids=0, ttl_s=10)
    recent.add("a", 0)
    assert not recent.seen("a", 0)
