"""The figures of one goal over a report's period, summed from its summaries: answer counts, the CES
direction, time to complete and retries, the prompt funnel, and the CES corrected for non-response.

Pure, like :mod:`stream.tools.report.figures`, which builds a goal's report from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas import GoalSummary
from schemas.goal_summary import SegmentFigures
from stream.ces.goals import wilson_interval
from stream.ces.goals.effort import duration_quantile, effort_divergence, slower_counts
from stream.ces.goals.nonresponse import Cell, NonResponse, corrected_ces, silent_bounds
from stream.ces.goals.segments import stratum_name
from stream.ces.goals.stats import proportion_gap, z_score


@dataclass
class Counts:
    """Answer counts summed over summaries (or segments of them)."""

    answers: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    distribution: dict[int, int] = field(default_factory=dict)

    def add(self, part: GoalSummary | SegmentFigures) -> None:
        self.answers += part.answers
        self.positive += part.positive
        self.neutral += part.neutral
        self.negative += part.negative
        for point, count in part.distribution.items():
            self.distribution[int(point)] = self.distribution.get(int(point), 0) + count

    @property
    def ces_ratio(self) -> float | None:
        return self.positive / self.answers if self.answers else None

    def interval(self, confidence: float) -> tuple[float, float] | None:
        return wilson_interval(self.positive, self.answers, confidence)


@dataclass(frozen=True)
class Direction:
    """CES in the period's second half against its first half; an arrow only when the change is significant."""

    arrow: str  # "↑", "↓", "→" (no significant change) or "–" (too little data)
    first: float | None
    second: float | None
    bounds: tuple[float, float] | None = None  # the interval of second minus first


@dataclass(frozen=True)
class PeriodEffort:
    """Time to complete and retries over the period, from the summaries' duration histograms (version 3)."""

    durations: dict[int, int]  # bucket index -> timed completions, summed over the period
    retried: int
    divergence: str | None  # second half against the first: measured vs reported effort
    by_band: dict[str, Counts]  # answers after a timed completion per duration band, in band order

    @property
    def timed_completions(self) -> int:
        return sum(self.durations.values())

    @property
    def retry_ratio(self) -> float | None:
        return self.retried / self.timed_completions if self.timed_completions else None

    def quantile(self, q: float) -> float | None:
        return duration_quantile(self.durations, q)


def _histogram(summaries: Iterable[GoalSummary]) -> dict[int, int]:
    total: dict[int, int] = {}
    for summary in summaries:
        if summary.measured_effort is not None:  # version 2 summaries measured nothing
            for key, count in summary.measured_effort.duration_histogram.items():
                total[int(key)] = total.get(int(key), 0) + count
    return total


def period_effort(
    summaries: Sequence[GoalSummary], ces: Direction, confidence: float, bands: Sequence[str] = ()
) -> PeriodEffort:
    """Summed histograms (exact: the windows do not overlap), and the second half against the first:
    the share of completions slower than the first half's median, with the CES direction's interval
    (:func:`~stream.ces.goals.effort.effort_divergence`)."""
    half = len(summaries) // 2
    whole, second = _histogram(summaries), _histogram(summaries[half:])
    counts = slower_counts(second, whole)
    gap = None if counts is None else proportion_gap(*counts, confidence)
    divergence = effort_divergence(ces.bounds, None if gap is None else (gap[1], gap[2]))
    retried = sum(s.measured_effort.retried for s in summaries if s.measured_effort is not None)
    by_band = {name: Counts() for name in bands}
    for summary in summaries:
        for name, segment in summary.by_duration_band.items():
            if name in by_band:  # a band the registry no longer cuts is left out
                by_band[name].add(segment)
    return PeriodEffort(whole, retried, divergence, by_band)


@dataclass(frozen=True)
class PeriodFunnel:
    """The period's prompts from sent to answered, summed over its summaries' funnels (version 4).

    ``shown`` and ``dismissed`` are ``None`` when the funnel was not counted (a summary predates
    version 4); 0 when the apps report no prompt events. Ratios come from the sums.
    """

    sent: int
    answered: int
    shown: int | None
    dismissed: int | None

    @property
    def counted(self) -> bool:
        return self.shown is not None

    @property
    def reports_shown(self) -> bool:
        """Whether the apps reported any prompt shown: then the response ratio is over those."""
        return bool(self.shown)

    @property
    def shown_ratio(self) -> float | None:
        return self.shown / self.sent if self.shown and self.sent else None

    @property
    def dismissal_ratio(self) -> float | None:
        return (self.dismissed or 0) / self.shown if self.shown else None

    @property
    def response_ratio_shown(self) -> float | None:
        return self.answered / self.shown if self.shown else None


