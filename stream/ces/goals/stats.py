"""The figures of one goal over one window: CES ratio, mean, distribution, Wilson bounds.

Every ratio is computed from integer counts with a single division, so the worked
example of docs/domain.md (mean 3.45, CES 0.60, net effort 0.25) comes out exact to the last
float digit. A ratio whose denominator is 0 is ``None``, never 0 or NaN: "no answers"
is not "all answers negative".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING

from stream.ces.goals.buckets import OUTCOMES, BucketCounts
from stream.ces.goals.effort import effort_divergence, effort_figures, slower_counts
from stream.ces.goals.nonresponse import NonResponse, corrected_ces, stratum_cells
from stream.ces.goals.segments import CHANNELS, EXIT_OUTCOMES, AnswerCounts, sum_segments

if TYPE_CHECKING:  # nps imports this module (z_score)
    from stream.ces.goals.nps import NpsWindowFigures


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
    (``docs/alert-statistics.md``: fire on the *upper* bound at 99 %).

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


def difference_interval(
    p1: float, interval1: tuple[float, float], p2: float, interval2: tuple[float, float]
) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p1 - p2`` from the two Wilson intervals.

    Newcombe (1998), method 10: it inherits the Wilson interval's honesty for small n
    and ratios near 0 or 1, and needs nothing but the two intervals at the same confidence.

    :returns: ``(lower, upper)``, within [-1, 1].
    """
    (l1, u1), (l2, u2) = interval1, interval2
    difference = p1 - p2
    lower = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def proportion_gap(
    successes: int, n: int, window_successes: int, window_n: int, confidence: float
) -> tuple[float, float, float] | None:
    """A recent share minus the share over the rest of a longer window that holds it, with its interval.

    The baseline is the longer window *without* the recent one (its counts minus the recent
    counts), so a drop is not diluted into its own baseline and the two samples are
    independent, as the difference interval assumes. The interval is Newcombe's hybrid score
    interval (:func:`difference_interval`) of the two Wilson intervals at ``confidence``.
    Pure counts in, so the figure is exactly the same for the same window counts (replays).

    :returns: ``(gap, lower, upper)``, or ``None`` when either side has nothing counted.
    """
    rest_n, rest_successes = window_n - n, window_successes - successes
    if n <= 0 or rest_n <= 0 or not 0 <= rest_successes <= rest_n or not 0 <= successes <= n:
        return None
    p1, p2 = successes / n, rest_successes / rest_n
    i1 = wilson_interval(successes, n, confidence)
    i2 = wilson_interval(rest_successes, rest_n, confidence)
    lower, upper = difference_interval(p1, i1, p2, i2)  # type: ignore[arg-type]  # n > 0: not None
    return p1 - p2, lower, upper


def baseline_gap(recent: AnswerCounts, window: AnswerCounts, confidence: float) -> tuple[float, float, float] | None:
    """The CES ratio of a recent window minus that of the rest of a longer window (:func:`proportion_gap`)."""
    return proportion_gap(recent.positive, recent.answers, window.positive, window.answers, confidence)


def slower_gap(recent: BucketCounts, window: BucketCounts, confidence: float) -> tuple[float, float, float] | None:
    """The share of a recent window's timed completions slower than usual (the rest of a longer window's
    median), minus that share in the rest (:func:`~stream.ces.goals.effort.slower_counts`, :func:`proportion_gap`)."""
    counts = slower_counts(recent.durations, window.durations)
    return None if counts is None else proportion_gap(*counts, confidence)


def divergence(fig: WindowFigures) -> str | None:
    """Measured against reported effort of a gap window's figures (:func:`~stream.ces.goals.effort.effort_divergence`)."""
    ces = None if fig.baseline_gap_lower is None else (fig.baseline_gap_lower, fig.baseline_gap_upper)
    slower = None if fig.slower_gap_lower is None else (fig.slower_gap_lower, fig.slower_gap_upper)
    return effort_divergence(ces, slower)  # type: ignore[arg-type]  # upper is set with lower


def completion_gap(
    recent: dict[str, int], window: dict[str, int], confidence: float
) -> tuple[float, float, float] | None:
    """The completion ratio of a recent window minus that of the rest of a longer window (outcome counts)."""
    return proportion_gap(
        recent.get("completed", 0), sum(recent.values()), window.get("completed", 0), sum(window.values()), confidence
    )


