"""Measured effort: the duration histogram, its quantiles within the stated error, and its counts in a bucket."""

from __future__ import annotations

import json
import random

import pytest

from stream.ces.goals.buckets import BucketCounts, EffortFact, OutcomeFact
from stream.ces.goals.effort import (
    DURATION_QUANTILES,
    DURATION_RELATIVE_ACCURACY,
    MIN_DURATION_S,
    band_names,
    duration_band,
    duration_key,
    duration_quantile,
    effort_divergence,
    effort_figures,
    slower_counts,
)
from stream.ces.goals.fold import fold_facts
from stream.ces.registry.scales import Sentiment


def histogram(durations: list[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for duration in durations:
        key = duration_key(duration)
        counts[key] = counts.get(key, 0) + 1
    return counts


def exact_quantile(durations: list[float], quantile: float) -> float:
    """The value the sketch's rank rule names: rank floor(q * (n - 1)) of the sorted durations."""
    ordered = sorted(max(d, MIN_DURATION_S) for d in durations)
    return ordered[int(quantile * (len(ordered) - 1))]


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_are_within_the_stated_relative_error(seed):
    rng = random.Random(seed)
    # Completion times of a real goal: mostly a minute or two, a long tail of stuck users.
    durations = [rng.lognormvariate(4.5, 1.2) for _ in range(rng.randint(1, 5000))]
    counts = histogram(durations)
    for quantile in (0.0, 0.25, 0.5, 0.9, 0.99, 1.0):
        exact = exact_quantile(durations, quantile)
        estimate = duration_quantile(counts, quantile)
        assert estimate is not None
        assert abs(estimate - exact) <= DURATION_RELATIVE_ACCURACY * exact + 1e-12


def test_memory_grows_with_the_range_not_the_count():
    rng = random.Random(7)
    counts = histogram([rng.uniform(1, 3600) for _ in range(100_000)])
    # 1 s to an hour: log(3600) / log((1 + a) / (1 - a)) buckets at most, whatever the count.
    assert len(counts) <= 210 and sum(counts.values()) == 100_000


def test_a_duration_of_zero_counts_as_the_minimum():
    assert duration_quantile(histogram([0.0, -1.0]), 0.5) == pytest.approx(MIN_DURATION_S, rel=0.02)


def test_no_durations_have_no_quantile():
    assert duration_quantile({}, 0.5) is None
    empty = effort_figures({}, 0)
    assert empty.timed_completions == 0 and empty.retry_ratio is None and empty.duration_quantiles == {}


def test_effort_figures_of_a_constructed_window():
    durations = [30.0] * 50 + [120.0] * 40 + [600.0] * 10
    figures = effort_figures(histogram(durations), retried=25)
    assert figures.timed_completions == 100 and figures.retried == 25 and figures.retry_ratio == 0.25
    assert set(figures.duration_quantiles) == set(DURATION_QUANTILES)
    # Ranks floor(q * 99): 49 (the last of the 30 s), 89 (the last of the 120 s), 98.
    assert figures.duration_quantiles[0.5] == pytest.approx(30.0, rel=DURATION_RELATIVE_ACCURACY)
    assert figures.duration_quantiles[0.9] == pytest.approx(120.0, rel=DURATION_RELATIVE_ACCURACY)
    assert figures.duration_quantiles[0.99] == pytest.approx(600.0, rel=DURATION_RELATIVE_ACCURACY)


def test_a_quantile_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        duration_quantile({0: 1}, 1.5)


def test_bucket_counts_keep_effort_additive_through_merge_subtract_and_json():
    a, b = BucketCounts(), BucketCounts()
    for duration, retried in ((30.0, False), (95.0, True), (95.5, False)):
        a.add_effort(duration, retried)
    b.add_effort(600.0, True)
    total = a.copy()
    total.merge(b)
    assert sum(total.durations.values()) == 4 and total.retried == 2
    assert not total.is_empty()
    obj = total.to_json_obj()
    assert obj["r"] == 2 and sum(obj["d"].values()) == 4
    assert BucketCounts.from_json_obj(json.loads(json.dumps(obj))) == total
    total.subtract(b)
    assert total == a and total.durations == a.durations
    total.subtract(a)
    assert total.is_empty() and total.durations == {} and total.to_json_obj() == {}


@pytest.mark.parametrize("obj", [{"d": {"x": 1}}, {"d": {"3": -1}}, {"d": []}, {"r": 1}, {"d": {"3": 1}, "r": 2}])
def test_corrupt_effort_counts_are_refused(obj):
    with pytest.raises(ValueError):
        BucketCounts.from_json_obj(obj)


def test_effort_facts_fold_into_their_buckets():
    facts = [
        EffortFact("file-claim", 59.0, 40.0, False),
        EffortFact("file-claim", 61.0, 80.0, True),
        OutcomeFact("file-claim", 61.0, "completed"),
    ]
    deltas = fold_facts(facts, [60, 3600])
    assert deltas[("file-claim", 60, 0)].durations == {duration_key(40.0): 1}
    assert deltas[("file-claim", 60, 60)].retried == 1
    hour = deltas[("file-claim", 3600, 0)]
    assert sum(hour.durations.values()) == 2 and hour.retried == 1 and hour.outcomes == {"completed": 1}


@pytest.mark.parametrize(
    ("ces", "slower", "phrase"),
    [
        ((-0.3, -0.1), (0.1, 0.4), "slower and rated harder"),
        ((-0.1, 0.1), (0.1, 0.4), "slower but not rated harder"),
        ((-0.3, -0.1), (-0.1, 0.2), "rated harder but not slower"),
        ((-0.1, 0.1), (-0.1, 0.2), None),
        ((0.1, 0.3), (-0.4, -0.1), None),  # easier and faster: they agree
        (None, (0.1, 0.4), None),  # no CES to compare: say nothing
        ((-0.3, -0.1), None, None),
    ],
)
def test_effort_divergence_needs_the_whole_interval_on_one_side(ces, slower, phrase):
    assert effort_divergence(ces, slower) == phrase


def test_slower_counts_compare_against_the_rest_of_the_window():
    rest = histogram([30.0] * 10 + [90.0] * 10)
    recent = histogram([90.0] * 4 + [200.0] * 6)
    window = dict(rest)
    for key, count in recent.items():
        window[key] = window.get(key, 0) + count
    # The rest's median (rank 9 of 20) is in the 30 s bucket: above it, all 10 recent and 10 of the rest.
    assert slower_counts(recent, window) == (10, 10, 20, 30)
    assert slower_counts(recent, recent) is None  # nothing but the recent window: no rest to compare with


def test_band_names_cut_at_the_bounds():
    assert band_names((30, 120, 600)) == ("<30s", "30s-2m", "2m-10m", "10m+")
    assert band_names((3600,)) == ("<1h", "1h+")
    assert [duration_band((30, 120), s) for s in (0.0, 29.99, 30.0, 119.0, 120.0, 1e6)] == [
        "<30s",
        "<30s",
        "30s-2m",
        "30s-2m",
        "2m+",
        "2m+",
    ]


def test_answers_by_duration_band_are_a_segment_like_the_others():
    counts = BucketCounts()
    counts.add_answer(5, Sentiment.positive, "completed", "web", "<30s")
    counts.add_answer(1, Sentiment.negative, "completed", "web", "2m-10m")
    counts.add_answer(4, Sentiment.positive, "completed", "web")  # not timed: no band
    assert {name: c.answers for name, c in counts.by_band.items()} == {"<30s": 1, "2m-10m": 1}
    assert counts.answers == 3
    restored = BucketCounts.from_json_obj(json.loads(json.dumps(counts.to_json_obj())))
    assert restored == counts and restored.by_band["2m-10m"].negative == 1
    total = counts.copy()
    total.merge(counts)
    assert total.by_band["<30s"].answers == 2
    total.subtract(counts)
    assert total == counts
    assert counts.copy(segments=False).by_band == {}
    with pytest.raises(ValueError, match="duration band"):
        BucketCounts.from_json_obj({"s": {"5": 1}, "p": 1, "bb": {"fast": {"s": {"5": 1}, "p": 1}}})
