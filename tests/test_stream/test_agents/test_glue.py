"""Tests for stream.agents.glue: batch grouping and the explicit changelog partition for table writes."""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import pytest
from faust.streams import _current_event, current_event

from stream.agents.glue import by_partition, writing_to_partition


def event(partition: int, offset: int, topic: str = "t") -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


def offsets(groups):
    return {p: [e.message.offset for e in events] for p, events in groups.items()}


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ([], {}),
        ([(0, 1)], {0: [1]}),
        ([(0, 1), (0, 2), (0, 3)], {0: [1, 2, 3]}),
        ([(1, 10), (0, 5), (1, 11), (2, 7), (0, 6), (1, 12)], {1: [10, 11, 12], 0: [5, 6], 2: [7]}),
        ([(3, 9), (3, 4)], {3: [9, 4]}),  # kept in arrival order, not re-sorted
    ],
    ids=["empty", "one", "one-partition", "interleaved", "arrival-order"],
)
def test_by_partition_groups_and_keeps_order(batch, expected):
    events = [event(p, o) for p, o in batch]
    groups = by_partition(events)
    assert offsets(groups) == expected
    assert list(groups) == list(expected)  # partitions in order of first appearance


def test_by_partition_keeps_the_event_objects():
    events = [event(0, 1), event(1, 2), event(0, 3)]
    groups = by_partition(events)
    assert groups[0][0] is events[0] and groups[0][1] is events[2] and groups[1][0] is events[1]


def test_writing_to_partition_sets_the_current_event_and_resets_it():
    assert current_event() is None
    with writing_to_partition("ces-stream-user-events", 5):
        ev = current_event()
        assert ev is not None
        assert ev.message.topic == "ces-stream-user-events"
        assert ev.message.partition == 5
    assert current_event() is None


def test_writing_to_partition_nests_and_restores_the_outer_one():
    with writing_to_partition("a", 1):
        with writing_to_partition("b", 2):
            assert (current_event().message.topic, current_event().message.partition) == ("b", 2)
        assert (current_event().message.topic, current_event().message.partition) == ("a", 1)
    assert current_event() is None


def test_writing_to_partition_restores_a_real_stream_event():
    class Event:  # SimpleNamespace cannot be weakly referenced
        message = SimpleNamespace(topic="ces.goal-events", partition=0)

    real = Event()
    token = _current_event.set(weakref.ref(real))
    try:
        with writing_to_partition("ces-stream-goal-partials", 3):
            assert current_event().message.partition == 3
        assert current_event() is real
    finally:
        _current_event.reset(token)


def test_writing_to_partition_resets_after_an_exception():
    with pytest.raises(RuntimeError):
        with writing_to_partition("t", 7):
            raise RuntimeError("boom")
    assert current_event() is None


async def test_writing_to_partition_holds_across_awaits():
    import asyncio

    with writing_to_partition("t", 4):
        await asyncio.sleep(0)
        assert current_event().message.partition == 4
    assert current_event() is None
