"""StallDetector: a partition is stalled when records wait and its committed offset stands still."""

from __future__ import annotations

from stream.pipeline.stalls import StallDetector

TP = ("ces.goal-events", 3)


def test_records_waiting_behind_a_commit_that_stands_still_stall_after_the_limit() -> None:
    detector = StallDetector(stall_s=120)
    assert detector.observe(0, {TP: (500, 900)}) == set()
    assert detector.observe(119, {TP: (500, 950)}) == set()
    assert detector.observe(120, {TP: (500, 990)}) == {TP}


def test_a_commit_that_moves_starts_the_clock_again() -> None:
    detector = StallDetector(stall_s=120)
    detector.observe(0, {TP: (500, 900)})
    assert detector.observe(100, {TP: (501, 900)}) == set()
    assert detector.observe(219, {TP: (501, 900)}) == set()
    assert detector.observe(220, {TP: (501, 900)}) == {TP}


def test_nothing_waiting_is_never_stalled_and_a_returning_backlog_starts_afresh() -> None:
    detector = StallDetector(stall_s=120)
    detector.observe(0, {TP: (500, 900)})
    assert detector.observe(500, {TP: (900, 900)}) == set()  # caught up: an idle partition is fine
    assert detector.observe(600, {TP: (900, 950)}) == set()
    assert detector.observe(720, {TP: (900, 950)}) == {TP}


def test_a_partition_no_longer_owned_is_forgotten_and_forget_clears_all() -> None:
    detector = StallDetector(stall_s=120)
    other = ("ces.goal-events", 4)
    detector.observe(0, {TP: (500, 900), other: (1, 2)})
    assert detector.observe(60, {other: (1, 2)}) == set()
    assert detector.observe(130, {TP: (500, 900), other: (1, 2)}) == {other}  # TP came back: its clock restarts
    detector.forget()
    assert detector.observe(200, {TP: (500, 900), other: (1, 2)}) == set()
