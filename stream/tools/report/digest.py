"""A team's weekly digest: ``ces-stream report --team X --period week``.

What a team that owns goals (the registry's ``team``) reads on Monday instead of a ping per
answer: per goal its CES over the week and the change against the week before (an arrow only
when Newcombe's interval of the difference excludes 0, as the report's direction), the
answers, the response rate (answers per prompt) and the comment rate (comments per answer),
the week's three largest comment themes (a rising one marked), and the lowest-score comments
of the week.

Pure: built from two :class:`~stream.tools.report.figures.Report` objects (this period and the
one before, the same goals) and the period's comments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from schemas import FeedbackComment
from schemas.survey_prompt import SurveyKind
from stream.ces.goals import difference_interval
from stream.ces.registry import GoalRegistry, Sentiment
from stream.tools.report.figures import GoalReport, Period, Report
from stream.tools.report.period_figures import Direction

LOWEST_COMMENTS = 5
"""Comments per goal in the digest: the lowest scores of the week, most recent first among equals."""


def week_period(first: date | None, today: date) -> Period:
    """The ISO week (Monday to Sunday) that holds ``first``; without it, the last complete week before ``today``."""
    anchor = first if first is not None else today - timedelta(days=today.isoweekday())
    monday = anchor - timedelta(days=anchor.isoweekday() - 1)
    year, week, _ = monday.isocalendar()
    start = datetime.combine(monday, time(), tzinfo=UTC)
    return Period(start, start + timedelta(days=7), f"week {week} of {year}")


def previous_period(period: Period) -> Period:
    """The period of the same length that ends where ``period`` starts."""
    length = period.end - period.start
    start = period.start - length
    return Period(start, period.start, f"{start.date().isoformat()} to {(period.start - timedelta(days=1)).date()}")


def team_goals(registry: GoalRegistry, team: str) -> list[str]:
    """The slugs of the goals ``team`` owns, in registry order.

    :raises ValueError: when no goal of the registry names the team.
    """
    owned = [goal.slug for goal in registry.goals if goal.team == team]
    if not owned:
        known = sorted({goal.team for goal in registry.goals if goal.team is not None})
        raise ValueError(f"--team {team}: no goal of the registry has it (teams: {', '.join(known) or 'none'})")
    return owned


@dataclass(frozen=True)
class DigestGoal:
    """One goal's lines in the digest."""

    goal: GoalReport
    previous_ratio: float | None  # the CES of the period before; None: no answers then
    change: Direction  # this period against the one before
    comments: int  # comments on the goal's own question in the period
    lowest: list[FeedbackComment]  # at most LOWEST_COMMENTS

    @property
    def response_ratio(self) -> float | None:
        return self.goal.response_ratio

    @property
    def comment_ratio(self) -> float | None:
        return self.comments / self.goal.total.answers if self.goal.total.answers else None


@dataclass(frozen=True)
class Digest:
    """The team's digest over one period."""

    team: str
    period: Period
    previous: Period
    goals: list[DigestGoal]
    confidence: float  # of the intervals behind the arrows


def change(now: GoalReport, before: GoalReport, confidence: float) -> Direction:
    """CES now against before: ↑/↓ when the interval of the difference excludes 0, → when not, – without answers."""
    p_now, p_before = now.total.ces_ratio, before.total.ces_ratio
    interval_now, interval_before = now.total.interval(confidence), before.total.interval(confidence)
    if p_now is None or p_before is None or interval_now is None or interval_before is None:
        return Direction("–", p_before, p_now)
    lower, upper = difference_interval(p_now, interval_now, p_before, interval_before)
    arrow = "↑" if lower > 0 else "↓" if upper < 0 else "→"
    return Direction(arrow, p_before, p_now, (lower, upper))


def lowest_comments(goal: GoalReport, comments: Iterable[FeedbackComment]) -> list[FeedbackComment]:
    """The goal's own-question comments in the negative band, worst score first, then most recent."""
    scale = goal.scale
    low = [
        c
        for c in comments
        if c.survey is not SurveyKind.nps and scale.contains(c.score) and scale.classify(c.score) is Sentiment.negative
    ]
    low.sort(key=lambda c: (abs(c.score - scale.most_negative), -c.answered_at.timestamp()))
    return low[:LOWEST_COMMENTS]


def build_digest(
    team: str, report: Report, before: Report, comments: Iterable[FeedbackComment], confidence: float
) -> Digest:
    """The digest from this period's report, the previous period's (same goals) and this period's comments."""
    in_period = [c for c in comments if report.period.start <= c.answered_at < report.period.end]
    previous = {goal.slug: goal for goal in before.goals}
    goals = []
    for goal in report.goals:
        own = [c for c in in_period if c.goal == goal.slug and c.survey is not SurveyKind.nps]
        earlier = previous[goal.slug]
        goals.append(
            DigestGoal(
                goal=goal,
                previous_ratio=earlier.total.ces_ratio,
                change=change(goal, earlier, confidence),
                comments=len({c.answer_id for c in own}),
                lowest=lowest_comments(goal, own),
            )
        )
    return Digest(team, report.period, before.period, goals, confidence)
