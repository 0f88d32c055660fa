"""Window plans, sliding window sums, closed periods and pruning."""

from __future__ import annotations

import random

import pytest

from stream.ces.goals.buckets import AnswerFact, BucketCounts, OutcomeFact, PromptFact
from stream.ces.goals.durations import format_duration, parse_duration
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.segments import CHANNELS, OUTCOMES, AnswerCounts
from stream.ces.goals.stats import figures
from stream.ces.goals.windows import (
    GoalBuckets,
    WindowSpec,
    closed_periods,
    plan_windows,
    retention_s_by_resolution,
)
from stream.ces.registry.scales import Sentiment

DEFAULT_WINDOWS = ("10m", "30m", "1h", "3h", "24h", "7d", "28d")
RESOLUTIONS_S = (60, 300, 3600)
T0 = 1_700_006_400  # a multiple of 3600


def one_answer(score: int = 4) -> BucketCounts:
    counts = BucketCounts()
    counts.add_answer(score, Sentiment.positive if score >= 4 else Sentiment.negative, "completed", "web")
    return counts


def answers_of(score: int, times: int) -> BucketCounts:
    """What ``times`` x :func:`one_answer` sum to, written out: blended and in every segment."""
    segment = AnswerCounts(scores={score: times}, positive=times, score_sum=score * times)
    return BucketCounts(
        scores={score: times},
        positive=times,
        score_sum=score * times,
        by_outcome={"completed": segment.copy()},
        by_channel={"web": segment.copy()},
        strata={"completed/web": [0, times, times]},
    )


def naive_sum(buckets: GoalBuckets, resolution_s: int, start_s: int, end_s: int) -> BucketCounts:
    """The definition, without any cleverness."""
    total = BucketCounts()
    for res, bucket_start_s, counts in buckets.items():
        if res == resolution_s and start_s <= bucket_start_s < end_s:
            total.merge(counts)
    return total


def naive_window(buckets: GoalBuckets, spec: WindowSpec, now_s: float) -> BucketCounts:
    end_s = int(now_s // spec.resolution_s) * spec.resolution_s + spec.resolution_s
    return naive_sum(buckets, spec.resolution_s, end_s - spec.duration_s, end_s)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("30m", 1800),
        ("1h", 3600),
        ("3h", 10800),
        ("24h", 86400),
        ("1d", 86400),
        ("7d", 604800),
        ("28d", 2419200),
        (" 5m ", 300),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "0m", "-5m", "1.5h", "10 m", "1w", "h", "10M", None])
