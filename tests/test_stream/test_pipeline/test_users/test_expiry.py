"""Tests for stream.pipeline.users.expiry.ExpiryTimers: the in-memory index of inferred-abandonment deadlines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stream.ces.intake import partition_for, pseudonymise
from stream.ces.registry import load_registry
from stream.ces.users import UserState
from stream.ces.users.goal_records import OpenGoal
from stream.pipeline.users import expiry as expiry_module
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


def make_expiry(app: FakeApp | None = None) -> UserExpiry:
    reader: Any = None  # no started event is read back here
    return UserExpiry(
        app or FakeApp(),
        Settings(),
        load_registry(EXAMPLE_REGISTRY),
        "user-events",
        reader,
        lambda ref, partition: UserState(),
    )


OPEN_GOAL = UserState(open_goals={"file-claim": OpenGoal("e-1", 100.0, 1_000.0, "nl", 3)})


def stored_users(count: int, open_every: int = 2) -> list[tuple[bytes, bytes | None]]:
    """Stored states of ``count`` users; every ``open_every``-th one holds an open goal (deadline 1 000 s)."""
    users = [pseudonymise(f"user-{i}", b"test-key") for i in range(count)]
    return [
        (ref.encode(), (OPEN_GOAL if i % open_every == 0 else UserState(last_offset=i)).to_bytes())
        for i, ref in enumerate(users)
    ]


def due_users(expiry: UserExpiry, partitions: set[int]) -> set[str]:
    return {ref for p in partitions for ref in expiry.timers.pop_due(p, 1_000.0)}


async def test_rebuild_indexes_the_owned_users_with_an_open_goal_only():
    """After a rebalance the deadlines come back from the stored states, of owned partitions only."""
    expiry = make_expiry()
    stored = stored_users(40)
    owned = {partition_for(key.decode(), expiry.partitions) for key, _ in stored[:10]}
    stored.append((b"erased", None))
    await expiry.rebuild(iter(stored), owned)
    expected = {
        key.decode()
        for i, (key, _) in enumerate(stored[:40])
        if i % 2 == 0 and partition_for(key.decode(), expiry.partitions) in owned
    }
    assert due_users(expiry, owned) == expected and expected  # every owned user with an open goal, nobody else
    assert expiry.timers.user_ids == {}  # the raw ids are not in state: read back when due


async def test_rebuild_hands_the_loop_back_between_slices_and_stops_when_the_assignment_changes(monkeypatch):
    monkeypatch.setattr(expiry_module, "HAND_BACK_EVERY_S", 0.0)  # hand back at every look at the clock
    expiry = make_expiry()
    stored = stored_users(3 * expiry_module.CHECK_TIME_EVERY, open_every=1)
    everyone = set(range(expiry.partitions))
    indexed_at_each_look: list[int] = []

    def assignment_holds() -> bool:
        indexed_at_each_look.append(sum(len(heap) for heap in expiry.timers._heaps.values()))
        return len(indexed_at_each_look) < 2  # the assignment changes before the second slice

    await expiry.rebuild(iter(stored), everyone, assignment_holds)
    assert indexed_at_each_look == [0, expiry_module.CHECK_TIME_EVERY]  # looked before each slice
    assert due_users(expiry, everyone) == {key.decode() for key, _ in stored[: expiry_module.CHECK_TIME_EVERY]}


def start_a_rebuild(monkeypatch, users: int, open_every: int):
    """A rebuild started over ``users`` stored users, handing the loop back at every look at the clock."""
    monkeypatch.setattr(expiry_module, "HAND_BACK_EVERY_S", 0.0)
    app = FakeApp()
    expiry = make_expiry(app)
    everyone = set(range(expiry.partitions))
    stored = stored_users(users, open_every=open_every)
    expiry.start_rebuild(iter(stored), everyone)
    return app, expiry, everyone, stored


async def test_start_rebuild_runs_beside_the_caller_and_a_revocation_stops_it(monkeypatch):
    app, expiry, everyone, stored = start_a_rebuild(monkeypatch, 5 * expiry_module.CHECK_TIME_EVERY, open_every=1)
    assert due_users(expiry, everyone) == set()  # nothing read before the caller hands the loop back
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    app.on_partitions_revoked.receivers[0](app, set(), signal=None)  # a rebalance begins (as mode sends it)
    assert expiry._rebuilding is None
    for _ in range(10):
        await asyncio.sleep(0)
    indexed = due_users(expiry, everyone)
    assert 0 < len(indexed) < len(stored)  # it had begun, and it stopped


async def test_start_rebuild_finishes_when_the_assignment_holds(monkeypatch):
    _app, expiry, everyone, stored = start_a_rebuild(monkeypatch, 3 * expiry_module.CHECK_TIME_EVERY + 1, open_every=3)
    task = expiry._rebuilding
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert due_users(expiry, everyone) == {key.decode() for i, (key, _) in enumerate(stored) if i % 3 == 0}


async def test_a_rebalance_during_the_rebuild_stops_it(monkeypatch):
    app, expiry, everyone, _stored = start_a_rebuild(monkeypatch, 3 * expiry_module.CHECK_TIME_EVERY, open_every=1)
    task = expiry._rebuilding
    assert task is not None
    app.consumer_generation_id += 1  # another assignment came meanwhile
    await asyncio.wait_for(task, 5)
    assert due_users(expiry, everyone) == set()  # stopped at its first look


async def test_a_state_that_does_not_decode_stops_the_worker(monkeypatch):
    stopped: list[BaseException] = []

    async def stop_the_worker(app, exc):
        stopped.append(exc)

    monkeypatch.setattr(expiry_module, "stop_the_worker", stop_the_worker)
    expiry = make_expiry()
    everyone = set(range(expiry.partitions))
    bad = (pseudonymise("user-x", b"test-key").encode(), b'{"og": not json')  # may hold goals, does not decode
    expiry.start_rebuild(iter([bad]), everyone)
    task = expiry._rebuilding
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert len(stopped) == 1
