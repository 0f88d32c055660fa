"""The Net Promoter Score from counts: exact shares, the adjusted-Wald interval and the gap between two groups."""

from __future__ import annotations

import math
import random

import pytest

from stream.ces.goals.nps import BandTally, nps_difference, nps_figures, nps_interval
from stream.ces.goals.stats import z_score


def sample(rng: random.Random, n: int, promoter_share: float, detractor_share: float) -> BandTally:
    """``(promoters, passives, detractors)`` of ``n`` answers drawn from one trinomial distribution."""
    promoters = detractors = 0
    for _ in range(n):
        u = rng.random()
        if u < promoter_share:
            promoters += 1
        elif u < promoter_share + detractor_share:
            detractors += 1
    return promoters, n - promoters - detractors, detractors


def test_the_worked_example_is_an_nps_of_0_3_exactly() -> None:
    """100 answers: 50 promoters, 30 passives, 20 detractors."""
    fig = nps_figures(50, 30, 20, 0.95)
    assert (fig.answers, fig.promoters, fig.passives, fig.detractors) == (100, 50, 30, 20)
    assert (fig.promoter_share, fig.passive_share, fig.detractor_share) == (0.5, 0.3, 0.2)
    assert fig.nps == 0.3
    assert fig.lower is not None and fig.upper is not None and fig.lower < 0.3 < fig.upper


def test_the_nps_is_one_division_not_a_difference_of_shares() -> None:
    # 0.4 - 0.1 is 0.30000000000000004; (40 - 10) / 100 is 0.3.
    assert nps_figures(40, 50, 10, 0.95).nps == 0.3


def test_the_interval_is_the_adjusted_wald_interval_computed_by_hand() -> None:
    """50 promoters, 30 passives, 20 detractors at 95 % (Rocks 2016).

    Adjusted counts: 50.75 promoters, 31.5 passives, 20.75 detractors, n' = 103.
    NPS' = 30 / 103 = 0.291262; p_P' = 50.75 / 103 = 0.492718; p_D' = 20.75 / 103 = 0.201456.
    Var' = (0.492718 + 0.201456 - 0.291262^2) / 103 = (0.694175 - 0.084834) / 103 = 0.0059159.
    sqrt(Var') = 0.076915; z = 1.959964; half width = 0.150751.
    Interval: 0.291262 - 0.150751 = 0.140511 to 0.291262 + 0.150751 = 0.442013.
    """
    lower, upper = nps_interval(50, 30, 20, 0.95)
    assert lower == pytest.approx(0.140511, abs=1e-6)
    assert upper == pytest.approx(0.442013, abs=1e-6)
    # Not the plain Wald interval: 0.3 ± 1.96 * sqrt((0.7 - 0.09) / 100) = 0.1469 to 0.4531.
    assert round(lower, 4) != 0.1469


def test_the_interval_holds_the_estimate_and_narrows_with_more_answers() -> None:
    widths = []
    for scale in (1, 10, 100):
        fig = nps_figures(5 * scale, 3 * scale, 2 * scale, 0.95)
        assert fig.lower is not None and fig.upper is not None and fig.nps is not None
        assert fig.lower < fig.nps < fig.upper
        widths.append(fig.upper - fig.lower)
    assert widths[0] > widths[1] > widths[2]


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    low95, high95 = nps_interval(50, 30, 20, 0.95)
    low99, high99 = nps_interval(50, 30, 20, 0.99)
    assert low99 < low95 and high99 > high95


@pytest.mark.parametrize("n", [2, 10, 50, 1000])
def test_all_promoters_give_an_nps_of_1_with_the_upper_bound_clipped_at_1(n: int) -> None:
    fig = nps_figures(n, 0, 0, 0.95)
    assert fig.nps == 1.0 and fig.promoter_share == 1.0 and fig.detractor_share == 0.0
    assert fig.upper == 1.0
    assert fig.lower is not None and -1.0 < fig.lower < 1.0  # never the zero-width [1, 1] of the plain Wald


@pytest.mark.parametrize("n", [2, 10, 50, 1000])
def test_all_detractors_mirror_all_promoters(n: int) -> None:
    fig = nps_figures(0, 0, n, 0.95)
    promoters = nps_figures(n, 0, 0, 0.95)
    assert fig.nps == -1.0 and fig.lower == -1.0
    assert promoters.lower is not None and fig.upper == pytest.approx(-promoters.lower)


