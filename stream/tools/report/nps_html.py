"""The NPS section of a goal in ``ces-stream report``: the period's NPS, its bands, and the high-effort split.

Pure: a :class:`~stream.tools.report.figures.GoalReport` in, HTML out, with ``data-field`` attributes like
the rest of the report. NPS is shown from -100 to +100 (the fraction x 100), signed.
"""

from __future__ import annotations

from html import escape

from stream.tools.report.figures import GoalReport
from stream.tools.report.nps import PeriodNps


def nps_points(value: float | None) -> str:
    """An NPS (-1..1) or a difference of two as signed points: "+30", "−12", "0"."""
    if value is None:
        return "–"
    points = round(value * 100)
    return f"+{points}" if points > 0 else f"\u2212{-points}" if points < 0 else "0"


def nps_range(lower: float | None, upper: float | None) -> str:
    return "–" if lower is None or upper is None else f"{nps_points(lower)} to {nps_points(upper)}"


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{round(ratio * 100)} %"


def _field(name: str, text: str, tag: str = "span") -> str:
    return f'<{tag} data-field="{escape(name)}">{escape(text)}</{tag}>'


def split_text(nps: PeriodNps) -> str:
    """The NPS of users with a recent high-effort CES answer against the rest, and what it says."""
    high, rest = nps.high_effort, nps.rest
    if nps.gap is None:
        return (
            f"High effort vs rest: {_field('nps_split', 'not enough answers yet')} (each group needs "
            f"{nps.min_answers} answers; the period's summaries hold {high.answers} from users with a recent "
            f"high-effort answer and {rest.answers} from the rest)."
        )
    difference, lower, upper = nps.gap
    if upper < 0:
        meaning = "users who recently found a goal hard recommend us less than the rest, beyond sampling noise"
    elif lower > 0:
        meaning = "users who recently found a goal hard recommend us more than the rest, beyond sampling noise"
    else:
        meaning = "no difference beyond sampling noise between users who recently found a goal hard and the rest"
    return (
        f"High effort vs rest: {_field('nps_split', nps_points(difference) + ' pts')} "
        f"(interval {_field('nps_split_interval', nps_range(lower, upper))}): NPS "
        f"{_field('nps_high_effort', nps_points(high.nps))} of {high.answers} users with a high-effort CES answer "
        f"shortly before, against {_field('nps_rest', nps_points(rest.nps))} of {rest.answers} others; "
        f"{_field('nps_split_meaning', meaning)}."
    )


def _comments(goal: GoalReport) -> str:
    if not goal.nps_comments:
        return ""
    items = "".join(
        f'<li><span class="muted">{comment.answered_at:%Y-%m-%d %H:%M} UTC · NPS score {comment.score} · '
        f"{escape(str(comment.channel))}</span>{_field(f'nps_comment-{index}', comment.comment, 'blockquote')}</li>"
        for index, comment in enumerate(goal.nps_comments, start=1)
    )
    return f'<h3>Recent detractor comments (NPS 0–6)</h3><ol class="comments">{items}</ol>'


def nps_section(goal: GoalReport) -> str:
    """The goal's NPS over the period, or nothing for a goal whose summaries count no NPS."""
    nps = goal.nps
    if nps is None:
        return ""
    fig = nps.figures
    coverage = f"{nps.counted} of {len(goal.summaries)}"
    return (
        '<div class="nps"><h3>Net Promoter Score (asked after a completion, apart from the goal\'s question)</h3>'
        f'<p class="headline">NPS <b>{_field("nps", nps_points(fig.nps))}</b> '
        f"(interval {_field('nps_interval', nps_range(fig.lower, fig.upper))}, "
        f"{_field('nps_answers', str(fig.answers))} answers) · promoters "
        f"{_field('nps_promoters', _pct(fig.promoter_share))} · passives {_field('nps_passives', _pct(fig.passive_share))}"
        f" · detractors {_field('nps_detractors', _pct(fig.detractor_share))} · response ratio "
        f"{_field('nps_response_ratio', _pct(nps.response_ratio))} of {nps.prompts} NPS prompts</p>"
        f"<p>{split_text(nps)}</p>"
        f'<p class="muted">From the counts of {_field("nps_coverage", coverage)} summaries summed (summaries older '
        "than version 5 count no NPS); the split from the summaries whose effort groups were large enough.</p>"
        f"{_comments(goal)}</div>"
    )
