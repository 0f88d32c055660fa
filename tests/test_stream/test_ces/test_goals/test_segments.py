"""The split of answers by outcome and channel: counts, figures, the exit gap, the false positive picture, export.

The numbers are the split in docs/metrics.md of the docs/domain.md worked example (40 x 5, 20 x 4, 5 x 3, 15 x 2,
20 x 1): 60 answers at completion, 25 at abandoned and 15 at abandoned_inferred; 70 on web, 30 on iOS.
"""

from __future__ import annotations

import json
import math
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import GoalSummary
from schemas.examples import example_payload
from schemas.summary_example import WORKED_EXAMPLE_SPLIT
from stream.ces.goals.buckets import AnswerFact, BucketCounts
from stream.ces.goals.figure_parts import figures_json
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.segments import CHANNELS, OUTCOMES, AnswerCounts
from stream.ces.goals.stats import difference_interval, figures, wilson_interval
from stream.ces.goals.windows import WindowSpec
from stream.ces.registry.scales import Sentiment
from stream.observability.metrics import CesMetrics
from tests.window_rows import RowsSource

FIVE_POINT = (1, 2, 3, 4, 5)
SPLIT = WORKED_EXAMPLE_SPLIT


def sentiment(score: int) -> Sentiment:
    return Sentiment.positive if score >= 4 else Sentiment.neutral if score == 3 else Sentiment.negative


def split_counts(split=SPLIT) -> BucketCounts:
    counts = BucketCounts()
    for (outcome, channel), by_score in split.items():
        for score, times in by_score.items():
            for _ in range(times):
                counts.add_answer(score, sentiment(score), outcome, channel)
    return counts


def test_the_split_sums_to_the_worked_example():
    counts = split_counts()
    assert counts.scores == {5: 40, 4: 20, 3: 5, 2: 15, 1: 20}
    for segments in (counts.by_outcome, counts.by_channel):
        total = AnswerCounts()
        for part in segments.values():
            total.merge(part)
        assert (total.scores, total.positive, total.neutral, total.negative, total.score_sum) == (
            counts.scores,
            counts.positive,
            counts.neutral,
            counts.negative,
            counts.score_sum,
        )


def test_figures_per_outcome_and_channel_are_exact():
    seg = figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30).segments
    completed, abandoned, inferred = (seg.by_outcome[name] for name in OUTCOMES)
    assert (completed.answers, completed.positive, completed.ces_ratio, completed.mean_score) == (
        60,
        50,
        50 / 60,
        253 / 60,
    )
    assert (abandoned.answers, abandoned.ces_ratio, abandoned.distribution) == (
        25,
        6 / 25,
        {1: 10, 2: 7, 3: 2, 4: 3, 5: 3},
    )
    assert (inferred.answers, inferred.ces_ratio) == (15, 4 / 15)
    assert (seg.at_exits.answers, seg.at_exits.positive, seg.at_exits.ces_ratio) == (40, 10, 10 / 40)
    assert (seg.by_channel["web"].answers, seg.by_channel["web"].ces_ratio) == (70, 45 / 70)
    assert (seg.by_channel["ios"].answers, seg.by_channel["ios"].ces_ratio) == (30, 15 / 30)
    assert seg.by_channel["android"].answers == 0 and seg.by_channel["android"].ces_ratio is None
    assert (completed.wilson_lower, completed.wilson_upper) == wilson_interval(50, 60, 0.99)


def test_the_false_positive_picture():
    seg = figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30).segments
    assert seg.completion_only_ces_ratio == 50 / 60
    assert seg.all_outcomes_ces_ratio == 0.6
    assert seg.overstatement == 50 / 60 - 0.6


def test_the_exit_gap_and_its_interval():
    gap = figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30).segments.exit_gap
    assert gap.ces_ratio_gap == 10 / 40 - 50 / 60
    expected = difference_interval(0.25, wilson_interval(10, 40, 0.99), 50 / 60, wilson_interval(50, 60, 0.99))
    assert (gap.lower, gap.upper) == expected
    assert gap.significant and gap.upper < 0
    assert (gap.exit_answers, gap.completion_answers) == (40, 60)