def test_parse_duration_rejects_invalid_text(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90, "90s"),
        (60, "1m"),
        (600, "10m"),
        (3600, "1h"),
        (5400, "90m"),
        (86400, "24h"),
        (172800, "2d"),
        (604800, "7d"),
        (2419200, "28d"),
        (90000, "25h"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("seconds", [0, -60, 1.5])
def test_format_duration_rejects_non_positive_or_fractional(seconds):
    with pytest.raises(ValueError):
        format_duration(seconds)


def test_plan_windows_for_the_default_windows():
    specs = plan_windows([parse_duration(name) for name in DEFAULT_WINDOWS], RESOLUTIONS_S)
    assert [spec.name for spec in specs] == list(DEFAULT_WINDOWS)
    assert [spec.resolution_s for spec in specs] == [60, 60, 60, 60, 300, 3600, 3600]
    assert all(spec.bucket_count <= 1000 for spec in specs)


def test_plan_windows_keeps_the_given_order_and_respects_max_buckets():
    specs = plan_windows([3600, 600], (60, 300), max_buckets=30)
    assert specs == (WindowSpec("1h", 3600, 300), WindowSpec("10m", 600, 60))


@pytest.mark.parametrize(
    ("durations_s", "message"),
    [
        ([90], r"window 90s: no resolution in \(60, 300, 3600\)"),
        ([60 * 86400 + 60], r"window 86401m: no resolution"),
        ([90 * 86400], r"window 90d: .*at most 1000 buckets"),  # 2160 hourly buckets
        ([600, 600], "window 10m is listed twice"),
        ([0], "positive whole seconds"),
    ],
)
def test_plan_windows_rejects_impossible_plans_with_a_message(durations_s, message):
    with pytest.raises(ValueError, match=message):
        plan_windows(durations_s, RESOLUTIONS_S)


@pytest.mark.parametrize(("duration_s", "resolution_s"), [(90, 60), (0, 60), (60, 0), (600.0, 60)])
def test_window_spec_rejects_durations_that_are_not_whole_buckets(duration_s, resolution_s):
    with pytest.raises(ValueError):
        WindowSpec("x", duration_s, resolution_s)


def test_window_includes_the_open_bucket_and_excludes_the_bucket_before_its_start():
    spec = WindowSpec("10m", 600, 60)
    now_s = T0 + 30.5  # inside the bucket [T0, T0 + 60)
    buckets = GoalBuckets()
    buckets.apply(60, T0, one_answer(5))  # open bucket: in
    buckets.apply(60, T0 + 60 - 600, one_answer(4))  # end - duration: first bucket, in
    buckets.apply(60, T0 + 60 - 600 - 60, one_answer(1))  # end - duration - res: out
    buckets.apply(60, T0 + 60, one_answer(1))  # a future bucket: out

    window = buckets.window_counts(spec, now_s)

    assert window.scores == {5: 1, 4: 1}
    assert window == naive_window(buckets, spec, now_s)


def test_fact_exactly_on_a_bucket_edge_lands_in_the_later_bucket_and_window():
    spec = WindowSpec("10m", 600, 60)
    buckets = GoalBuckets()
    for (_, res, start_s), delta in fold_facts(
        [AnswerFact("g", float(T0), 5, Sentiment.positive, "completed", "web")], (60,)
    ).items():
        buckets.apply(res, start_s, delta)
    assert buckets.bucket(60, T0) == one_answer(5)
    assert buckets.window_counts(spec, T0 - 0.001).answers == 0
    assert buckets.window_counts(spec, T0).answers == 1
    assert buckets.window_counts(spec, T0 + 599.999).answers == 1
    assert buckets.window_counts(spec, T0 + 600).answers == 0


def test_window_counts_of_a_goal_without_buckets_is_empty():
    assert GoalBuckets().window_counts(WindowSpec("1h", 3600, 60), T0).is_empty()


def test_window_counts_returns_a_copy():
    spec = WindowSpec("10m", 600, 60)
    buckets = GoalBuckets()
    buckets.apply(60, T0 - 60, one_answer())
    buckets.window_counts(spec, T0).add_prompt()
    assert buckets.window_counts(spec, T0).prompts == 0
    assert buckets.bucket(60, T0 - 60).prompts == 0


def test_apply_merges_deltas_and_copies_them():
    buckets = GoalBuckets()
    delta = one_answer(5)
    buckets.apply(60, T0, delta)
    buckets.apply(60, T0, delta)
    delta.add_prompt()
    assert buckets.bucket(60, T0) == answers_of(5, 2)


def test_apply_replace_sets_the_bucket_and_empty_removes_it():
    spec = WindowSpec("10m", 600, 60)
    buckets = GoalBuckets()
    buckets.apply(60, T0 - 120, one_answer(5))
    assert buckets.window_counts(spec, T0).answers == 1  # warms the running sum
    buckets.apply(60, T0 - 120, one_answer(2), replace=True)
    assert buckets.window_counts(spec, T0).scores == {2: 1}
    buckets.apply(60, T0 - 120, BucketCounts(), replace=True)
    assert buckets.bucket(60, T0 - 120) is None
    assert buckets.window_counts(spec, T0).is_empty()
    assert len(buckets) == 0


def test_apply_rejects_an_unaligned_bucket_start():
    with pytest.raises(ValueError, match="not a multiple of the resolution 60s"):
        GoalBuckets().apply(60, T0 + 1, one_answer())


@pytest.mark.parametrize("seed", range(6))
def test_window_counts_always_equal_the_plain_sum_while_data_and_clock_move(seed):
    """Running sums (apply into closed buckets, slides, jumps, replaces, prunes) stay exact."""
    rng = random.Random(seed)
    specs = (
        WindowSpec("10m", 600, 60),
        WindowSpec("30m", 1800, 60),
        WindowSpec("24h", 86400, 300),
        WindowSpec("7d", 604800, 3600),
    )
    keep = retention_s_by_resolution(specs, close_delay_s=3600)
    buckets = GoalBuckets()
    now_s = float(T0)
    for _ in range(400):
        action = rng.random()
        if action < 0.55:  # a late, current or slightly future fact
            at_s = now_s - rng.choice((0, 0, 30, 200, 1000, 5000, 90000)) + rng.choice((0, 0, 61))
            facts = [
                AnswerFact(
                    "g",
                    at_s,
                    rng.randint(1, 5),
                    rng.choice(list(Sentiment)),
                    rng.choice(OUTCOMES),
                    rng.choice(CHANNELS),
                ),
                OutcomeFact("g", at_s, "abandoned"),
            ]
            for (_, res, start_s), delta in fold_facts(facts, (60, 300, 3600)).items():
                buckets.apply(res, start_s, delta)
        elif action < 0.6:  # a restored bucket
            res = rng.choice((60, 300, 3600))
            start_s = int((now_s - rng.randint(0, 3000)) // res) * res
            buckets.apply(res, start_s, one_answer(rng.randint(1, 5)), replace=True)
        elif action < 0.65:
            buckets.prune(now_s, keep)
        else:  # the clock: small steps, sometimes a quiet gap
            now_s += rng.choice((1.0, 5.0, 59.0, 61.0, 300.0, 3600.0, 20000.0))
        spec = rng.choice(specs)
        assert buckets.window_counts(spec, now_s) == naive_window(buckets, spec, now_s)
    for spec in specs:
        assert buckets.window_counts(spec, now_s) == naive_window(buckets, spec, now_s)


def test_clock_going_backwards_still_gives_the_right_sum():
    spec = WindowSpec("10m", 600, 60)
    buckets = GoalBuckets()
    for minute in range(40):
        buckets.apply(60, T0 + 60 * minute, one_answer())
    assert buckets.window_counts(spec, T0 + 1800).answers == 10
    assert buckets.window_counts(spec, T0 + 300).answers == 6
    assert buckets.window_counts(spec, T0 + 1800).answers == 10


def test_per_partition_partials_merge_into_the_goal_aggregate():
    facts = [AnswerFact("g", T0 + 7.0 * i, 1 + i % 5, Sentiment.neutral, "completed", "web") for i in range(300)] + [
        PromptFact("g", T0 + 11.0 * i, "completed") for i in range(100)
    ]
    partitions = [facts[0::3], facts[1::3], facts[2::3]]
    aggregate = GoalBuckets()
    for partial_facts in partitions:
        partial = GoalBuckets()
        for (_, res, start_s), delta in fold_facts(partial_facts, RESOLUTIONS_S).items():
            partial.apply(res, start_s, delta)
        for res, start_s, counts in partial.items():
            aggregate.apply(res, start_s, counts)
    direct = GoalBuckets()
    for (_, res, start_s), delta in fold_facts(facts, RESOLUTIONS_S).items():
        direct.apply(res, start_s, delta)

    assert sorted((r, s) for r, s, _ in aggregate.items()) == sorted((r, s) for r, s, _ in direct.items())
    for res, start_s, counts in direct.items():
        assert aggregate.bucket(res, start_s) == counts
    spec = WindowSpec("1h", 3600, 60)
    assert aggregate.window_counts(spec, T0 + 3000) == direct.window_counts(spec, T0 + 3000)
    assert aggregate.window_counts(spec, T0 + 3000).answers == 300


def test_period_counts_sums_an_aligned_period():
    spec = WindowSpec("10m", 600, 60)
    buckets = GoalBuckets()
    for minute in range(-1, 11):
        buckets.apply(60, T0 + 60 * minute, one_answer())
    assert buckets.period_counts(spec, T0, T0 + 600).answers == 10
    assert buckets.period_counts(spec, T0 - 600, T0).answers == 1


@pytest.mark.parametrize(("start_s", "end_s"), [(T0 + 1, T0 + 600), (T0, T0 + 601), (T0, T0), (T0 + 600, T0)])
def test_period_counts_rejects_unaligned_or_empty_periods(start_s, end_s):
    with pytest.raises(ValueError, match="not aligned"):
        GoalBuckets().period_counts(WindowSpec("10m", 600, 60), start_s, end_s)


# closed_periods: 10m periods, grace 60 s; T0 is a period boundary.
TEN_MINUTES = WindowSpec("10m", 600, 60)


@pytest.mark.parametrize(
    ("last_closed_end_s", "now_s", "expected"),
    [
        (T0, T0 + 600 + 59.999, []),  # before end + grace
        (T0, T0 + 600 + 60, [(T0, T0 + 600)]),  # exactly at end + grace
        (T0, T0 + 1000, [(T0, T0 + 600)]),
        (T0 + 600, T0 + 1000, []),  # already emitted
        (T0, T0 + 3000 + 60, [(T0 + 600 * k, T0 + 600 * (k + 1)) for k in range(5)]),  # quiet gap
        (None, T0 + 3000 + 60, [(T0 + 2400, T0 + 3000)]),  # fresh start: only the latest
        (None, T0 + 3000 + 59, [(T0 + 1800, T0 + 2400)]),
        (T0 + 13, T0 + 1300, [(T0, T0 + 600), (T0 + 600, T0 + 1200)]),  # every end after an unaligned stamp
    ],
)
def test_closed_periods(last_closed_end_s, now_s, expected):
    assert closed_periods(TEN_MINUTES, last_closed_end_s, now_s, grace_s=60) == expected


def test_closed_periods_rejects_negative_grace():
    with pytest.raises(ValueError):
        closed_periods(TEN_MINUTES, None, T0, grace_s=-1)


def test_retention_covers_each_windows_duration_and_the_close_delay():
    specs = plan_windows([parse_duration(name) for name in DEFAULT_WINDOWS], RESOLUTIONS_S)
    assert retention_s_by_resolution(specs, close_delay_s=3605) == {
        60: 10800 + 60 + 3660,
        300: 86400 + 300 + 3900,
        3600: 2419200 + 3600 + 7200,
    }
    assert retention_s_by_resolution(specs) == {60: 10860, 300: 86700, 3600: 2422800}


def test_prune_keeps_what_windows_and_the_pending_period_need():
    specs = (WindowSpec("10m", 600, 60), WindowSpec("1h", 3600, 60), WindowSpec("24h", 86400, 300))
    grace_s, tick_s = 60.0, 5.0
    keep = retention_s_by_resolution(specs, close_delay_s=grace_s + tick_s)
    buckets = GoalBuckets()
    for minute in range(-2 * 24 * 60, 1):
        buckets.apply(60, T0 + 60 * minute, one_answer())
        if minute % 5 == 0:
            buckets.apply(300, T0 + 60 * minute, one_answer())
    buckets.apply(3600, T0, one_answer())  # a resolution no window uses
    now_s = T0 + 60 + grace_s + tick_s - 0.001  # the 1h period [T0-3600, T0) is still to be emitted
    hour = specs[1]
    (period,) = closed_periods(hour, T0 - 3600, now_s, grace_s)
    windows_before = [buckets.window_counts(spec, now_s) for spec in specs]
    period_before = buckets.period_counts(hour, *period)

    dropped = buckets.prune(now_s, keep)

    assert dropped > 0
    assert [buckets.window_counts(spec, now_s) for spec in specs] == windows_before
    assert buckets.period_counts(hour, *period) == period_before == answers_of(4, 60)
    assert buckets.bucket(3600, T0) is None
    assert min(start for res, start, _ in buckets.items() if res == 60) >= T0 + 60 - keep[60]
    assert buckets.bucket(60, T0 - 2 * 86400) is None
    # 1-minute buckets from T0 - 3600 (the pending period's start) to T0; 5-minute ones for 24h + 5m + delay
    assert sum(1 for res, _, _ in buckets.items() if res == 60) == 61
    assert sum(1 for res, _, _ in buckets.items() if res == 300) == 290


def test_prune_of_everything_removes_the_resolution():
    buckets = GoalBuckets()
    buckets.apply(60, T0, one_answer())
    assert buckets.prune(T0 + 86400, {60: 600}) == 1
    assert len(buckets) == 0
    assert buckets.window_counts(WindowSpec("10m", 600, 60), T0 + 86400).is_empty()


@pytest.mark.slow
def test_snapshot_of_200_goals_by_7_windows_is_computed_and_prints_nothing(capsys):
    """The shape of the metrics snapshot; the speed is measured outside the test suite."""
    specs = plan_windows([parse_duration(name) for name in DEFAULT_WINDOWS], RESOLUTIONS_S)
    keep = retention_s_by_resolution(specs)
    goals = {f"goal-{i:03d}": GoalBuckets() for i in range(200)}
    now_s = float(T0)
    for index, buckets in enumerate(goals.values()):
        for res, keep_s in keep.items():
            # a few answers in every bucket each goal keeps
            for start_s in range(T0 - keep_s + res, T0 + res, res):
                buckets.apply(res, start_s, one_answer(1 + (start_s // res + index) % 5))

    for tick in range(3):
        now_s += 5.0 * tick
        snapshot = {
            (goal, spec.name): figures(buckets.window_counts(spec, now_s), (1, 2, 3, 4, 5), 1, 0.99)
            for goal, buckets in goals.items()
            for spec in specs
        }

    assert len(snapshot) == 1400
    assert [snapshot[("goal-007", spec.name)].answers for spec in specs] == [spec.bucket_count for spec in specs]
    assert capsys.readouterr() == ("", "")


def test_window_buckets_are_the_buckets_window_counts_sums_oldest_first():
    from stream.ces.goals.buckets import BucketCounts
    from stream.ces.registry.scales import Sentiment

    spec = WindowSpec("3m", 180, 60)
    store = GoalBuckets()
    one = BucketCounts()
    one.add_answer(5, Sentiment.positive, "completed", "web")
    store.apply(60, 600, one)
    store.apply(60, 720, one)
    assert store.window_buckets(spec, 750) == [one, None, one]  # [600, 780): the open bucket 720 last
    assert store.window_buckets(spec, 800) == [None, one, None]
