"""Wilson bounds and window figures, including the worked example of docs/domain.md."""

from __future__ import annotations

import pytest

from stream.ces.goals.buckets import AnswerFact, BucketCounts, OutcomeFact, PromptFact
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.stats import figures, wilson_interval, z_score
from stream.ces.goals.windows import GoalBuckets, WindowSpec
from stream.ces.registry.scales import Sentiment

FIVE_POINT = (1, 2, 3, 4, 5)


def five_point_sentiment(score: int) -> Sentiment:
    # The worked example (docs/domain.md): positive {4, 5}, neutral {3}, negative {1, 2}.
    if score >= 4:
        return Sentiment.positive
    return Sentiment.neutral if score == 3 else Sentiment.negative


def worked_example_facts(at_s: float) -> list[AnswerFact]:
    """docs/domain.md: 40 x 5, 20 x 4, 5 x 3, 15 x 2, 20 x 1."""
    facts = []
    for score, times in ((5, 40), (4, 20), (3, 5), (2, 15), (1, 20)):
        facts += [
            AnswerFact("view-policy", at_s + i, score, five_point_sentiment(score), "completed", "web")
            for i in range(times)
        ]
    return facts


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "lower", "upper"),
    [
        (60, 100, 0.95, 0.5020, 0.6906),
        (60, 100, 0.99, 0.4714, 0.7161),
        (85, 100, 0.95, 0.7672, 0.9069),
        (1, 10, 0.95, 0.0179, 0.4042),
        (5, 5, 0.95, 0.5655, 1.0),
        (0, 5, 0.95, 0.0, 0.4345),
    ],
)
def test_wilson_interval_matches_known_values(successes, n, confidence, lower, upper):
    low, high = wilson_interval(successes, n, confidence)
    assert low == pytest.approx(lower, abs=5e-5)
    assert high == pytest.approx(upper, abs=5e-5)


@pytest.mark.parametrize(("confidence", "z"), [(0.95, 1.9600), (0.99, 2.5758), (0.90, 1.6449)])
def test_z_score_is_the_two_sided_normal_quantile(confidence, z):
    assert z_score(confidence) == pytest.approx(z, abs=5e-5)


def test_wilson_interval_of_no_answers_is_none():
    assert wilson_interval(0, 0, 0.99) is None


@pytest.mark.parametrize("n", [1, 2, 3, 30, 1000, 10**7])
def test_wilson_bounds_at_the_extremes_stay_in_unit_interval(n):
    none_lower, none_upper = wilson_interval(0, n, 0.99)
    all_lower, all_upper = wilson_interval(n, n, 0.99)
    assert none_lower == 0.0 and 0.0 < none_upper <= 1.0
    assert all_upper == 1.0 and 0.0 <= all_lower < 1.0
    assert all_lower == pytest.approx(1.0 - none_upper)  # symmetric


def test_wilson_interval_narrows_with_more_answers():
    small = wilson_interval(6, 10, 0.99)
    large = wilson_interval(600, 1000, 0.99)
    assert small[1] - small[0] > large[1] - large[0]
    assert small[0] < 0.6 < small[1] and large[0] < 0.6 < large[1]


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(5, 4, 0.99), (-1, 4, 0.99), (0, -1, 0.99), (1, 2, 1.0), (1, 2, 0.0), (0, 0, 1.5)],
)
def test_wilson_interval_rejects_impossible_input(successes, n, confidence):
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


def test_worked_example_through_buckets_and_window_gives_domain_figures_exactly():
    spec = WindowSpec("1h", 3600, 60)
    deltas = fold_facts(worked_example_facts(at_s=1_700_000_000.0), (60, 300, 3600))
    buckets = GoalBuckets()
    for (goal, resolution_s, start_s), delta in deltas.items():
        assert goal == "view-policy"
        buckets.apply(resolution_s, start_s, delta)

    result = figures(buckets.window_counts(spec, now_s=1_700_000_200.0), FIVE_POINT, 1, 0.99)

    assert result.answers == 100
    assert (result.positive, result.neutral, result.negative) == (60, 5, 35)
    assert round(result.mean_score, 10) == 3.45
    assert round(result.ces_ratio, 10) == 0.60
    assert round(result.most_negative_ratio, 10) == 0.20
    assert round(result.net_effort, 10) == 0.25
    assert result.distribution == {1: 20, 2: 15, 3: 5, 4: 20, 5: 40}
    assert (result.wilson_lower, result.wilson_upper) == wilson_interval(60, 100, 0.99)


