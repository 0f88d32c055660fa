"""Confidence sequences for a CES share: intervals that stay valid while someone watches them grow.

A release verdict is looked at continuously: after every answer, on the page, in Grafana. A
fixed-sample interval checked that often is wrong far more often than its level says (every look
is another chance to cross). A *confidence sequence* covers the true value at every sample size at
once, with probability at least ``1 - error_rate``, so it may be read at any moment, as often as
wanted, and a verdict may stop the moment it excludes zero.

The sequence for one share is the beta-binomial mixture of Robbins (1970; Howard, Ramdas,
McAuliffe and Sekhon, *Time-uniform, nonparametric, nonasymptotic confidence sequences*, 2021):
for a candidate share ``p`` the likelihood of the answers under a uniform prior over shares,
divided by their likelihood under ``p``, is a non-negative martingale with mean one while ``p`` is
true; by Ville's inequality it ever exceeds ``1 / error_rate`` with probability at most
``error_rate``. The interval holds every ``p`` where it has not: it depends on the counts only
(positive answers and answers), in any order.

Two releases are compared through one sequence each at half the error rate: while both cover,
the difference lies between the cross bounds, so the difference interval covers at every sample
size with probability at least ``1 - error_rate`` (conservative: the measured rate is far lower).

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# Bisection steps per bound: 2**-40 of the unit interval (1e-12), far below what a count can move.
_STEPS = 40
# Shares this close to 0 or 1 stand for the ends (the logarithms need them inside).
_EDGE = 1e-12


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def share_sequence(positive: int, answers: int, error_rate: float) -> tuple[float, float]:
    """The confidence sequence of a share ``positive / answers`` at ``answers``: ``(lower, upper)``.

    Valid at every number of answers at once, with probability at least ``1 - error_rate``.
    ``(0.0, 1.0)`` before the first answer.

    :raises ValueError: for counts out of range or an error rate outside (0, 1).
    """
    if not 0 <= positive <= answers:
        raise ValueError(f"counts out of range: {positive} positive of {answers} answers")
    if not 0.0 < error_rate < 1.0:
        raise ValueError(f"error rate must be between 0 and 1 (exclusive), got {error_rate!r}")
    if answers == 0:
        return 0.0, 1.0
    negative = answers - positive
    # log of the mixture likelihood (uniform prior, Beta(1, 1)) of the answers.
    mixture = _log_beta(1.0 + positive, 1.0 + negative)
    threshold = math.log(1.0 / error_rate)

    def outside(share: float) -> bool:
        likelihood = (positive * math.log(share) if positive else 0.0) + (
            negative * math.log1p(-share) if negative else 0.0
        )
        return mixture - likelihood >= threshold

    observed = positive / answers  # the martingale is smallest here: always inside
    lower = 0.0 if positive == 0 or not outside(_EDGE) else _crossing(_EDGE, observed, outside)
    upper = 1.0 if negative == 0 or not outside(1.0 - _EDGE) else _crossing(1.0 - _EDGE, observed, outside)
    return lower, upper


def _crossing(out: float, inside: float, outside: Callable[[float], bool]) -> float:
    """The boundary between a share ``out`` (outside the sequence) and ``inside``, by bisection."""
    for _ in range(_STEPS):
        middle = (out + inside) / 2.0
        if outside(middle):
            out = middle
        else:
            inside = middle
    return inside


@dataclass(frozen=True, slots=True)
class Difference:
    """The difference of two shares, ``new - previous``, and its confidence-sequence bounds."""

    difference: float
    lower: float
    upper: float


def difference_sequence(new: tuple[int, int], previous: tuple[int, int], error_rate: float) -> Difference | None:
    """The confidence sequence of ``share(new) - share(previous)``; each is ``(positive, answers)``.

    Valid at every pair of sample sizes at once with probability at least ``1 - error_rate``
    (one sequence per share at half the rate). None while either has no answers.

    :raises ValueError: for counts out of range or an error rate outside (0, 1).
    """
    if new[1] == 0 or previous[1] == 0:
        return None
    new_lower, new_upper = share_sequence(*new, error_rate / 2.0)
    previous_lower, previous_upper = share_sequence(*previous, error_rate / 2.0)
    return Difference(
        difference=new[0] / new[1] - previous[0] / previous[1],
        lower=new_lower - previous_upper,
        upper=new_upper - previous_lower,
    )