@pytest.mark.parametrize(("minimum", "present"), [(40, True), (41, False)])
def test_the_exit_gap_needs_the_minimum_on_both_sides(minimum, present):
    seg = figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=minimum).segments
    assert (seg.exit_gap is not None) is present


def test_no_exit_gap_without_exits():
    only_completed = {key: value for key, value in SPLIT.items() if key[0] == "completed"}
    seg = figures(split_counts(only_completed), FIVE_POINT, 1, 0.99, segment_min_answers=1).segments
    assert seg.exit_gap is None and seg.at_exits.ces_ratio is None


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [(56, 70, 48, 80, (0.0524, 0.3339)), (9, 10, 3, 10, (0.1705, 0.8090)), (5, 56, 0, 29, (-0.0381, 0.1926))],
)
def test_difference_interval_matches_newcombe_1998_table_ii(x1, n1, x2, n2, expected):
    # Newcombe, Statistics in Medicine 17 (1998) 873-890, Table II, method 10, 95 %.
    lower, upper = difference_interval(x1 / n1, wilson_interval(x1, n1, 0.95), x2 / n2, wilson_interval(x2, n2, 0.95))
    assert (round(lower, 4), round(upper, 4)) == expected


def test_figures_without_the_split_skip_it():
    assert figures(split_counts(), FIVE_POINT, 1, 0.99).segments is None


def test_segments_survive_the_changelog_json_and_stay_additive_under_fold():
    rng = random.Random(11)
    facts = [
        AnswerFact("g", 60.0 * rng.randrange(30), score, sentiment(score), rng.choice(OUTCOMES), rng.choice(CHANNELS))
        for score in (rng.randint(1, 5) for _ in range(500))
    ]
    for delta in fold_facts(facts, (60, 300, 3600)).values():
        assert BucketCounts.from_json_obj(json.loads(json.dumps(delta.to_json_obj()))) == delta
        assert sum(c.answers for c in delta.by_outcome.values()) == delta.answers
        assert sum(c.answers for c in delta.by_channel.values()) == delta.answers
    hour = [delta for (_, res, _), delta in fold_facts(facts, (60, 3600)).items() if res == 3600]
    minutes = BucketCounts()
    for (_, _res, _), delta in fold_facts(facts, (60,)).items():
        minutes.merge(delta)
    total = BucketCounts()
    for delta in hour:
        total.merge(delta)
    assert total == minutes  # rolled-up coarse buckets carry the same segments


def test_subtract_takes_segments_out_again():
    counts = split_counts()
    part = BucketCounts()
    part.add_answer(5, Sentiment.positive, "abandoned", "ios")
    counts.subtract(part)
    assert counts.by_outcome["abandoned"].answers == 24 and counts.by_channel["ios"].answers == 29
    counts.merge(part)
    assert counts == split_counts()


@pytest.mark.parametrize(
    "bad",
    [{"bo": {"x": {}}}, {"bc": {"fax": {}}}, {"bo": []}, {"bo": {"c": {"s": {"5": 1}}}}, {"bo": {"c": {"q": 1}}}],
    ids=["unknown-outcome", "unknown-channel", "not-an-object", "sentiments-missing", "unknown-key"],
)
def test_corrupt_segment_json_is_refused(bad):
    with pytest.raises(ValueError):
        BucketCounts.from_json_obj(bad)


def test_records_from_before_the_segments_still_load():
    counts = BucketCounts.from_json_obj({"s": {"5": 2}, "p": 2, "q": 3})
    assert counts.answers == 2 and counts.by_outcome == {} and counts.by_channel == {}