def cusum(buckets: Iterable[AnswerCounts | None], acceptable: float, rejectable: float) -> float:
    """The CUSUM of a window's answers, oldest bucket first: how strongly they point to a drop.

    Page's one-sided CUSUM of the top-box indicator: each answer adds the log-likelihood
    ratio of a CES of ``rejectable`` against one of ``acceptable`` (a positive answer
    ``log(rejectable / acceptable) < 0``, any other ``log((1 - rejectable) / (1 - acceptable)) > 0``),
    a bucket at a time, and the sum never goes below 0. It starts at 0 at the window's
    start, so it is a pure function of the window's buckets: the same counts give the same
    value, whatever was replayed or restarted. Large values (e.g. above 7) mean the answers
    since some moment in the window are far likelier under ``rejectable``.

    :raises ValueError: unless 0 < rejectable < acceptable < 1.
    """
    if not 0.0 < rejectable < acceptable < 1.0:
        raise ValueError(f"need 0 < rejectable < acceptable < 1, got {rejectable!r} and {acceptable!r}")
    good, other = math.log(rejectable / acceptable), math.log((1.0 - rejectable) / (1.0 - acceptable))
    total = 0.0
    for counts in buckets:
        if counts is not None and (counts.positive or counts.neutral or counts.negative):
            answers = counts.positive + counts.neutral + counts.negative
            total = max(0.0, total + counts.positive * good + (answers - counts.positive) * other)
    return total


# The figures are read-only values, but not frozen: a frozen dataclass costs twice as much to build,
# and a scrape builds tens of thousands of them.
@dataclass(slots=True)
class AnswerFigures:
    """The answer figures of one segment (an outcome, a channel, the exits); ratios ``None`` without answers."""

    answers: int
    positive: int
    neutral: int
    negative: int
    distribution: dict[int, int]
    mean_score: float | None
    ces_ratio: float | None
    wilson_lower: float | None
    wilson_upper: float | None


@dataclass(frozen=True, slots=True)
class ExitGap:
    """CES at exits minus CES at completion, with its interval; negative when leaving was harder.

    Only computed when both sides hold the minimum number of answers. ``significant`` is
    True when the interval excludes 0.
    """

    ces_ratio_gap: float
    lower: float
    upper: float
    exit_answers: int
    completion_answers: int

    @property
    def significant(self) -> bool:
        return self.upper < 0.0 or self.lower > 0.0


@dataclass(frozen=True, slots=True)
class Segments:
    """A window's answers split by outcome and by channel, and what the split shows.

    ``at_exits`` sums the exit outcomes (abandoned, abandoned_inferred). The false
    positive picture: ``completion_only_ces_ratio`` is the CES you would report if you
    asked only at completion, next to ``all_outcomes_ces_ratio`` (the blended CES);
    ``overstatement`` is the first minus the second. ``by_duration_band``: the answers after a
    timed completion per band of its time to complete, in band order (reported against measured effort).
    ``non_response``: the CES weighed by attempts per stratum, and the bounds that assume nothing
    about who stayed silent (:mod:`stream.ces.goals.nonresponse`).
    """

    by_outcome: dict[str, AnswerFigures]
    by_channel: dict[str, AnswerFigures]
    at_exits: AnswerFigures
    exit_gap: ExitGap | None
    completion_only_ces_ratio: float | None
    all_outcomes_ces_ratio: float | None
    overstatement: float | None
    by_duration_band: dict[str, AnswerFigures] = field(default_factory=dict)
    non_response: NonResponse | None = None


