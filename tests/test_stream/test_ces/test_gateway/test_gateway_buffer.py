"""The per-user prompt buffer: a resume after an id, never a prompt twice, never an expired one, bounded."""

from __future__ import annotations

import uuid

import pytest

from stream.ces.gateway import EventId, PromptBuffer, PromptRecord

NOW = 1_700_000_000.0


def prompt(offset: int, *, partition: int = 0, expires_in: float = 1800, prompt_id: str | None = None) -> PromptRecord:
    return PromptRecord(
        event_id=EventId(partition, offset),
        user_id="u",
        prompt_id=prompt_id or str(uuid.uuid4()),
        created_s=NOW,
        expires_s=NOW + expires_in,
        data=b"{}",
    )


def offsets(prompts: list[PromptRecord]) -> list[int]:
    return [p.event_id.offset for p in prompts]


def buffer(per_user: int = 20, total: int = 1000) -> PromptBuffer:
    return PromptBuffer(per_user=per_user, total=total, closure_s=1860)


def test_a_new_connection_gets_every_unexpired_prompt_in_order():
    b = buffer()
    for offset in (3, 7, 9):
        assert b.add("alice", prompt(offset), NOW)
    assert offsets(b.pending("alice", None, NOW)) == [3, 7, 9]
    assert b.pending("bob", None, NOW) == []


def test_a_resume_gets_only_what_came_after_the_last_id():
    b = buffer()
    for offset in (3, 7, 9):
        b.add("alice", prompt(offset), NOW)
    assert offsets(b.pending("alice", EventId(0, 3), NOW)) == [7, 9]
    assert offsets(b.pending("alice", EventId(0, 7), NOW)) == [9]
    assert b.pending("alice", EventId(0, 9), NOW) == []
    assert offsets(b.pending("alice", EventId(0, 5), NOW)) == [7, 9]  # an id the buffer forgot still orders


def test_prompts_on_another_partition_count_as_unseen():
    b = buffer()
    b.add("alice", prompt(3, partition=0), NOW)
    b.add("alice", prompt(1, partition=2), NOW)
    assert offsets(b.pending("alice", EventId(0, 3), NOW)) == [1]


def test_a_prompt_read_again_is_not_new():
    b = buffer()
    first = prompt(3)
    assert b.add("alice", first, NOW)
    assert not b.add("alice", first, NOW)  # the same record (a replay)
    assert not b.add("alice", prompt(8, prompt_id=first.prompt_id), NOW)  # the worker re-sent it after a crash
    assert offsets(b.pending("alice", None, NOW)) == [3]


def test_an_expired_prompt_is_never_handed_out_and_is_dropped():
    b = buffer()
    assert not b.add("alice", prompt(1, expires_in=-1), NOW)
    b.add("alice", prompt(2, expires_in=10), NOW)
    b.add("alice", prompt(3, expires_in=60), NOW)
    assert offsets(b.pending("alice", None, NOW + 10)) == [3]
    assert b.expire(NOW + 10) == 1
    assert b.prompts == 1
    assert b.expire(NOW + 60) == 1
    assert (b.prompts, b.users) == (0, 0)


def test_a_closed_prompt_is_dropped_and_not_taken_again():
    b = buffer()
    answered = prompt(3)
    b.add("alice", answered, NOW)
    b.add("alice", prompt(4), NOW)
    b.close("alice", answered.prompt_id, NOW)
    assert offsets(b.pending("alice", None, NOW)) == [4]
    assert not b.add("alice", answered, NOW)


def test_a_closure_read_before_its_prompt_keeps_the_prompt_out():
    b = buffer()
    later = prompt(5)
    b.close("alice", later.prompt_id, NOW)
    assert not b.add("alice", later, NOW)
    assert b.pending("alice", None, NOW) == []


def test_closures_are_forgotten_after_their_time():
    b = buffer()
    b.close("alice", "p-1", NOW)
    assert b.users == 1
    b.expire(NOW + 1860)
    assert b.users == 0


def test_the_oldest_prompt_of_a_user_goes_beyond_the_per_user_bound():
    b = buffer(per_user=2)
    for offset in (1, 2, 3):
        b.add("alice", prompt(offset), NOW)
    assert offsets(b.pending("alice", None, NOW)) == [2, 3]
    assert b.prompts == 2


def test_beyond_the_total_the_prompt_closest_to_expiry_goes():
    b = buffer(total=3)
    b.add("alice", prompt(1, expires_in=600), NOW)
    b.add("bob", prompt(1, expires_in=60), NOW)
    b.add("carol", prompt(1, expires_in=900), NOW)
    b.add("dave", prompt(1, expires_in=300), NOW)
    assert b.prompts == 3
    assert b.pending("bob", None, NOW) == []
    assert [u for u in ("alice", "carol", "dave") if b.pending(u, None, NOW)] == ["alice", "carol", "dave"]


def test_closures_are_bounded_too():
    b = buffer(per_user=1, total=5)
    for n in range(50):
        b.close(f"user-{n}", "p", NOW + n)
    assert b.users <= 5
    for n in range(10):
        b.close("alice", f"p-{n}", NOW)
    b.expire(NOW)
    assert b.users <= 6


def test_the_heaps_stay_bounded_under_churn():
    b = buffer(per_user=1, total=10)
    for n in range(20_000):
        b.add(f"user-{n % 7}", prompt(n), NOW)
    assert b.prompts == 7
    assert len(b._expiries) <= 2 * b.prompts + 1100


def test_bounds_below_one_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        PromptBuffer(per_user=0, total=1, closure_s=1)
