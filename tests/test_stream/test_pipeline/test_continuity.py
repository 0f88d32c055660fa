"""Offset continuity bookkeeping (pure): holes are found, replays are not holes."""

from __future__ import annotations

from stream.pipeline.continuity import Gap, OffsetContinuity


def test_consecutive_offsets_leave_no_gap():
    offsets = OffsetContinuity()
    offsets.start_at("t", 0, 10)
    assert [offsets.observe("t", 0, o) for o in range(10, 15)] == [None] * 5


def test_a_jump_is_a_gap_of_the_missing_offsets_and_reading_goes_on_after_it():
    offsets = OffsetContinuity()
    offsets.start_at("t", 3, 0)
    assert offsets.observe("t", 3, 0) is None
    gap = offsets.observe("t", 3, 5000)
    assert gap == Gap("t", 3, 1, 5000) and gap.size == 4999
    assert offsets.observe("t", 3, 5001) is None


def test_a_partition_never_committed_expects_offset_zero():
    offsets = OffsetContinuity()
    offsets.start_at("answers", 6, 0)
    assert offsets.observe("answers", 6, 5000) == Gap("answers", 6, 0, 5000)


def test_a_replay_below_the_expectation_is_not_a_gap_and_does_not_move_it_back():
    offsets = OffsetContinuity()
    offsets.start_at("t", 0, 100)
    assert offsets.observe("t", 0, 100) is None
    assert offsets.observe("t", 0, 101) is None
    assert offsets.observe("t", 0, 50) is None  # seek back to the committed offset
    assert offsets.observe("t", 0, 103) == Gap("t", 0, 102, 103)


def test_partitions_and_topics_are_tracked_apart():
    offsets = OffsetContinuity()
    offsets.start_at("a", 0, 0)
    offsets.start_at("a", 1, 7)
    offsets.start_at("b", 0, 2)
    assert offsets.observe("a", 0, 0) is None
    assert offsets.observe("a", 1, 7) is None
    assert offsets.observe("b", 0, 3) == Gap("b", 0, 2, 3)


def test_forget_drops_every_expectation():
    offsets = OffsetContinuity()
    offsets.start_at("t", 0, 5)
    offsets.forget()
    assert not offsets.knows("t", 0)
    offsets.start_at("t", 0, 0)
    assert offsets.observe("t", 0, 0) is None