@dataclass(slots=True)
class WindowFigures(AnswerFigures):
    """What a goal's window says: the answer figures of all its answers, and more; ratios are
    ``None`` when their denominator is 0.

    ``response_ratio`` is answers / prompts within the same window and may exceed 1
    near the window start (an answer whose prompt fell just before it). ``segments``
    is ``None`` when the caller did not ask for the split. The funnel (``shown``,
    ``dismissed`` and their ratios) counts what apps report with prompt events; without
    any, ``shown`` is 0 and its ratios are ``None``.
    """

    net_effort: float | None
    most_negative_ratio: float | None
    prompts: int
    response_ratio: float | None
    outcomes: dict[str, int]
    completion_ratio: float | None
    segments: Segments | None = None
    baseline_gap: float | None = None
    """CES here minus CES over the rest of the baseline window (:func:`baseline_gap`), on the gap windows only."""
    baseline_gap_lower: float | None = None
    baseline_gap_upper: float | None = None
    completion_baseline_gap: float | None = None
    """The completion ratio here minus over the rest of the baseline window, on the gap windows only."""
    completion_baseline_gap_lower: float | None = None
    completion_baseline_gap_upper: float | None = None
    ces_cusum: float | None = None
    """The CUSUM of a drop below the goal's target (:func:`cusum`), on the sequential window of goals with a target."""
    timed_completions: int = 0
    """Measured effort (:mod:`stream.ces.goals.effort`): completions whose start was known."""
    retried: int = 0
    """Timed completions started more than once."""
    retry_ratio: float | None = None
    """``retried / timed_completions``."""
    duration_p50_seconds: float | None = None
    """Seconds from the first start to completion, median of the timed completions (within 2 %)."""
    duration_p90_seconds: float | None = None
    duration_p99_seconds: float | None = None
    slower_gap: float | None = None
    """Share of timed completions slower than the rest of the baseline window's median, here minus there
    (:func:`slower_gap`), on the gap windows only."""
    slower_gap_lower: float | None = None
    slower_gap_upper: float | None = None
    effort_divergence: str | None = None
    """Measured against reported effort (:func:`divergence`), on the gap windows only."""
    shown: int = 0
    """Prompts the app reported shown."""
    dismissed: int = 0
    """Prompts the app reported dismissed."""
    shown_ratio: float | None = None
    """``shown / prompts``: the share of the prompts sent that an app showed; ``None`` without any shown."""
    dismissal_ratio: float | None = None
    """``dismissed / shown``."""
    response_ratio_shown: float | None = None
    """``answers / shown``: the response ratio over the prompts users saw."""
    nps: NpsWindowFigures | None = None
    """The NPS question asked at the goal's moments, apart from the figures above; None without any."""

    @property
    def reported_shown(self) -> int | None:
        """``shown``, or ``None`` when the window holds no prompt event at all (an app that sends none)."""
        return self.shown if self.shown or self.dismissed else None

    @property
    def reported_dismissed(self) -> int | None:
        """``dismissed``, or ``None`` like :attr:`reported_shown`."""
        return self.dismissed if self.shown or self.dismissed else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def answer_figures(counts: AnswerCounts, scale_points: tuple[int, ...], confidence: float) -> AnswerFigures:
    """The figures of one segment's answers (see :func:`figures` for the parameters)."""
    answers = counts.positive + counts.neutral + counts.negative
    if not answers:  # many segments are empty (a channel not used, no inferred abandonment)
        return _no_answers(scale_points)
    interval = wilson_interval(counts.positive, answers, confidence)
    return AnswerFigures(
        answers=answers,
        positive=counts.positive,
        neutral=counts.neutral,
        negative=counts.negative,
        distribution={point: counts.scores.get(point, 0) for point in scale_points},
        mean_score=_ratio(counts.score_sum, answers),
        ces_ratio=_ratio(counts.positive, answers),
        wilson_lower=interval[0] if interval else None,
        wilson_upper=interval[1] if interval else None,
    )


def _interval(fig: AnswerFigures) -> tuple[float, float] | None:
    """The Wilson interval of ``fig`` as :func:`wilson_interval` gave it: ``None`` without answers."""
    lower, upper = fig.wilson_lower, fig.wilson_upper
    return None if lower is None or upper is None else (lower, upper)


def segment_figures(
    counts: BucketCounts,
    scale_points: tuple[int, ...],
    confidence: float,
    min_answers: int,
    bands: tuple[str, ...] = (),
    asked: tuple[str, ...] = OUTCOMES,
    stratum_min_answers: int = 10,
) -> Segments:
    """The split of a window's answers by outcome, channel and duration band, the exit gap, the false
    positive picture and the CES corrected for non-response.

    :param min_answers: answers each side (exits, completions) needs before the exit gap is computed.
    :param bands: the goal's duration band names, in order (:func:`~stream.ces.goals.effort.band_names`).
    :param asked: the outcomes the goal prompts after (the strata of the correction).
    :param stratum_min_answers: answers a stratum needs to speak for its attempts.
    """
    by_outcome = {
        name: answer_figures(counts.by_outcome.get(name, _NO_ANSWERS), scale_points, confidence) for name in OUTCOMES
    }
    by_channel = {
        name: answer_figures(counts.by_channel.get(name, _NO_ANSWERS), scale_points, confidence) for name in CHANNELS
    }
    at_exits = answer_figures(sum_segments(counts.by_outcome, EXIT_OUTCOMES), scale_points, confidence)
    completed = by_outcome["completed"]
    blended = _ratio(counts.positive, counts.answers)
    completion_only = completed.ces_ratio
    return Segments(
        by_outcome=by_outcome,
        by_channel=by_channel,
        at_exits=at_exits,
        exit_gap=_exit_gap(at_exits, completed, min_answers),
        completion_only_ces_ratio=completion_only,
        all_outcomes_ces_ratio=blended,
        overstatement=None if completion_only is None or blended is None else completion_only - blended,
        by_duration_band={
            name: answer_figures(counts.by_band.get(name, _NO_ANSWERS), scale_points, confidence) for name in bands
        },
        non_response=corrected_ces(
            stratum_cells(counts.strata),
            outcomes=counts.outcomes,
            answers=counts.answers,
            positive=counts.positive,
            # The silent are those asked who did not answer: the prompts shown, where the apps report them.
            prompts=counts.shown or counts.prompts,
            asked=asked,
            min_answers=stratum_min_answers,
            z=z_score(confidence),
        ),
    )


