"""Confidence intervals for the figures of ``ces-stream alert-quality`` (pure, standard library only).

- a count of rare events over an exposure (false alerts per goal-week): the exact
  (Garwood) Poisson interval, widened to a bootstrap over the units where the events cluster;
- a share of trials (missed drops): the exact Clopper-Pearson interval;
- a quantile of a sample (detection median and p90): the distribution-free interval
  between two order statistics, whose ranks come from the binomial distribution;
- a mean over independent clusters (the share of healthy time firing, per goal-week):
  a seeded percentile bootstrap over the clusters.

All at 95 % by default. A bound that cannot be known (a quantile beyond the detections
within the horizon) is ``inf``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

CONFIDENCE = 0.95


def _log_poisson_pmf(k: int, mu: float) -> float:
    return k * math.log(mu) - mu - math.lgamma(k + 1) if mu > 0 else (0.0 if k == 0 else -math.inf)


def poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    return min(1.0, sum(math.exp(_log_poisson_pmf(i, mu)) for i in range(k + 1)))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
    return min(1.0, total)


def _solve(f: Callable[[float], float], target: float, low: float, high: float) -> float:
    """The x in [low, high] where the decreasing ``f`` crosses ``target`` (bisection)."""
    for _ in range(200):
        mid = (low + high) / 2
        if f(mid) > target:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def poisson_interval(count: int, exposure: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval of a rate: ``count`` events in ``exposure`` units (e.g. goal-weeks)."""
    if exposure <= 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    high_mu = count + 10 * math.sqrt(count + 1) + 10
    lower = 0.0 if count == 0 else _solve(lambda mu: -(1 - poisson_cdf(count - 1, mu)), -alpha, 0.0, high_mu)
    upper = _solve(lambda mu: poisson_cdf(count, mu), alpha, 0.0, high_mu)
    return lower / exposure, upper / exposure


def rate_interval(counts_per_unit: Sequence[int], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of events per unit (e.g. false alerts per goal-week) from the count of each unit.

    The wider of the exact Poisson interval of the total and a percentile bootstrap over the
    units: events that cluster within a unit (overdispersion) widen the bootstrap, and with no
    or few events the Poisson interval still bounds the rate.
    """
    units = len(counts_per_unit)
    if units == 0:
        return math.nan, math.nan
    low, high = poisson_interval(sum(counts_per_unit), units, confidence)
    boot_low, boot_high = bootstrap_mean_interval([float(c) for c in counts_per_unit], confidence)
    return min(low, boot_low), max(high, boot_high)


def clopper_pearson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a share ``successes / n``."""
    if n <= 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    lower = 0.0 if successes == 0 else _solve(lambda p: -(1 - binomial_cdf(successes - 1, n, p)), -alpha, 0.0, 1.0)
    upper = 1.0 if successes == n else _solve(lambda p: binomial_cdf(successes, n, p), alpha, 0.0, 1.0)
    return lower, upper


def quantile_interval(values: Sequence[float], q: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free interval of the ``q`` quantile: two order statistics of the sorted ``values``.

    The ranks ``r < s`` (1-based) widen around ``n q`` until P(r <= B < s) >= ``confidence``
    for B ~ Binomial(n, q); the upper bound is ``inf`` where ``s`` passes the sample (too few
    values to bound it) or the value there is a miss (``inf``).
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan, math.nan

    def coverage(r: int, s: int) -> float:  # P(X_(r) <= quantile <= X_(s)), 1-based order statistics
        return binomial_cdf(s - 1, n, q) - binomial_cdf(r - 1, n, q)

    r = max(1, min(n, math.ceil(n * q)))
    s = r + 1
    while coverage(r, s) < confidence and (r > 1 or s <= n):
        if r > 1 and (s > n or binomial_cdf(r - 2, n, q) >= 1 - binomial_cdf(s - 1, n, q)):
            r -= 1
        else:
            s += 1
    return ordered[r - 1], (ordered[s - 1] if s <= n else math.inf)


def bootstrap_mean_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = 2000, seed: int = 1
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of independent ``values`` (e.g. one per goal-week)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    return means[int(alpha * (resamples - 1))], means[math.ceil((1 - alpha) * (resamples - 1))]