def period_funnel(summaries: Sequence[GoalSummary], total: Counts, prompts: int) -> PeriodFunnel:
    """The funnels of the period's summaries summed; without one in every summary, only sent and answered."""
    funnels = [summary.funnel for summary in summaries if summary.funnel is not None]
    if len(funnels) < len(summaries):
        return PeriodFunnel(prompts, total.answers, None, None)
    return PeriodFunnel(
        sent=sum(funnel.sent for funnel in funnels),
        answered=sum(funnel.answered for funnel in funnels),
        shown=sum(funnel.shown for funnel in funnels),
        dismissed=sum(funnel.dismissed for funnel in funnels),
    )


@dataclass(frozen=True)
class PeriodNonResponse:
    """The CES corrected for non-response over the period, and the bounds that assume nothing about the silent.

    ``correction`` is :func:`~stream.ces.goals.nonresponse.corrected_ces` over the summaries' cells summed
    per outcome and channel (version 4); ``None`` when the period's counts cannot make one (a summary
    predates version 4, or holds counts made before strata were counted). ``missing`` says in a few
    words why there is no corrected CES (``None`` when there is one).
    """

    correction: NonResponse | None
    missing: str | None
    silent: tuple[float, float] | None  # (if no silent user found it easy, if all did); None without prompts
    over_shown: bool = False  # the silent are the prompts shown and not answered (else: sent and not answered)

    @property
    def ces_ratio(self) -> float | None:
        return None if self.correction is None else self.correction.ces_ratio

    @property
    def interval(self) -> tuple[float, float] | None:
        correction = self.correction
        if correction is None or correction.lower is None or correction.upper is None:
            return None
        return correction.lower, correction.upper


def period_non_response(
    summaries: Sequence[GoalSummary],
    total: Counts,
    prompts: int,
    outcomes: dict[str, int],
    confidence: float,
    shown: int = 0,
) -> PeriodNonResponse:
    """The cells of the period's summaries summed per outcome and channel, corrected once over the sums.

    A stratum of the period needs what the strictest of its summaries asked of one, and every outcome
    one of them asked about is weighed. The silent bounds need only answers and prompts, which every
    version counts: the prompts ``shown`` where the apps reported any (as the worker bounds a window),
    else the prompts sent.
    """
    asked = shown or prompts  # those asked who did not answer are silent: the prompts users saw, where known
    silent = silent_bounds(total.positive, total.answers, asked)

    def without_figure(missing: str) -> PeriodNonResponse:
        return PeriodNonResponse(None, missing, silent, bool(shown))

    if not summaries:
        return without_figure("no data")
    parts = [summary.non_response for summary in summaries if summary.non_response is not None]
    if len(parts) < len(summaries):
        return without_figure("not counted before version 4 summaries")
    cells: dict[str, Cell] = {}
    for part in parts:
        for counts in part.cells:
            name = stratum_name(counts.outcome, counts.channel)
            attempts, answers, positive = cells.get(name, (0, 0, 0))
            cells[name] = (attempts + counts.attempts, answers + counts.answers, positive + counts.positive)
    correction = corrected_ces(
        cells,
        outcomes=outcomes,
        answers=total.answers,
        positive=total.positive,
        prompts=asked,
        asked={str(outcome) for part in parts for outcome in part.asked_outcomes},
        min_answers=max(part.min_answers_per_stratum for part in parts),
        z=z_score(confidence),
    )
    # A window with counts from before strata were counted could leave sums that happen to match.
    if not correction.complete or not all(part.complete for part in parts):
        return without_figure("some counts were made before strata were counted")
    if correction.thin:
        return PeriodNonResponse(correction, "too thin: " + ", ".join(correction.thin), silent, bool(shown))
    if correction.ces_ratio is None:
        return PeriodNonResponse(correction, "no attempts at an outcome the goal asks about", silent, bool(shown))
    return PeriodNonResponse(correction, None, silent, bool(shown))
