"""The feed webhook's rate limit per goal: a burst at once, then the rate, and nothing dropped."""

from __future__ import annotations

import pytest

from stream.ces.feed import GoalRateLimits, TokenBucket


def test_a_full_bucket_gives_its_burst_at_once_then_says_how_long_to_wait():
    bucket = TokenBucket.full(rate_per_s=2.0, burst=3.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)  # one token per 0.5 s
    assert bucket.take(100.0) == pytest.approx(0.5)  # asking again takes nothing


def test_waiting_the_time_it_says_yields_the_token():
    bucket = TokenBucket.full(rate_per_s=1 / 3, burst=1.0, now=0.0)
    assert bucket.take(0.0) == 0.0
    wait = bucket.take(1.0)
    assert wait == pytest.approx(2.0)
    assert bucket.take(1.0 + wait) == 0.0


def test_tokens_refill_up_to_the_burst_only():
    bucket = TokenBucket.full(rate_per_s=1.0, burst=2.0, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(3600.0) == 0.0
    assert bucket.take(3600.0) == 0.0
    assert bucket.take(3600.0) == pytest.approx(1.0)


def test_a_clock_that_goes_back_earns_nothing():
    bucket = TokenBucket.full(rate_per_s=1.0, burst=1.0, now=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) == pytest.approx(1.0)
    assert bucket.take(11.0) == 0.0


def test_the_rate_over_a_long_run_is_the_configured_one():
    """A goal sending as fast as it may gets burst + rate x time, not one message more."""
    limits = GoalRateLimits(per_minute=20)
    now, sent = 0.0, 0
    while now < 601:  # tokens at 3 s, 6 s, ..., 600 s
        wait = limits.take("g", now)
        if wait == 0:
            sent += 1
        else:
            now += wait
    assert sent == 20 + 200  # the burst, then 20 a minute for 10 minutes


def test_each_goal_has_its_own_bucket():
    limits = GoalRateLimits(per_minute=2)
    assert [limits.take("a", 0.0) for _ in range(2)] == [0.0, 0.0]
    assert limits.take("a", 0.0) == pytest.approx(30.0)
    assert limits.take("b", 0.0) == 0.0


def test_zero_means_no_limit():
    limits = GoalRateLimits(per_minute=0)
    assert all(limits.take("g", 0.0) == 0.0 for _ in range(10_000))
    assert len(limits) == 0


def test_a_rate_under_one_a_minute_still_lets_one_through():
    limits = GoalRateLimits(per_minute=0.5)
    assert limits.take("g", 0.0) == 0.0
    assert limits.take("g", 0.0) == pytest.approx(120.0)


def test_full_buckets_are_forgotten_when_there_are_many():
    limits = GoalRateLimits(per_minute=60, max_buckets=3)
    for goal in ("a", "b", "c"):
        limits.take(goal, 0.0)
    assert len(limits) == 3
    # A minute later all three are full again: the same as new ones, so they go.
    limits.take("d", 60.0)
    assert len(limits) == 1
    # A bucket that is not full is kept: its goal must still wait.
    limits = GoalRateLimits(per_minute=1, max_buckets=1)
    limits.take("a", 0.0)
    limits.take("b", 1.0)
    assert limits.take("a", 2.0) > 0
