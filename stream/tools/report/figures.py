"""The figures of ``ces-stream report``: one goal's CES over a month, a quarter or any dates.

Pure (no Kafka): built from the GoalSummary records of one window and the FeedbackComment
records that fall in the period. Summaries of one window are aligned tumbling periods, so
their counts add up to the period's counts without overlap; figures over the period are
therefore always computed from summed counts, never by averaging ratios. A summary can
arrive twice (outputs are at-least-once) and only its latest revision counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from schemas import FeedbackComment, GoalSummary
from schemas.survey_prompt import PromptOutcome, SurveyKind
from stream.ces.goals import difference_interval, parse_duration
from stream.ces.goals.effort import band_names
from stream.ces.registry import GoalConfig, GoalRegistry, Scale, Sentiment
from stream.tools.report.nps import PeriodNps, period_nps
from stream.tools.report.period_figures import (
    Counts,
    Direction,
    PeriodEffort,
    PeriodFunnel,
    PeriodNonResponse,
    period_effort,
    period_funnel,
    period_non_response,
)
from stream.tools.report.releases import (
    DEFAULT_RELEASE_ERROR_RATE,
    DEFAULT_RELEASE_MIN_ANSWERS,
    DEFAULT_RELEASE_VERSIONS,
    PeriodReleases,
    period_releases,
)

if TYPE_CHECKING:  # imported when a report is built: numpy and scikit-learn take a second, every command loads this
    from stream.ces.comments.themes import CommentThemes

PERIOD_KINDS = ("month", "quarter", "custom")
NPS_DETRACTOR_MAX = 6  # NPS answers 0-6 are detractors


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, with the label the report shows."""

    start: datetime
    end: datetime
    label: str

    def holds(self, summary: GoalSummary) -> bool:
        """A summary counts only when its whole window lies in the period (no partial days)."""
        return self.start <= summary.window_start and summary.window_end <= self.end


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def period_of(kind: str, first: date | None, last: date | None, today: date) -> Period:
    """The report period: the month or quarter holding ``first`` (default today), or ``first..last`` inclusive.

    :raises ValueError: for an unknown kind, a custom period without both dates or with
        ``last`` before ``first``, or ``last`` given for a month or quarter.
    """
    if kind == "custom":
        if first is None or last is None:
            raise ValueError("--period custom needs --from and --to")
        if last < first:
            raise ValueError(f"--to {last} is before --from {first}")
        return Period(
            _midnight(first), _midnight(last + timedelta(days=1)), f"{first.isoformat()} to {last.isoformat()}"
        )
    if kind not in PERIOD_KINDS:
        raise ValueError(f"unknown period {kind!r} (one of {', '.join(PERIOD_KINDS)})")
    if last is not None:
        raise ValueError(f"--to is for --period custom; --period {kind} takes the {kind} that holds --from")
    anchor = first or today
    months = 1 if kind == "month" else 3
    start_month = anchor.month if kind == "month" else 3 * ((anchor.month - 1) // 3) + 1
    start = date(anchor.year, start_month, 1)
    end_month = start_month + months
    end = date(anchor.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    label = start.strftime("%B %Y") if kind == "month" else f"Q{(start_month - 1) // 3 + 1} {start.year}"
    return Period(_midnight(start), _midnight(end), label)


@dataclass
class GoalReport:
    """Everything the report shows of one goal over the period."""

    slug: str
    display_name: str
    target: float | None
    scale: Scale
    labels: dict[int, str]
    summaries: list[GoalSummary]  # the window's summaries in the period, oldest first
    expected_summaries: int  # window periods the period holds up to now
    total: Counts
    completed: Counts
    exits: Counts
    prompts: int
    outcomes: dict[str, int]
    direction: Direction
    effort: PeriodEffort
    non_response: PeriodNonResponse
    funnel: PeriodFunnel
    low_comments: list[FeedbackComment]  # most recent first, at most the limit
    low_comment_count: int  # in the period, before the limit
    survey: str = "ces"  # the goal's own question: "ces" or "csat" (the registry's, for summaries of every version)
    nps: PeriodNps | None = None  # the NPS asked at the goal's moments; None: no summary of the period counts any
    nps_comments: list[FeedbackComment] = field(default_factory=list)  # detractors' (0-6), most recent first
    themes: CommentThemes | None = None  # of the comments on the goal's own question (not the NPS's)
    releases: PeriodReleases | None = None  # per app release and channel; None: no summary of the period has any

    @property
    def kind(self) -> str:
        """What the goal's own figure is called: "CSAT" for a satisfaction goal, else "CES"."""
        return "CSAT" if self.survey == "csat" else "CES"

    @property
    def response_ratio(self) -> float | None:
        return self.total.answers / self.prompts if self.prompts else None

    @property
    def completion_ratio(self) -> float | None:
        all_outcomes = sum(self.outcomes.values())
        return self.outcomes.get("completed", 0) / all_outcomes if all_outcomes else None


@dataclass
class Report:
    """The whole report: its period and window, every goal, and what was left out."""

    period: Period
    window: str
    confidence: float
    generated_at: datetime
    goals: list[GoalReport]
    skipped: dict[str, int]  # reason -> records left out


def latest_revisions(summaries: Iterable[GoalSummary]) -> list[GoalSummary]:
    """One summary per (goal, window, start): the one emitted last (a later read wins a tie)."""
    latest: dict[str, GoalSummary] = {}
    for summary in summaries:
        key = summary.kafka_key()
        if key not in latest or summary.emitted_at >= latest[key].emitted_at:
            latest[key] = summary
    return sorted(latest.values(), key=lambda s: (s.goal, s.window_start))


def expected_summaries(period: Period, window_seconds: int, now: datetime) -> int:
    """How many aligned window periods fit in the period (up to now): the summaries a full record holds."""
    start_s, end_s = period.start.timestamp(), min(period.end, now).timestamp()
    first = -(-int(start_s) // window_seconds) * window_seconds
    last_end = int(end_s) // window_seconds * window_seconds
    return max(0, (last_end - first) // window_seconds)


def direction(summaries: Sequence[GoalSummary], confidence: float) -> Direction:
    """The second half of the period's summaries against the first (summed counts, Newcombe's interval)."""
    half = len(summaries) // 2
    first, second = Counts(), Counts()
    for index, summary in enumerate(summaries):
        (first if index < half else second).add(summary)
    p1, p2 = first.ces_ratio, second.ces_ratio
    if p1 is None or p2 is None:  # a half without answers
        return Direction("–", p1, p2)
    interval1, interval2 = first.interval(confidence), second.interval(confidence)
    assert interval1 is not None and interval2 is not None  # both halves have answers
    lower, upper = difference_interval(p2, interval2, p1, interval1)
    arrow = "↑" if lower > 0 else "↓" if upper < 0 else "→"
    return Direction(arrow, p1, p2, (lower, upper))


def _is_low(scale: Scale, score: int) -> bool:
    return scale.contains(score) and scale.classify(score) is Sentiment.negative


def goal_report(
    goal: GoalConfig,
    summaries: list[GoalSummary],
    comments: list[FeedbackComment],
    expected: int,
    confidence: float,
    comment_limit: int,
    nps_min_answers: int = 30,
    halves_at: datetime | None = None,
    release_versions: int = DEFAULT_RELEASE_VERSIONS,
    release_error_rate: float = DEFAULT_RELEASE_ERROR_RATE,
    release_min_answers: int = DEFAULT_RELEASE_MIN_ANSWERS,
) -> GoalReport:
    """One goal's figures from its summaries (one window, in the period) and its comments (in the period);
    ``halves_at`` splits the period for the comment themes' rising test (default: between the comments);
    ``release_versions`` releases per channel are shown, verdicts at ``release_error_rate`` once both releases
    hold ``release_min_answers`` answers."""
    from stream.ces.comments.themes import ThemeComment, find_themes

    total, completed, exits = Counts(), Counts(), Counts()
    outcomes: dict[str, int] = {}
    prompts = 0
    for summary in summaries:
        total.add(summary)
        # The worker writes every outcome; the contract does not insist.
        if PromptOutcome.completed in summary.by_outcome:
            completed.add(summary.by_outcome[PromptOutcome.completed])
        exits.add(summary.at_exits)
        prompts += summary.prompts
        for outcome, count in summary.outcomes.items():
            outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + count
    scale = goal.scale_obj()
    ces_direction = direction(summaries, confidence)
    funnel = period_funnel(summaries, total, prompts)
    # A comment is read on the scale of the question it answered: the goal's own, or the NPS (detractors 0-6).
    own = [c for c in comments if c.survey is not SurveyKind.nps]
    low = sorted((c for c in own if _is_low(scale, c.score)), key=lambda c: c.answered_at, reverse=True)
    detractors = (c for c in comments if c.survey is SurveyKind.nps and c.score <= NPS_DETRACTOR_MAX)
    nps_low = sorted(detractors, key=lambda c: c.answered_at, reverse=True)
    return GoalReport(
        slug=goal.slug,
        display_name=goal.display_name["en"],
        target=goal.target_ces_ratio,
        scale=scale,
        labels={label.value: label.label for label in goal.scale_spec_for("en").labels},
        summaries=summaries,
        expected_summaries=expected,
        total=total,
        completed=completed,
        exits=exits,
        prompts=prompts,
        outcomes=outcomes,
        direction=ces_direction,
        effort=period_effort(
            summaries, ces_direction, confidence, band_names(goal.measured_effort.duration_bands_seconds)
        ),
        non_response=period_non_response(summaries, total, prompts, outcomes, confidence, shown=funnel.shown or 0),
        funnel=funnel,
        low_comments=low[:comment_limit],
        low_comment_count=len(low),
        survey=goal.survey,
        nps=period_nps(summaries, confidence, nps_min_answers),
        nps_comments=nps_low[:comment_limit],
        themes=find_themes(
            [ThemeComment(c.comment, c.locale, _is_low(scale, c.score), c.answered_at) for c in own], halves_at
        ),
        releases=period_releases(summaries, release_versions, release_error_rate, release_min_answers),
    )


def build_report(
    registry: GoalRegistry,
    summaries: Iterable[GoalSummary],
    comments: Iterable[FeedbackComment],
    period: Period,
    window: str,
    *,
    confidence: float,
    now: datetime,
    goals: Sequence[str] | None = None,
    comment_limit: int = 10,
    skipped: dict[str, int] | None = None,
    release_versions: int = DEFAULT_RELEASE_VERSIONS,
    release_error_rate: float = DEFAULT_RELEASE_ERROR_RATE,
    release_min_answers: int = DEFAULT_RELEASE_MIN_ANSWERS,
) -> Report:
    """The report over ``period`` from every summary and comment read (any window, any time).

    Only summaries of ``window`` whose whole window lies in the period count, one revision
    each; comments count when answered in the period (once per answer). ``goals`` picks a
    subset of the registry (its order kept); summaries of goals not in the registry are
    counted as skipped. Per goal and channel the ``release_versions`` most recent releases are shown,
    the newest against the one before it at ``release_error_rate`` after ``release_min_answers`` answers each
    (:mod:`stream.tools.report.releases`).

    :raises ValueError: when ``goals`` names a goal the registry does not hold.
    """
    missing = [slug for slug in goals or () if registry.get(slug) is None]
    if missing:
        raise ValueError(f"not in the goal registry: {', '.join(missing)}")
    chosen = [goal for goal in registry.goals if goals is None or goal.slug in goals]
    skipped = dict(skipped or {})
    in_period = [s for s in latest_revisions(summaries) if s.window == window and period.holds(s)]
    unknown = sum(1 for s in in_period if registry.get(s.goal) is None)
    if unknown:
        skipped["summaries of goals not in the registry"] = unknown
    in_period_comments = {c.answer_id: c for c in comments if period.start <= c.answered_at < period.end}.values()
    expected = expected_summaries(period, parse_duration(window), now)
    halves_at = period.start + (min(period.end, now) - period.start) / 2  # the themes rise from half to half
    nps = registry.nps_enabled
    reports = [
        goal_report(
            goal,
            [s for s in in_period if s.goal == goal.slug],
            [c for c in in_period_comments if c.goal == goal.slug],
            expected,
            confidence,
            comment_limit,
            nps_min_answers=30 if nps is None else nps.high_effort.min_answers,
            halves_at=halves_at,
            release_versions=release_versions,
            release_error_rate=release_error_rate,
            release_min_answers=release_min_answers,
        )
        for goal in chosen
    ]
    return Report(period, window, confidence, now, reports, skipped)
