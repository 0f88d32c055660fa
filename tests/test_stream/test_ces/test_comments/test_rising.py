"""The rising test of comment themes: one-sided Fisher exact test, at least 10 comments, Bonferroni over themes."""

from __future__ import annotations

from math import comb

import pytest

from stream.ces.comments.rising import MIN_RISING_COMMENTS, RISING_ALPHA, rise_of


def hypergeometric_tail(first: int, first_total: int, second: int, second_total: int) -> float:
    """P(at least ``second`` of the theme's comments in the second half) when the theme is as common in both
    halves: its comments spread over the halves like draws without replacement."""
    theme, total = first + second, first_total + second_total
    return sum(
        comb(second_total, k) * comb(first_total, theme - k) for k in range(second, min(theme, second_total) + 1)
    ) / comb(total, theme)


@pytest.mark.parametrize(
    ("first", "first_total", "second", "second_total"), [(2, 20, 9, 20), (10, 96, 40, 124), (0, 5, 3, 7)]
)
def test_the_p_value_is_the_hypergeometric_tail(first, first_total, second, second_total):
    rise = rise_of(first, first_total, second, second_total)
    assert rise.p_value == pytest.approx(hypergeometric_tail(first, first_total, second, second_total), rel=1e-9)
    assert (rise.first_share, rise.second_share) == (first / first_total, second / second_total)


def test_a_clear_rise_is_rising_and_a_fall_or_a_steady_share_is_not():
    assert rise_of(10, 100, 40, 100).rising
    assert not rise_of(40, 100, 10, 100).rising  # one-sided: falling is not rising
    assert not rise_of(25, 100, 25, 100).rising


def test_a_rise_under_the_minimum_count_is_not_rising_however_small_its_p_value():
    below = MIN_RISING_COMMENTS - 1
    rise = rise_of(0, 1000, below, below)  # every comment of the second half, none of the first
    assert rise.p_value is not None and rise.p_value < 1e-20
    assert not rise.rising
    assert rise_of(0, 1000, MIN_RISING_COMMENTS, MIN_RISING_COMMENTS).rising


def first_between(low: float, high: float) -> tuple[int, int, int, int]:
    """Counts (100 comments a half, at least the minimum in the second) whose p-value lies in [low, high)."""
    for first in range(50):
        for second in range(MIN_RISING_COMMENTS, 100):
            p_value = hypergeometric_tail(first, 100, second, 100)
            if low <= p_value < high:
                return first, 100, second, 100
    raise AssertionError(f"no p-value in [{low}, {high})")


def test_the_significance_level_is_one_percent_divided_over_the_themes_tested():
    assert RISING_ALPHA == 0.01
    just_under = first_between(RISING_ALPHA / 2, RISING_ALPHA)
    assert rise_of(*just_under, tests=1).rising
    assert not rise_of(*just_under, tests=2).rising  # Bonferroni: 0.5 % each for two themes
    just_over = first_between(RISING_ALPHA, 2 * RISING_ALPHA)
    assert not rise_of(*just_over, tests=1).rising


def test_a_half_without_comments_is_not_tested():
    for rise in (rise_of(0, 0, 12, 40), rise_of(5, 40, 0, 0)):
        assert rise.p_value is None and not rise.rising
    assert rise_of(0, 0, 12, 40).first_share is None


@pytest.mark.parametrize(
    ("counts", "tests"), [((5, 4, 1, 10), 1), ((-1, 4, 1, 10), 1), ((1, 4, 11, 10), 1), ((1, 4, 1, 10), 0)]
)
def test_counts_that_do_not_fit_are_refused(counts, tests):
    with pytest.raises(ValueError, match="not a theme's counts"):
        rise_of(*counts, tests=tests)
