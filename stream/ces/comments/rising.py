"""Whether a comment theme is rising: its share of the second half's comments against the first half's.

A raw ratio ("twice as many as before") says nothing at 3 comments against 6. The test is Fisher's exact
test, one-sided: the theme's comments and the others, in the first half and in the second, as a 2 x 2 table.
Given how many comments each half holds and how many the theme holds in all, the theme's count in the second
half follows the hypergeometric distribution when the theme is as common in both halves; the p-value is the
chance of at least the count seen. A theme is *rising* when

- it holds at least :data:`MIN_RISING_COMMENTS` comments in the second half, and
- the p-value is under :data:`RISING_ALPHA` divided by the number of themes tested (Bonferroni), so the
  chance that any theme of a goal is called rising while none is, is at most 1 % per goal and period
  (less: Fisher's test is conservative).

Theme membership comes from the words alone, never from the time, so the test holds for themes that were
found in the same comments. Pure; scipy computes the tail.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import fisher_exact

RISING_ALPHA = 0.01
MIN_RISING_COMMENTS = 10


@dataclass(frozen=True, slots=True)
class Rise:
    """A theme's comments in each half of the period, among all comments of that half, and the test's verdict."""

    first: int
    first_total: int
    second: int
    second_total: int
    p_value: float | None  # None: a half without comments, nothing to test
    rising: bool

    @property
    def first_share(self) -> float | None:
        return self.first / self.first_total if self.first_total else None

    @property
    def second_share(self) -> float | None:
        return self.second / self.second_total if self.second_total else None


def rise_of(first: int, first_total: int, second: int, second_total: int, tests: int = 1) -> Rise:
    """The one-sided Fisher exact test of a theme's share rising from the first half to the second.

    ``tests`` is how many themes of the goal are tested together (the Bonferroni divisor).

    :raises ValueError: on counts that do not fit (a theme larger than its half, a negative count).
    """
    if not (0 <= first <= first_total and 0 <= second <= second_total) or tests < 1:
        raise ValueError(f"not a theme's counts: {first}/{first_total}, {second}/{second_total}, {tests} tests")
    if not first_total or not second_total:
        return Rise(first, first_total, second, second_total, None, False)
    table = [[second, second_total - second], [first, first_total - first]]
    p_value = float(fisher_exact(table, alternative="greater").pvalue)
    rising = second >= MIN_RISING_COMMENTS and p_value < RISING_ALPHA / tests
    return Rise(first, first_total, second, second_total, p_value, rising)