@pytest.mark.parametrize("counts", [(50, 30, 20), (3, 0, 7), (0, 10, 0), (12, 1, 12)])
def test_swapping_promoters_and_detractors_mirrors_the_interval(counts: BandTally) -> None:
    promoters, passives, detractors = counts
    lower, upper = nps_interval(promoters, passives, detractors, 0.95)
    mirrored_lower, mirrored_upper = nps_interval(detractors, passives, promoters, 0.95)
    assert mirrored_lower == pytest.approx(-upper) and mirrored_upper == pytest.approx(-lower)


def test_only_passives_give_an_nps_of_0_with_a_symmetric_interval() -> None:
    fig = nps_figures(0, 40, 0, 0.95)
    assert fig.nps == 0.0
    assert fig.lower is not None and fig.upper is not None
    assert fig.lower == pytest.approx(-fig.upper) and 0.0 < fig.upper < 0.2


def test_no_answers_give_no_shares_no_nps_and_no_interval() -> None:
    fig = nps_figures(0, 0, 0, 0.95)
    assert fig.answers == 0
    assert (fig.promoter_share, fig.passive_share, fig.detractor_share, fig.nps) == (None, None, None, None)
    assert (fig.lower, fig.upper) == (None, None)
    assert nps_interval(0, 0, 0, 0.95) is None


def test_the_interval_covers_the_true_nps_in_95_percent_of_samples() -> None:
    """2000 samples of 50 answers from p_P = 0.5, p_D = 0.2 (NPS 0.3); exact coverage is 0.950."""
    rng = random.Random(20160401)
    covered = 0
    for _ in range(2000):
        lower, upper = nps_interval(*sample(rng, 50, 0.5, 0.2), 0.95)
        covered += lower <= 0.3 <= upper
    assert 0.93 <= covered / 2000 <= 0.97


@pytest.mark.parametrize(("promoter_share", "detractor_share"), [(0.5, 0.2), (0.8, 0.05), (0.2, 0.6), (0.9, 0.02)])
def test_the_exact_coverage_over_every_sample_of_20_answers_is_close_to_95_percent(
    promoter_share: float, detractor_share: float
) -> None:
    """The probability of each (promoters, detractors) of 20 answers, summed where the interval holds the true NPS."""
    n, true_nps = 20, promoter_share - detractor_share
    passive_share = 1.0 - promoter_share - detractor_share
    coverage = 0.0
    for promoters in range(n + 1):
        for detractors in range(n - promoters + 1):
            passives = n - promoters - detractors
            lower, upper = nps_interval(promoters, passives, detractors, 0.95)
            if lower <= true_nps <= upper:
                coverage += (
                    math.comb(n, promoters)
                    * math.comb(n - promoters, detractors)
                    * promoter_share**promoters
                    * detractor_share**detractors
                    * passive_share**passives
                )
    assert 0.935 <= coverage <= 0.97


