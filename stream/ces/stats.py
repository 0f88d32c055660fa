"""The figures of one goal over one window: CES ratio, mean, distribution, Wilson bounds.

Every ratio is computed from integer counts with a single division, so the DOMAIN
worked example (mean 3.45, CES 0.60, net effort 0.25) comes out exact to the last
float digit. A ratio whose denominator is 0 is ``None``, never 0 or NaN: "no answers"
is not "all answers negative".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from stream.ces.buckets import OUTCOMES, BucketCounts


@lru_cache(maxsize=16)
def z_score(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (0.95 -> 1.96, 0.99 -> 2.5758).

    :raises ValueError: unless 0 < confidence < 1.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float] | None:
    """The Wilson score interval of the proportion ``successes / n``.

    Unlike the normal approximation it stays inside [0, 1] and is honest for small n
    and ratios near 0 or 1, which is what alerting on a CES ratio needs
    (``notes/alerting-statistics.md``: fire on the *upper* bound at 99 %).

    :param successes: positive answers, 0 <= successes <= n.
    :param n: all answers.
    :param confidence: e.g. 0.99.
    :returns: ``(lower, upper)``, or ``None`` when n == 0.
    :raises ValueError: for counts out of range or a confidence outside (0, 1).
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = z_score(confidence)
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # At the extremes the bound is exactly 0 or 1; floating point would leave dust.
    lower = 0.0 if successes == 0 else max(0.0, centre - half_width)
    upper = 1.0 if successes == n else min(1.0, centre + half_width)
    return lower, upper


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """What a goal's window says; ratios are ``None`` when their denominator is 0.

    ``response_ratio`` is answers / prompts within the same window and may exceed 1
    near the window start (an answer whose prompt fell just before it).
    """

    answers: int
    positive: int
    neutral: int
    negative: int
    distribution: dict[int, int]
    mean_score: float | None
    ces_ratio: float | None
    net_effort: float | None
    most_negative_ratio: float | None
    wilson_lower: float | None
    wilson_upper: float | None
    prompts: int
    response_ratio: float | None
    outcomes: dict[str, int]
    completion_ratio: float | None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def figures(
    counts: BucketCounts,
    scale_points: tuple[int, ...],
    most_negative: int,
    confidence: float,
) -> WindowFigures:
    """Compute the figures of one window from its summed counts.

    :param counts: the window's counts (e.g. ``GoalBuckets.window_counts``).
    :param scale_points: every point of the goal's scale, in order; the distribution
        has exactly these keys (scores outside the scale are not given a key, so a
        metric label can never come from data).
    :param most_negative: the scale's most negative point (``Scale.most_negative``).
    :param confidence: confidence of the Wilson interval of the CES ratio.
    """
    answers = counts.positive + counts.neutral + counts.negative
    scores = counts.scores
    distribution = {point: scores.get(point, 0) for point in scale_points}
    interval = wilson_interval(counts.positive, answers, confidence)
    outcomes = {name: counts.outcomes.get(name, 0) for name in OUTCOMES}
    return WindowFigures(
        answers=answers,
        positive=counts.positive,
        neutral=counts.neutral,
        negative=counts.negative,
        distribution=distribution,
        mean_score=_ratio(counts.score_sum, answers),
        ces_ratio=_ratio(counts.positive, answers),
        net_effort=_ratio(counts.positive - counts.negative, answers),
        most_negative_ratio=_ratio(scores.get(most_negative, 0), answers),
        wilson_lower=interval[0] if interval else None,
        wilson_upper=interval[1] if interval else None,
        prompts=counts.prompts,
        response_ratio=_ratio(answers, counts.prompts),
        outcomes=outcomes,
        completion_ratio=_ratio(outcomes["completed"], sum(outcomes.values())),
    )