def test_unknown_outcome_or_channel_is_refused():
    with pytest.raises(ValueError, match="unknown channel"):
        BucketCounts().add_answer(5, Sentiment.positive, "completed", "fax")
    with pytest.raises(ValueError, match="unknown outcome"):
        BucketCounts().add_answer(5, Sentiment.positive, "gave_up", "web")


def test_the_contract_example_is_this_split():
    """The contract's example is this split: the code computes what the example says (to its 4 decimals)."""
    computed = figures_json(figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30))
    example = example_payload(GoalSummary)

    def rounded(value):
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        return round(value, 4) if isinstance(value, float) else value

    for name in ("by_outcome", "by_channel", "at_exits", "exit_gap", "completion_vs_all"):
        assert rounded(computed[name]) == example[name], name


def test_api_json_carries_the_split():
    out = figures_json(figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30))
    assert out["by_outcome"]["completed"]["ces_ratio"] == 50 / 60
    assert out["by_channel"]["ios"]["distribution"] == {"1": 7, "2": 6, "3": 2, "4": 5, "5": 10}
    assert out["completion_vs_all"] == {
        "completion_only_ces_ratio": 50 / 60,
        "all_outcomes_ces_ratio": 0.6,
        "overstatement": 50 / 60 - 0.6,
    }
    assert out["exit_gap"]["significant"] is True
    assert "segments" not in out


# -- export --------------------------------------------------------------------------------------


def rendered(rows) -> dict[tuple[str, frozenset], float]:
    metrics = CesMetrics(goals=["g"], input_topics=[], consumed_topics=[])
    metrics.windows.source = RowsSource(rows)
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_split_series_only_for_windows_with_the_split():
    counts = split_counts()
    hour, day = WindowSpec("1h", 3600, 60), WindowSpec("24h", 86400, 300)
    rows = [
        ("g", hour, figures(counts, FIVE_POINT, 1, 0.99, segment_min_answers=30)),
        ("g", day, figures(counts, FIVE_POINT, 1, 0.99)),
    ]
    samples = rendered(rows)

    def get(name, **labels):
        return samples.get((name, frozenset({"goal": "g", **labels}.items())))

    assert get("ces_goal_ces_ratio_by_outcome", window="1h", outcome="completed") == 50 / 60
    assert get("ces_goal_answers_by_outcome", window="1h", outcome="abandoned_inferred") == 15
    assert get("ces_goal_positive_answers_by_channel", window="1h", channel="web") == 45
    assert get("ces_goal_answers_by_channel", window="1h", channel="android") == 0
    assert get("ces_goal_ces_ratio_by_channel", window="1h", channel="android") is None  # no answers: no ratio
    assert (
        get("ces_goal_ces_ratio_wilson_upper_by_outcome", window="1h", outcome="completed")
        == wilson_interval(50, 60, 0.99)[1]
    )
    assert math.isclose(get("ces_goal_exit_ces_gap", window="1h"), 0.25 - 50 / 60)
    assert get("ces_goal_exit_ces_gap_upper", window="1h") < 0
    assert not [
        key for key in samples if key[0].endswith(("_by_outcome", "_by_channel")) and ("window", "24h") in key[1]
    ]
    assert get("ces_goal_exit_ces_gap", window="24h") is None
    # The blended series keep their names and labels.
    assert get("ces_goal_ces_ratio", window="24h") == 0.6 and get("ces_goal_ces_ratio", window="1h") == 0.6


def test_split_series_sum_to_the_blended_ones():
    samples = rendered(
        [("g", WindowSpec("1h", 3600, 60), figures(split_counts(), FIVE_POINT, 1, 0.99, segment_min_answers=30))]
    )
    for split in ("outcome", "channel"):
        for name in ("answers", "positive_answers"):
            total = sum(v for (n, labels), v in samples.items() if n == f"ces_goal_{name}_by_{split}")
            assert total == samples[(f"ces_goal_{name}", frozenset({"goal": "g", "window": "1h"}.items()))]
