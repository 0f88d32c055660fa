"""Tests for stream.pipeline.users.expiry.ExpiryTimers: the in-memory index of inferred-abandonment deadlines."""

from __future__ import annotations

from typing import Any

import pytest

from stream.ces.intake import partition_for, pseudonymise
from stream.ces.registry import load_registry
from stream.ces.users import UserState
from stream.ces.users.goal_records import OpenGoal
from stream.pipeline.users.expiry import ExpiryTimers, UserExpiry
from stream.settings import Settings
from tests.paths import EXAMPLE_REGISTRY
from tests.test_stream.test_pipeline.stage_fakes import FakeApp


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


def test_rebuild_indexes_the_owned_users_with_an_open_goal_only():
    """After a rebalance the deadlines come back from the stored states, of owned partitions only."""
    app = FakeApp()
    reader: Any = None  # no started event is read back here
    expiry = UserExpiry(
        app, Settings(), load_registry(EXAMPLE_REGISTRY), "user-events", reader, lambda ref: UserState()
    )
    open_goal = UserState(open_goals={"file-claim": OpenGoal("e-1", 100.0, 1_000.0, "nl", 3)})
    users = [pseudonymise(f"user-{i}", b"test-key") for i in range(40)]
    owned = {partition_for(ref, expiry.partitions) for ref in users[:10]}
    stored = [
        (ref.encode(), (open_goal if i % 2 else UserState(last_offset=i)).to_bytes()) for i, ref in enumerate(users)
    ]
    stored.append((b"erased", None))
    expiry.rebuild(iter(stored), owned)
    due = {ref for p in owned for ref in expiry.timers.pop_due(p, 1_000.0)}
    expected = {ref for i, ref in enumerate(users) if i % 2 and partition_for(ref, expiry.partitions) in owned}
    assert due == expected and expected  # every owned user with an open goal, and nobody else
    assert expiry.timers.user_ids == {}  # the raw ids are not in state: read back when due