def exit_gap(counts: BucketCounts, confidence: float, min_answers: int) -> ExitGap | None:
    """CES at exits minus CES at completion of a window's answers (as :func:`segment_figures` has it), or
    ``None`` below ``min_answers`` on either side. For callers that need only the gap (the alert simulation)."""
    no_points = ()
    at_exits = answer_figures(sum_segments(counts.by_outcome, EXIT_OUTCOMES), no_points, confidence)
    completed = answer_figures(counts.by_outcome.get("completed", _NO_ANSWERS), no_points, confidence)
    return _exit_gap(at_exits, completed, min_answers)


def _exit_gap(at_exits: AnswerFigures, completed: AnswerFigures, min_answers: int) -> ExitGap | None:
    exit_interval, completed_interval = _interval(at_exits), _interval(completed)
    if not exit_interval or not completed_interval or min(at_exits.answers, completed.answers) < max(1, min_answers):
        return None
    p_exit, p_completed = at_exits.positive / at_exits.answers, completed.positive / completed.answers
    lower, upper = difference_interval(p_exit, exit_interval, p_completed, completed_interval)
    return ExitGap(p_exit - p_completed, lower, upper, at_exits.answers, completed.answers)


_NO_ANSWERS = AnswerCounts()


@lru_cache(maxsize=64)
def _no_answers(scale_points: tuple[int, ...]) -> AnswerFigures:
    # Shared: frozen, and its distribution is never mutated by the callers.
    return AnswerFigures(0, 0, 0, 0, dict.fromkeys(scale_points, 0), None, None, None, None)


def figures(
    counts: BucketCounts,
    scale_points: tuple[int, ...],
    most_negative: int,
    confidence: float,
    *,
    segment_min_answers: int | None = None,
    bands: tuple[str, ...] = (),
    asked: tuple[str, ...] = OUTCOMES,
    stratum_min_answers: int = 10,
) -> WindowFigures:
    """Compute the figures of one window from its summed counts.

    :param counts: the window's counts (e.g. ``GoalBuckets.window_counts``).
    :param scale_points: every point of the goal's scale, in order; the distribution
        has exactly these keys (scores outside the scale are not given a key, so a
        metric label can never come from data).
    :param most_negative: the scale's most negative point (``Scale.most_negative``).
    :param confidence: confidence of the Wilson interval of the CES ratio.
    :param segment_min_answers: when given, also compute the split by outcome and channel
        (:func:`segment_figures`) with this minimum for the exit gap; ``None`` skips it.
    :param bands: the goal's duration band names, for the split by duration band.
    :param asked: the outcomes the goal prompts after, for the CES corrected for non-response.
    :param stratum_min_answers: answers a stratum of that correction needs.
    """
    answers = counts.positive + counts.neutral + counts.negative
    scores = counts.scores
    distribution = {point: scores.get(point, 0) for point in scale_points}
    interval = wilson_interval(counts.positive, answers, confidence)
    outcomes = {name: counts.outcomes.get(name, 0) for name in OUTCOMES}
    effort = effort_figures(counts.durations, counts.retried)
    durations = effort.duration_quantiles
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
        shown=counts.shown,
        dismissed=counts.dismissed,
        # No prompt event in the window (an app that reports none): no share shown, rather than 0.
        shown_ratio=_ratio(counts.shown, counts.prompts) if counts.shown else None,
        dismissal_ratio=_ratio(counts.dismissed, counts.shown),
        response_ratio_shown=_ratio(answers, counts.shown),
        outcomes=outcomes,
        completion_ratio=_ratio(outcomes["completed"], sum(outcomes.values())),
        segments=None
        if segment_min_answers is None
        else segment_figures(counts, scale_points, confidence, segment_min_answers, bands, asked, stratum_min_answers),
        timed_completions=effort.timed_completions,
        retried=effort.retried,
        retry_ratio=effort.retry_ratio,
        duration_p50_seconds=durations.get(0.5),
        duration_p90_seconds=durations.get(0.9),
        duration_p99_seconds=durations.get(0.99),
    )
