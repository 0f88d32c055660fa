"""The Net Promoter Score of a count of answers, with an interval that is honest for small samples.

NPS answers sit on a 0-10 scale ("how likely are you to recommend us"): promoters 9-10,
passives 7-8, detractors 0-6. The NPS is the share of promoters minus the share of
detractors. It is usually reported from -100 to +100; here, like every other ratio in the
code and on /metrics, it is a fraction from -1 to 1 (multiply by 100 to report it). 100
answers with 50 promoters, 30 passives and 20 detractors give (50 - 20) / 100 = 0.3 exactly.
It is one division of integer counts, never a difference of two divided shares: 40 promoters
and 10 detractors out of 100 would give 0.4 - 0.1 = 0.30000000000000004.

Why not the interval of two shares (Newcombe, :func:`~stream.ces.goals.stats.difference_interval`):
promoters and detractors are two shares of *one* multinomial sample, not of two independent
ones. An answer that is a promoter is not a detractor, so the two shares move against each
other and ``Var(NPS) = (p_P + p_D - (p_P - p_D)^2) / n``, not the sum of two binomial variances.

The interval is the adjusted-Wald interval that Rocks (2016, "Interval estimation for the net
promoter score", The American Statistician 70(4)) found the best of the intervals he compared
(coverage close to nominal) and that Sauro and Lewis recommend after checking it on real
survey data (MeasuringU: "Confidence Intervals for Net Promoter Scores",
measuringu.com/nps-confidence-intervals/; "Evaluating NPS Confidence Intervals with Real-World
Data", 2021, where it was also the narrowest for small n): add 3/4 of an answer to the promoters and to the
detractors and 3/2 to the passives (n' = n + 3; the pseudo-observations ``c(0.75, 1.5, 0.75)`` of
Rocks's R package ``NPS``, ``nps_test(test = "adjusted.wald")``), then take the Wald interval of
the adjusted counts: ``NPS' = (P - D) / n'``, ``Var' = (p_P' + p_D' - NPS'^2) / n'``,
``NPS' ± z·sqrt(Var')``, clipped to [-1, 1]. The pseudo-answers keep the variance above 0 when
every answer falls in one category (the plain Wald interval of 10 promoters out of 10 is [1, 1]),
and pull the centre a little towards 0. Only the interval uses them: the point estimate stays
the plain ``(P - D) / n``. The pull can leave that estimate just outside its interval on a
handful of answers all in one category: at 95 % only for a single answer (1 promoter: NPS 1,
interval up to 0.985), at 90 % up to 4 answers; at 99 % never (checked for every sample up to n = 300).

Two groups (users who recently had a high-effort CES answer against the rest) are two
independent samples, so the variances of their NPS add (Sauro and Lewis, "How to Statistically
Compare Two Net Promoter Scores", use the same adjusted counts): ``(NPS_a' - NPS_b') ±
z·sqrt(Var_a' + Var_b')``, clipped to [-2, 2].

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stream.ces.goals.facts import HIGH_EFFORT, REST
from stream.ces.goals.nps_counts import NpsCounts
from stream.ces.goals.segments import AnswerCounts
from stream.ces.goals.stats import z_score

__all__ = [
    "BandTally",
    "NpsFigures",
    "NpsWindowFigures",
    "nps_baseline_gap",
    "nps_difference",
    "nps_figures",
    "nps_interval",
    "nps_window_figures",
]

BandTally = tuple[int, int, int]
"""``(promoters, passives, detractors)`` of one group of answers."""

# Rocks (2016): pseudo-answers added to each category before the Wald interval; 3 in all.
_PROMOTERS_ADDED = 0.75
_PASSIVES_ADDED = 1.5
_DETRACTORS_ADDED = 0.75


@dataclass(frozen=True, slots=True)
class NpsFigures:
    """The NPS figures of one group of answers; shares, NPS and bounds are ``None`` without answers.

    ``nps`` is ``(promoters - detractors) / answers``, a fraction from -1 to 1 (the usual
    -100..100 divided by 100); ``lower`` and ``upper`` its adjusted-Wald interval (:func:`nps_interval`).
    """

    answers: int
    promoters: int
    passives: int
    detractors: int
    promoter_share: float | None
    passive_share: float | None
    detractor_share: float | None
    nps: float | None
    lower: float | None
    upper: float | None


def _check(promoters: int, passives: int, detractors: int) -> int:
    """The number of answers, once the counts are known to be possible."""
    if promoters < 0 or passives < 0 or detractors < 0:
        raise ValueError(
            f"counts must not be negative, got promoters={promoters}, passives={passives}, detractors={detractors}"
        )
    return promoters + passives + detractors


def _adjusted(promoters: int, passives: int, detractors: int) -> tuple[float, float]:
    """``(NPS', Var')``: the NPS of the adjusted counts and the variance of that estimate."""
    adjusted_n = promoters + passives + detractors + _PROMOTERS_ADDED + _PASSIVES_ADDED + _DETRACTORS_ADDED
    # The pseudo-answers added to promoters and detractors are equal and cancel out of the difference.
    nps = (promoters - detractors) / adjusted_n
    promoter_share = (promoters + _PROMOTERS_ADDED) / adjusted_n
    detractor_share = (detractors + _DETRACTORS_ADDED) / adjusted_n
    # > 0: with s = p_P' + p_D' in (0, 1), Var' >= s - s^2 > 0; no zero-width interval, no sqrt of dust below 0.
    return nps, (promoter_share + detractor_share - nps * nps) / adjusted_n


def nps_interval(promoters: int, passives: int, detractors: int, confidence: float) -> tuple[float, float] | None:
    """The adjusted-Wald interval of the NPS (Rocks 2016; see the module docstring), within [-1, 1].

    :param promoters: answers 9-10.
    :param passives: answers 7-8.
    :param detractors: answers 0-6.
    :param confidence: e.g. 0.95.
    :returns: ``(lower, upper)`` as fractions of -1..1, or ``None`` without answers.
    :raises ValueError: for a negative count or a confidence outside (0, 1).
    """
    n = _check(promoters, passives, detractors)
    z = z_score(confidence)
    if n == 0:
        return None
    centre, variance = _adjusted(promoters, passives, detractors)
    half_width = z * math.sqrt(variance)
    return max(-1.0, centre - half_width), min(1.0, centre + half_width)


def nps_figures(promoters: int, passives: int, detractors: int, confidence: float) -> NpsFigures:
    """The shares, the NPS (-1..1) and its interval (:func:`nps_interval`) of one group of answers.

    Every figure is one division of integer counts, so 50 promoters, 30 passives and 20
    detractors give shares 0.5, 0.3, 0.2 and an NPS of 0.3, exactly.

    :raises ValueError: for a negative count or a confidence outside (0, 1).
    """
    interval = nps_interval(promoters, passives, detractors, confidence)
    n = promoters + passives + detractors
    if interval is None:
        return NpsFigures(0, 0, 0, 0, None, None, None, None, None, None)
    return NpsFigures(
        answers=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        promoter_share=promoters / n,
        passive_share=passives / n,
        detractor_share=detractors / n,
        nps=(promoters - detractors) / n,
        lower=interval[0],
        upper=interval[1],
    )


def nps_difference(
    a: BandTally, b: BandTally, confidence: float, min_answers: int
) -> tuple[float, float, float] | None:
    """The NPS of group ``a`` minus that of group ``b``, two independent groups, with its interval.

    The difference is of the plain estimates; the interval is centred on the difference of
    the adjusted ones, ``(NPS_a' - NPS_b') ± z·sqrt(Var_a' + Var_b')`` (see the module
    docstring), clipped to [-2, 2]. A positive difference: ``a`` recommends more. Like the
    interval of one group, the pull towards 0 can leave the plain difference just outside, but
    only when one group is (all but one) promoters and the other (all but one) detractors: at
    95 %, 20 promoters against 20 detractors give a difference of 2 and an interval of 1.49 to 1.98.

    :param a: ``(promoters, passives, detractors)`` of the first group (e.g. users who recently
        found a goal hard).
    :param b: the same of the second group (e.g. the rest).
    :param confidence: e.g. 0.95.
    :param min_answers: answers each group needs for a figure (at least 1).
    :returns: ``(difference, lower, upper)`` as fractions of -2..2, or ``None`` when either group
        has fewer than ``min_answers`` answers.
    :raises ValueError: for a negative count, a confidence outside (0, 1) or ``min_answers < 1``.
    """
    if min_answers < 1:
        raise ValueError(f"min_answers must be at least 1, got {min_answers}")
    n_a, n_b = _check(*a), _check(*b)
    z = z_score(confidence)
    if n_a < min_answers or n_b < min_answers:
        return None
    nps_a, variance_a = _adjusted(*a)
    nps_b, variance_b = _adjusted(*b)
    half_width = z * math.sqrt(variance_a + variance_b)
    difference = (a[0] - a[2]) / n_a - (b[0] - b[2]) / n_b
    return difference, max(-2.0, nps_a - nps_b - half_width), min(2.0, nps_a - nps_b + half_width)


@dataclass(slots=True)
class NpsWindowFigures:
    """What a window says about the NPS question asked at one goal's moments.

    ``figures`` of every answer; ``distribution`` per point 0..10; the prompts sent, shown and
    dismissed and the response ratio (answers / prompts, may exceed 1 near the window start);
    ``by_channel`` per channel of the goal attempt (channels with answers); ``high_effort`` and
    ``rest``: the users who had a high-effort CES answer shortly before, and the others, with
    ``high_effort_gap`` = their NPS difference ``(difference, lower, upper)``, ``None`` until
    each group has ``min_answers`` answers (a group without answers is ``None``).
    """

    figures: NpsFigures
    distribution: dict[int, int]
    prompts: int
    response_ratio: float | None
    shown: int
    dismissed: int
    by_channel: dict[str, NpsFigures]
    high_effort: NpsFigures | None
    rest: NpsFigures | None
    high_effort_gap: tuple[float, float, float] | None
    baseline_gap: tuple[float, float, float] | None = None
    """On a gap window (``CES_ALERT_BASELINE_WINDOW``'s short windows): its NPS minus that of the rest of the
    baseline window, ``(difference, lower, upper)`` (:func:`nps_baseline_gap`); ``None`` elsewhere, or
    until both sides hold the goal's ``alerting.min_answers``."""


def nps_baseline_gap(
    recent: AnswerCounts, window: AnswerCounts, confidence: float, min_answers: int
) -> tuple[float, float, float] | None:
    """The NPS of a recent window minus that of the rest of a longer window that holds it, with its interval.

    Like the CES baseline gap (:func:`~stream.ces.goals.stats.baseline_gap`), the baseline is the
    longer window *without* the recent one (its counts minus the recent ones), so a drop is not
    diluted into its own baseline and the two groups are independent samples: the interval is
    :func:`nps_difference`'s (adjusted Wald, the variances added). Counts are promoters (positive),
    passives (neutral) and detractors (negative), as in :class:`~stream.ces.goals.nps_counts.NpsCounts`.

    :param min_answers: answers each side needs for a figure (at least 1).
    :returns: ``(difference, lower, upper)`` as fractions of -2..2, or ``None`` when either side has fewer
        than ``min_answers`` answers, or the recent counts are not part of the window's.
    :raises ValueError: for a confidence outside (0, 1) or ``min_answers < 1``.
    """
    now = (recent.positive, recent.neutral, recent.negative)
    rest = (window.positive - now[0], window.neutral - now[1], window.negative - now[2])
    if min(now) < 0 or min(rest) < 0:
        return None
    return nps_difference(now, rest, confidence, min_answers)


def _of(counts: AnswerCounts, confidence: float) -> NpsFigures:
    return nps_figures(counts.positive, counts.neutral, counts.negative, confidence)


def nps_window_figures(counts: NpsCounts, confidence: float, min_answers: int) -> NpsWindowFigures:
    """The NPS figures of a window from its summed NPS counts (``BucketCounts.nps``).

    :param min_answers: answers each effort group needs before the split is shown
        (``nps.high_effort.min_answers``).
    """
    high = counts.by_effort.get(HIGH_EFFORT, _NONE)
    rest = counts.by_effort.get(REST, _NONE)
    gap = nps_difference(
        (high.positive, high.neutral, high.negative),
        (rest.positive, rest.neutral, rest.negative),
        confidence,
        min_answers,
    )
    return NpsWindowFigures(
        figures=_of(counts, confidence),
        distribution={point: counts.scores.get(point, 0) for point in range(11)},
        prompts=counts.prompts,
        response_ratio=counts.answers / counts.prompts if counts.prompts else None,
        shown=counts.shown,
        dismissed=counts.dismissed,
        by_channel={name: _of(part, confidence) for name, part in sorted(counts.by_channel.items()) if part.answers},
        # The groups always, so that summaries add up over a period; their gap only above the minimum.
        high_effort=_of(high, confidence) if high.answers else None,
        rest=_of(rest, confidence) if rest.answers else None,
        high_effort_gap=gap,
    )


_NONE = AnswerCounts()
