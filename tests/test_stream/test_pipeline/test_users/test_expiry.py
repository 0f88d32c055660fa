"""Tests for stream.pipeline.users.expiry.ExpiryTimers: the in-memory index of inferred-abandonment deadlines."""

from __future__ import annotations

import pytest

from stream.pipeline.users.expiry import ExpiryTimers


@pytest.mark.parametrize(
    ("pushes", "now_s", "due", "left_due_later"),
    [
        ([], 100.0, [], []),
        ([(50.0, "u1")], 49.9, [], ["u1"]),
        ([(50.0, "u1")], 50.0, ["u1"], []),  # a deadline exactly now is due
        ([(30.0, "u3"), (10.0, "u1"), (20.0, "u2")], 100.0, ["u1", "u2", "u3"], []),  # deadline order, not push order
        ([(30.0, "u3"), (10.0, "u1"), (20.0, "u2")], 25.0, ["u1", "u2"], ["u3"]),
        ([(10.0, "u1"), (20.0, "u1"), (15.0, "u2")], 100.0, ["u1", "u2"], []),  # deduplicated, first deadline wins
        ([(10.0, "u1"), (20.0, "u1")], 15.0, ["u1"], ["u1"]),  # the later entry stays for later
    ],
    ids=["empty", "not-yet", "exactly-now", "order", "partly", "dedupe", "dedupe-later"],
)
def test_pop_due(pushes, now_s, due, left_due_later):
    timers = ExpiryTimers()
    for deadline, user_ref in pushes:
        timers.push(0, deadline, user_ref, None)
    assert timers.pop_due(0, now_s) == due
    assert timers.pop_due(0, now_s) == []  # popped means gone
    assert timers.pop_due(0, float("inf")) == left_due_later


def test_partitions_are_separate():
    timers = ExpiryTimers()
    timers.push(0, 10.0, "a", None)
    timers.push(1, 5.0, "b", None)
    assert timers.pop_due(2, 100.0) == []
    assert timers.pop_due(1, 100.0) == ["b"]
    assert timers.pop_due(0, 100.0) == ["a"]


def test_equal_deadlines_pop_every_user():
    timers = ExpiryTimers()
    for user_ref in ("c", "a", "b"):
        timers.push(0, 10.0, user_ref, None)
    assert sorted(timers.pop_due(0, 10.0)) == ["a", "b", "c"]


def test_user_ids_are_remembered_and_never_erased_by_an_unknown_one():
    timers = ExpiryTimers()
    timers.push(0, 10.0, "ref-1", "customer-4711")
    timers.push(0, 20.0, "ref-2", None)  # rebuilt from the table: raw id unknown
    timers.push(0, 30.0, "ref-1", None)  # re-armed by the timer itself
    assert timers.user_ids == {"ref-1": "customer-4711"}
    timers.push(0, 40.0, "ref-1", "customer-4711-new")
    assert timers.user_ids == {"ref-1": "customer-4711-new"}


def test_pop_due_leaves_user_ids_to_the_caller():
    timers = ExpiryTimers()
    timers.push(3, 10.0, "ref-1", "customer-4711")
    assert timers.pop_due(3, 10.0) == ["ref-1"]
    assert timers.user_ids.pop("ref-1") == "customer-4711"


def test_clear_forgets_every_deadline():
    timers = ExpiryTimers()
    timers.push(0, 10.0, "a", None)
    timers.push(1, 10.0, "b", None)
    timers.clear()
    assert timers.pop_due(0, 100.0) == []
    assert timers.pop_due(1, 100.0) == []
    timers.push(0, 10.0, "c", None)  # usable again after a rebuild
    assert timers.pop_due(0, 100.0) == ["c"]


def test_many_deadlines_come_out_sorted():
    import random

    rng = random.Random(3)
    timers = ExpiryTimers()
    deadlines = {f"u{i}": rng.uniform(0, 1000) for i in range(200)}
    for user_ref, deadline in deadlines.items():
        timers.push(7, deadline, user_ref, None)
    due = timers.pop_due(7, 500.0)
    assert due == sorted((u for u, d in deadlines.items() if d <= 500.0), key=deadlines.__getitem__)
    assert set(timers.pop_due(7, 1000.0)) == {u for u, d in deadlines.items() if d > 500.0}
