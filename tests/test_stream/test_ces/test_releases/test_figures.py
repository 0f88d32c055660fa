"""Releases read from buckets, newest first per channel, and the verdict of the newest against the one before."""

from __future__ import annotations

import pytest

from stream.ces.releases import (
    BETTER,
    PENDING,
    WORSE,
    ReleaseCounts,
    channel_comparisons,
    compare_releases,
    newest_first,
    recent_releases,
    release_key,
    releases_in,
    split_release_key,
    version_order,
)


def release(channel: str, version: str, first_seen_s: int, answers: int, positive: int) -> ReleaseCounts:
    return ReleaseCounts(channel, version, first_seen_s, answers, positive, score_sum=answers * 3)


def test_a_release_key_keeps_a_separator_in_the_version():
    assert release_key("web", "2.3|beta") == "web|2.3|beta"
    assert split_release_key("web|2.3|beta") == ("web", "2.3|beta")


def test_releases_sum_their_cells_and_are_first_seen_in_their_earliest_bucket():
    buckets = [
        (7200, {release_key("web", "2.1"): [3, 1, 9]}),
        (0, {release_key("web", "2.0"): [10, 8, 40]}),
        (3600, {release_key("web", "2.0"): [5, 4, 20], release_key("web", "2.1"): [2, 0, 4]}),
        (10800, None),
        (14400, {release_key("ios", "5.0"): [0, 0, 0]}),  # an emptied cell is no release
    ]
    assert releases_in(buckets) == [
        ReleaseCounts("web", "2.1", 3600, 5, 1, 13),
        ReleaseCounts("web", "2.0", 0, 15, 12, 60),
    ]
    (newest, _) = releases_in(buckets)
    assert newest.ces_ratio == 1 / 5 and newest.mean_score == 13 / 5


def test_newest_first_per_channel_with_ties_taken_by_the_larger_name():
    releases = [
        release("web", "2.0", 0, 1, 1),
        release("ios", "5.1", 600, 1, 1),
        release("web", "2.2", 600, 1, 1),
        release("web", "2.10", 600, 1, 1),
        release("ios", "5.0", 0, 1, 1),
    ]
    assert [(r.channel, r.version) for r in newest_first(releases)] == [
        ("ios", "5.1"),
        ("ios", "5.0"),
        ("web", "2.10"),  # first seen together with 2.2: the higher version counts as newer
        ("web", "2.2"),
        ("web", "2.0"),
    ]
    recent = recent_releases(releases, 2)
    assert list(recent) == ["ios", "web"]
    assert [r.version for r in recent["web"]] == ["2.10", "2.2"]


@pytest.mark.parametrize(
    ("older", "newer"),
    [("5.9.1", "5.12.0"), ("web-2025.01.3", "web-2025.02.0"), ("1.0", "1.0.1"), ("2.0-beta", "2.0-rc"), ("9", "10")],
)
def test_version_names_order_naturally(older, newer):
    assert version_order(older) < version_order(newer)


@pytest.mark.parametrize(
    ("new", "previous", "direction"),
    [
        ((40, 100), (800, 1000), WORSE),
        ((95, 100), (700, 1000), BETTER),
        ((7, 10), (700, 1000), PENDING),
    ],
)
def test_the_verdict_is_decided_once_the_interval_leaves_zero(new, previous, direction):
    comparison = compare_releases(
        release("web", "2.1", 3600, new[1], new[0]), release("web", "2.0", 0, previous[1], previous[0]), 0.05
    )
    assert comparison is not None
    assert comparison.direction == direction and comparison.decided == (direction != PENDING)
    assert comparison.lower <= comparison.difference <= comparison.upper
    assert comparison.difference == pytest.approx(new[0] / new[1] - previous[0] / previous[1])
    assert (comparison.version, comparison.previous_version, comparison.first_seen_s) == ("2.1", "2.0", 3600)
    assert (comparison.answers, comparison.previous_answers) == (new[1], previous[1])


def test_each_channel_compares_its_own_newest_release_and_a_single_release_has_no_verdict():
    releases = [
        release("web", "2.0", 0, 1000, 800),
        release("web", "1.9", -3600, 1000, 100),  # older than 2.0: not compared
        release("web", "2.1", 3600, 100, 40),
        release("ios", "5.0", 0, 500, 250),
    ]
    (web,) = channel_comparisons(releases, 0.05)
    assert (web.channel, web.version, web.previous_version, web.direction) == ("web", "2.1", "2.0", WORSE)


def test_no_verdict_before_both_releases_hold_the_minimum_of_answers():
    new, previous = release("web", "2.1", 3600, 20, 0), release("web", "2.0", 0, 1000, 900)
    assert compare_releases(new, previous, 0.05).direction == WORSE  # valid from the first answer
    held_back = compare_releases(new, previous, 0.05, min_answers=30)
    assert held_back is not None and held_back.direction == PENDING and held_back.upper < 0.0
    assert compare_releases(previous, new, 0.05, min_answers=30).direction == PENDING
