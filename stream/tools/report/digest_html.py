"""The HTML of a team's digest: made to be mailed.

Pure: a :class:`~stream.tools.report.digest.Digest` in, text out. E-mail clients drop
``<style>`` blocks, scripts, SVG and outside links, so every element carries its own inline
style, the layout is one table 640 px wide, and there is nothing to load. Every text from
data (names, comments) is HTML-escaped. Figures carry ``data-goal`` / ``data-field``
attributes, as in the full report, so tests and scripts can read them back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from schemas import FeedbackComment
from stream.ces.releases.parts import verdict_text
from stream.tools.report.digest import Digest, DigestGoal

FONT = "font-family:Arial,Helvetica,sans-serif;"
MUTED = "color:#667085;"
CELL = f"{FONT}font-size:14px;line-height:20px;color:#1d2430;padding:4px 0;"
THEMES = 3  # the largest themes of the week in the digest; the report has them all
ARROW_COLOURS = {"↑": "#067647", "↓": "#b42318", "→": "#667085", "–": "#667085"}
DIRECTION_COLOURS = {"worse": "#b42318", "better": "#067647"}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _points(value: float) -> str:
    return f"{100 * value:+.0f}".replace("-", "−")


def _figure(field: str, text: str) -> str:
    return f'<span data-field="{field}">{escape(text)}</span>'


def _change(line: DigestGoal) -> str:
    change = line.change
    colour = ARROW_COLOURS[change.arrow]
    if change.bounds is None or change.first is None or change.second is None:
        text = "no comparison: a week without answers"
        return f'<span style="{MUTED}">{_figure("change", text)}</span>'
    lower, upper = change.bounds
    difference = change.second - change.first
    text = f"{change.arrow} {_points(difference)} pts [{_points(lower)}, {_points(upper)}]"
    meaning = {"↑": "better", "↓": "worse", "→": "no significant change"}[change.arrow]
    return (
        f'<b style="color:{colour};">{_figure("change", text)}</b> '
        f'<span style="{MUTED}">{meaning}, against {_percent(change.first)} the week before</span>'
    )


def _comment(comment: FeedbackComment) -> str:
    when = comment.answered_at.strftime("%a %d %b")
    return (
        f'<tr><td style="{CELL}border-left:3px solid #d05a4e;padding-left:10px;">'
        f'<span style="{MUTED}font-size:12px;">score {comment.score} · {escape(comment.channel.value)} · {when}</span>'
        f'<br><span data-field="comment">{escape(comment.comment)}</span></td></tr>'
    )


def _themes(line: DigestGoal) -> str:
    """The goal's comment themes of the week, largest first, a rising one marked; nothing without themes."""
    found = line.goal.themes
    if found is None or not found.themes:
        return ""
    items = []
    for number, theme in enumerate(found.themes[:THEMES], start=1):
        rising = ""
        if theme.rise.rising and theme.rise.p_value is not None:
            rising = f' <b style="color:#b54708;" data-field="theme-{number}-rising">rising</b>'
        items.append(
            f'<tr><td style="{CELL}padding-left:10px;"><span data-field="theme-{number}-label">'
            f"{escape(theme.label)}</span>{rising} "
            f'<span style="{MUTED}">· <span data-field="theme-{number}-count">{theme.count}</span> comments, '
            f"{_percent(theme.negative_share)} of the negative ones</span></td></tr>"
        )
    return f'<tr><td style="{CELL}padding-top:10px;"><b>What the comments are about</b></td></tr>' + "".join(items)


def _releases(line: DigestGoal) -> str:
    """The week's decided release verdicts of the goal (worse or better), one line each; nothing without one."""
    releases = line.goal.releases
    if releases is None or not releases.decided:
        return ""
    items = "".join(
        f'<tr><td style="{CELL}padding-left:10px;"><b style="color:{DIRECTION_COLOURS[verdict.direction]};" '
        f'data-field="release-{escape(verdict.channel)}-direction">{escape(verdict.direction)}</b> '
        f'<span data-field="release-{escape(verdict.channel)}-verdict">{escape(verdict_text(verdict, ""))}</span>'
        "</td></tr>"
        for verdict in releases.decided
    )
    note = (
        f'<tr><td style="{CELL}{MUTED}font-size:12px;padding-left:10px;">Each channel\'s newest release against '
        "the one before it over the week: the difference of their shares and its interval, a confidence sequence "
        f"at {100 * releases.error_rate:g} % per release, valid however often it is read.</td></tr>"
    )
    return f'<tr><td style="{CELL}padding-top:10px;"><b>Releases</b></td></tr>{items}{note}'


def _goal(line: DigestGoal) -> str:
    goal = line.goal
    slug = goal.slug
    kind = goal.kind
    facts = [
        f"{kind} this week <b>{_figure('ces_ratio', _percent(goal.total.ces_ratio))}</b>",
        _change(line),
    ]
    volume = (
        f"{_figure('answers', str(goal.total.answers))} answers · response rate "
        f"{_figure('response_ratio', _percent(line.response_ratio))} · comment rate "
        f"{_figure('comment_ratio', _percent(line.comment_ratio))}"
    )
    comments = "".join(_comment(comment) for comment in line.lowest) or (
        f'<tr><td style="{CELL}{MUTED}">No comment in the negative band this week.</td></tr>'
    )
    return (
        f'<tbody data-goal="{escape(slug)}"><tr><td style="{CELL}padding-top:24px;border-top:2px solid #1d2430;">'
        f'<b style="font-size:17px;">{escape(goal.display_name)}</b> <span style="{MUTED}font-size:12px;">'
        f"{escape(slug)}</span></td></tr>"
        f'<tr><td style="{CELL}">{facts[0]} &nbsp; {facts[1]}</td></tr>'
        f'<tr><td style="{CELL}{MUTED}">{volume}</td></tr>'
        f"{_releases(line)}{_themes(line)}"
        f'<tr><td style="{CELL}padding-top:10px;"><b>Lowest scores</b></td></tr>{comments}</tbody>'
    )


def render_digest(digest: Digest, generated_at: datetime) -> str:
    """The digest as one HTML document with inline styles only."""
    last_day = (digest.period.end - timedelta(days=1)).date()
    span = f"{digest.period.start.date():%d %b} to {last_day:%d %b %Y}"
    goals = "".join(_goal(line) for line in digest.goals)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>CES digest · {escape(digest.team)} · {escape(digest.period.label)}</title></head>"
        '<body style="margin:0;padding:0;background:#ffffff;">'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        'style="margin:0 auto;padding:16px;border-collapse:collapse;">'
        f'<tr><td style="{CELL}font-size:20px;"><b>CES digest for team {escape(digest.team)}</b></td></tr>'
        f'<tr><td style="{CELL}{MUTED}" data-field="period">{escape(digest.period.label)}: {span}</td></tr>'
        f"{goals}"
        f'<tr><td style="{CELL}{MUTED}font-size:12px;padding-top:24px;">Generated by ces-stream at '
        f"{generated_at:%Y-%m-%d %H:%M} UTC. A change has an arrow only when the {100 * digest.confidence:g} % "
        "interval of the difference excludes zero. Comments are shown with their personal data masked.</td></tr>"
        "</table></body></html>\n"
    )