@pytest.mark.parametrize(("promoters", "passives", "detractors"), [(-1, 0, 0), (0, -1, 5), (3, 2, -2)])
def test_negative_counts_are_refused(promoters: int, passives: int, detractors: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        nps_interval(promoters, passives, detractors, 0.95)
    with pytest.raises(ValueError, match="negative"):
        nps_figures(promoters, passives, detractors, 0.95)
    with pytest.raises(ValueError, match="negative"):
        nps_difference((promoters, passives, detractors), (10, 10, 10), 0.95, 1)
    with pytest.raises(ValueError, match="negative"):
        nps_difference((10, 10, 10), (promoters, passives, detractors), 0.95, 1)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_a_confidence_outside_0_1_is_refused_even_without_answers(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        nps_interval(0, 0, 0, confidence)
    with pytest.raises(ValueError, match="confidence"):
        nps_difference((0, 0, 0), (0, 0, 0), confidence, 1)


def test_the_difference_of_two_groups_computed_by_hand() -> None:
    """a: 50/30/20 (NPS 0.3), b: 30/30/40 (NPS -0.1), 100 answers each, at 95 %.

    Difference: 0.3 - (-0.1) = 0.4 (plain estimates).
    a: NPS' = 30 / 103, Var' = (71.5 / 103 - (30 / 103)^2) / 103 = 0.0059159.
    b: NPS' = -10 / 103, Var' = (71.5 / 103 - (10 / 103)^2) / 103 = (0.694175 - 0.009426) / 103 = 0.0066480.
    Centre: 40 / 103 = 0.388350; half width: 1.959964 * sqrt(0.0125640) = 1.959964 * 0.112089 = 0.219691.
    Interval: 0.388350 - 0.219691 = 0.168659 to 0.388350 + 0.219691 = 0.608041.
    """
    difference, lower, upper = nps_difference((50, 30, 20), (30, 30, 40), 0.95, 30)
    assert difference == pytest.approx(0.4, abs=1e-12)
    centre = 40 / 103
    half_width = z_score(0.95) * math.sqrt((71.5 / 103 - (30 / 103) ** 2) / 103 + (71.5 / 103 - (10 / 103) ** 2) / 103)
    assert (lower, upper) == pytest.approx((centre - half_width, centre + half_width), abs=1e-12)
    assert (lower, upper) == pytest.approx((0.168659, 0.608041), abs=1e-6)


def test_the_difference_has_the_right_sign_and_its_interval_holds_it() -> None:
    # Users who recently found a goal hard recommend less than the rest: a negative difference.
    hard, rest = (20, 30, 50), (60, 25, 15)
    difference, lower, upper = nps_difference(hard, rest, 0.95, 30)
    assert difference == pytest.approx(-0.75)
    assert lower < difference < upper < 0.0  # beyond doubt at 100 answers each
    swapped, swapped_lower, swapped_upper = nps_difference(rest, hard, 0.95, 30)
    assert swapped == -difference
    assert (swapped_lower, swapped_upper) == pytest.approx((-upper, -lower))


def test_the_difference_of_two_alike_groups_straddles_0_and_narrows_with_more_answers() -> None:
    small = nps_difference((5, 3, 2), (5, 3, 2), 0.95, 1)
    large = nps_difference((500, 300, 200), (500, 300, 200), 0.95, 1)
    assert small is not None and large is not None
    assert small[0] == large[0] == 0.0
    assert small[1] < 0.0 < small[2] and large[1] < 0.0 < large[2]
    assert small[2] - small[1] > large[2] - large[1]


def test_the_difference_interval_is_clipped_to_minus_2_and_2() -> None:
    # One answer each at 99.99 %: centre 0.25 - (-0.25) = 0.5, half width 3.8906 * sqrt(2 * 0.140625) = 2.063.
    difference, lower, upper = nps_difference((1, 0, 0), (0, 0, 1), 0.9999, 1)
    assert difference == 2.0
    assert upper == 2.0 and lower == pytest.approx(0.5 - 2.0633, abs=1e-4)


def test_all_promoters_against_all_detractors_leave_the_difference_above_its_interval() -> None:
    # The documented edge of the adjusted-Wald recipe: the pseudo-answers pull both centres towards 0.
    difference, lower, upper = nps_difference((20, 0, 0), (0, 0, 20), 0.95, 1)
    assert difference == 2.0
    assert (round(lower, 2), round(upper, 2)) == (1.49, 1.98)


def test_the_difference_needs_min_answers_on_both_sides() -> None:
    enough, thin = (20, 5, 5), (10, 5, 4)  # 30 and 19 answers
    assert nps_difference(enough, thin, 0.95, 20) is None
    assert nps_difference(thin, enough, 0.95, 20) is None
    assert nps_difference(enough, (0, 0, 0), 0.95, 1) is None
    assert nps_difference(enough, thin, 0.95, 19) is not None


@pytest.mark.parametrize("min_answers", [0, -5])
def test_min_answers_below_1_is_refused(min_answers: int) -> None:
    with pytest.raises(ValueError, match="min_answers"):
        nps_difference((10, 0, 0), (10, 0, 0), 0.95, min_answers)


def test_the_difference_interval_covers_the_true_difference_in_95_percent_of_samples() -> None:
    """1000 pairs of 50 answers: NPS 0.3 (0.5/0.2) against NPS 0.1 (0.4/0.3); the true difference is 0.2."""
    rng = random.Random(2021)
    covered = 0
    for _ in range(1000):
        result = nps_difference(sample(rng, 50, 0.5, 0.2), sample(rng, 50, 0.4, 0.3), 0.95, 1)
        assert result is not None
        covered += result[1] <= 0.2 <= result[2]
    assert 0.93 <= covered / 1000 <= 0.97