def test_distribution_has_every_scale_point_and_most_negative_follows_the_scale():
    counts = BucketCounts()
    for score in (1, 1, 2):
        counts.add_answer(score, Sentiment.positive, "completed", "web")  # inverted 5-point: 1 and 2 are low effort
    result = figures(counts, FIVE_POINT, most_negative=5, confidence=0.95)
    assert result.distribution == {1: 2, 2: 1, 3: 0, 4: 0, 5: 0}
    assert result.most_negative_ratio == 0.0
    assert result.ces_ratio == 1.0
    assert list(result.distribution) == list(FIVE_POINT)


def test_empty_window_has_zero_counts_and_no_ratios():
    result = figures(BucketCounts(), (1, 2, 3), most_negative=1, confidence=0.99)
    assert result.answers == 0 and result.prompts == 0
    assert result.distribution == {1: 0, 2: 0, 3: 0}
    assert result.outcomes == {"completed": 0, "abandoned": 0, "abandoned_inferred": 0}
    for ratio in (
        result.mean_score,
        result.ces_ratio,
        result.net_effort,
        result.most_negative_ratio,
        result.wilson_lower,
        result.wilson_upper,
        result.response_ratio,
        result.completion_ratio,
    ):
        assert ratio is None


def test_response_and_completion_ratios_count_every_outcome():
    facts = [
        *(OutcomeFact("file-claim", 10.0, "completed") for _ in range(6)),
        *(OutcomeFact("file-claim", 10.0, "abandoned") for _ in range(3)),
        OutcomeFact("file-claim", 10.0, "abandoned_inferred"),
        *(PromptFact("file-claim", 10.0, "completed") for _ in range(8)),
        AnswerFact("file-claim", 20.0, 5, Sentiment.positive, "completed", "web"),
        AnswerFact("file-claim", 20.0, 2, Sentiment.negative, "completed", "web"),
    ]
    (counts,) = fold_facts(facts, (60,)).values()
    result = figures(counts, FIVE_POINT, 1, 0.99)
    assert result.prompts == 8
    assert result.response_ratio == 2 / 8
    assert result.outcomes == {"completed": 6, "abandoned": 3, "abandoned_inferred": 1}
    assert result.completion_ratio == 6 / 10
    assert result.mean_score == 3.5
    assert result.net_effort == 0.0


def test_prompts_without_answers_give_a_zero_response_ratio_not_none():
    counts = BucketCounts()
    counts.add_prompt()
    result = figures(counts, FIVE_POINT, 1, 0.99)
    assert result.response_ratio == 0.0
    assert result.ces_ratio is None


def test_baseline_gap_compares_a_window_with_the_rest_of_the_longer_one():
    from stream.ces.goals.segments import AnswerCounts
    from stream.ces.goals.stats import baseline_gap, difference_interval, wilson_interval

    recent, whole = AnswerCounts(positive=30, negative=20), AnswerCounts(positive=880, negative=170)
    gap, lower, upper = baseline_gap(recent, whole, 0.99)
    p1, p2 = 30 / 50, 850 / 1000
    assert gap == pytest.approx(p1 - p2)
    expected = difference_interval(p1, wilson_interval(30, 50, 0.99), p2, wilson_interval(850, 1000, 0.99))
    assert (lower, upper) == pytest.approx(expected)
    assert upper < 0  # a drop from 0.85 to 0.60 on 50 answers is beyond doubt
    assert baseline_gap(AnswerCounts(), whole, 0.99) is None
    assert baseline_gap(recent, AnswerCounts(positive=30, negative=20), 0.99) is None  # no rest


def test_difference_interval_is_newcombes_hybrid_score_interval():
    """Newcombe (1998), Table II, example (a): 56/70 - 48/80 at 95 %: 0.0524 to 0.3339."""
    from stream.ces.goals.stats import difference_interval, wilson_interval

    lower, upper = difference_interval(56 / 70, wilson_interval(56, 70, 0.95), 48 / 80, wilson_interval(48, 80, 0.95))
    assert (round(lower, 4), round(upper, 4)) == (0.0524, 0.3339)


def test_cusum_adds_the_log_likelihood_ratio_per_answer_and_never_goes_below_zero():
    import math

    from stream.ces.goals.segments import AnswerCounts
    from stream.ces.goals.stats import cusum

    good, bad = math.log(0.6 / 0.8), math.log(0.4 / 0.2)
    minutes = [AnswerCounts(positive=10), None, AnswerCounts(positive=1, negative=3), AnswerCounts(negative=1)]
    # 10 positive answers take it to 0 (not below); then 1 positive and 3 others, then 1 other.
    assert cusum(minutes, 0.8, 0.6) == pytest.approx(good + 3 * bad + bad)
    assert cusum([AnswerCounts(neutral=1)], 0.8, 0.6) == pytest.approx(bad)  # neutral is not top-box
    assert cusum([], 0.8, 0.6) == 0.0
    with pytest.raises(ValueError, match="rejectable"):
        cusum([], 0.6, 0.8)
