"""The HTML of ``ces-stream report``: one self-contained file for a product team.

Pure: a :class:`~stream.tools.report.figures.Report` in, text out. Inline CSS and inline
SVG charts, no script and no link to anything, so the file reads the same in a mail
attachment, offline or printed. Every text that comes from data (names, labels, the
users' comments) is HTML-escaped. Figures carry ``data-goal`` / ``data-field`` attributes
so tests and scripts can read them back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from stream.ces.goals.effort import duration_text
from stream.tools.report.figures import GoalReport, Period, Report
from stream.tools.report.nps_html import nps_section
from stream.tools.report.period_figures import Counts
from stream.tools.report.releases_html import RELEASES_CSS, releases_block
from stream.tools.report.themes_html import THEMES_CSS, themes_block

CSS = """
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430; margin: 32px auto;
       max-width: 980px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 0; } h2 { font-size: 18px; margin: 0 0 4px; } h3 { font-size: 14px; }
.muted, .slug { color: #667085; } .slug { font-size: 12px; font-weight: normal; margin-left: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7ec; vertical-align: top; }
th { font-size: 12px; color: #667085; text-transform: uppercase; letter-spacing: .03em; }
td.number { font-variant-numeric: tabular-nums; white-space: nowrap; }
section.goal { border-top: 2px solid #1d2430; margin-top: 36px; padding-top: 12px; page-break-inside: avoid; }
.headline { font-size: 16px; } .headline b { font-size: 22px; } .corrected b { font-size: 16px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
          background: #f2f4f7; color: #667085; }
.status.below { background: #fef3f2; color: #b42318; } .status.ok { background: #ecfdf3; color: #067647; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; } figure { margin: 8px 0; width: min-content; }
figcaption { font-size: 12px; color: #667085; }
svg text { font: 11px system-ui, sans-serif; fill: #667085; }
svg .line { fill: none; stroke: #2e5aac; stroke-width: 2; } svg .dot { fill: #2e5aac; }
svg .grid { stroke: #e4e7ec; } svg .target { stroke: #b42318; stroke-dasharray: 4 3; }
svg .positive { fill: #3f9b6e; } svg .neutral { fill: #98a2b3; } svg .negative { fill: #d05a4e; }
table.facts { width: auto; } table.facts th { text-transform: none; font-size: 13px; letter-spacing: 0; }
ol.comments { padding-left: 20px; } ol.comments li { margin-bottom: 10px; }
blockquote { margin: 2px 0 0; padding-left: 10px; border-left: 3px solid #d05a4e; white-space: pre-wrap; }
.kind { font-size: 11px; font-weight: 600; padding: 0 6px; border-radius: 8px; background: #eef4ff; color: #2e5aac; }
div.nps { margin-top: 12px; }
footer { margin-top: 40px; font-size: 12px; color: #667085; }
"""


def pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{round(ratio * 100)} %"


def points(ratio: float | None) -> str:
    """A difference of two shares in percentage points, signed."""
    return "–" if ratio is None else f"{round(ratio * 100):+d} pts"


def interval_text(bounds: tuple[float, float] | None) -> str:
    return "–" if bounds is None else f"{round(bounds[0] * 100)}–{round(bounds[1] * 100)} %"


def status_of(total: Counts, target: float | None, confidence: float) -> tuple[str, str]:
    """(css class, text): below target only when even the interval's upper bound is under it."""
    bounds = total.interval(confidence)
    if bounds is None:
        return "none", "no data"
    if target is None:
        return "none", "no target set"
    return ("below", "below target") if bounds[1] < target else ("ok", "ok")


def _field(name: str, text: str, tag: str = "span", css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return f'<{tag} data-field="{escape(name)}"{css_attr}>{escape(text)}</{tag}>'


def _last_day(period: Period) -> str:
    return (period.end - timedelta(days=1)).date().isoformat()


def _kind_badge(goal: GoalReport) -> str:
    """A CSAT goal's badge: its share is the share of satisfied answers."""
    return f" {_field('survey', 'CSAT', css='kind')}" if goal.kind == "CSAT" else ""


def summary_table(report: Report) -> str:
    """The table at the top: one row per goal."""
    rows = []
    for goal in report.goals:
        css, status = status_of(goal.total, goal.target, report.confidence)
        d = goal.direction
        trend_title = f"first half {pct(d.first)}, second half {pct(d.second)}"
        rows.append(
            f'<tr data-goal="{escape(goal.slug)}"><td><a href="#goal-{escape(goal.slug)}">'
            f"{_field('name', goal.display_name)}</a>{_kind_badge(goal)}</td>"
            f'<td class="number">{_field("ces", pct(goal.total.ces_ratio))}</td>'
            f'<td class="number">{_field("target", pct(goal.target))}</td>'
            f'<td class="number">{_field("answers", str(goal.total.answers))}</td>'
            f'<td class="number" title="{escape(trend_title)}">{_field("trend", d.arrow)}</td>'
            f"<td>{_field('status', status, css='status ' + css)}</td></tr>"
        )
    return (
        '<table class="summary"><thead><tr><th>Goal</th><th>CES / CSAT</th><th>Target</th><th>Answers</th>'
        "<th>Trend</th><th>Status</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        '<p class="muted">Trend: CES in the second half of the period against the first half; ↑ or ↓ only when '
        "the change is larger than chance explains, → otherwise, – without answers in both halves.</p>"
    )


def trend_svg(goal: GoalReport, period: Period, width: int = 560, height: int = 200) -> str:
    """CES per summary over the period, one point per window period, broken where a window had no answers."""
    left, right, top, bottom = 44, 12, 10, 26
    span_s = (period.end - period.start).total_seconds()

    def x(at: datetime) -> float:
        return left + (at - period.start).total_seconds() / span_s * (width - left - right)

    def y(ratio: float) -> float:
        return top + (1 - ratio) * (height - top - bottom)

    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="CES per window over the period">'
    ]
    for ratio in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(ratio):.1f}" y2="{y(ratio):.1f}"></line>'
            f'<text x="{left - 6}" y="{y(ratio) + 4:.1f}" text-anchor="end">{pct(ratio)}</text>'
        )
    if goal.target is not None:
        parts.append(
            f'<line class="target" x1="{left}" x2="{width - right}" y1="{y(goal.target):.1f}" '
            f'y2="{y(goal.target):.1f}"><title>target {pct(goal.target)}</title></line>'
        )
    segments: list[list[str]] = [[]]
    for summary in goal.summaries:
        if summary.ces_ratio is None:
            segments.append([])
            continue
        middle = summary.window_start + (summary.window_end - summary.window_start) / 2
        point = f"{x(middle):.1f},{y(summary.ces_ratio):.1f}"
        segments[-1].append(point)
        parts.append(
            f'<circle class="dot" cx="{x(middle):.1f}" cy="{y(summary.ces_ratio):.1f}" r="3"><title>'
            f"{summary.window_start:%Y-%m-%d %H:%M}: CES {pct(summary.ces_ratio)} of {summary.answers} answers"
            "</title></circle>"
        )
    parts.extend(f'<polyline class="line" points="{" ".join(s)}"></polyline>' for s in segments if len(s) > 1)
    parts.append(
        f'<text x="{left}" y="{height - 8}">{period.start.date().isoformat()}</text>'
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end">{_last_day(period)}</text></svg>'
    )
    return "".join(parts)


def distribution_svg(goal: GoalReport, width: int = 300, height: int = 200) -> str:
    """Answers per scale point over the period, coloured by what the point counts as."""
    scale_points = goal.scale.points
    most = max([goal.total.distribution.get(p, 0) for p in scale_points] + [1])
    slot = (width - 20) / len(scale_points)
    bar_bottom = height - 40
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="answers per score">'
    ]
    for index, point in enumerate(scale_points):
        count = goal.total.distribution.get(point, 0)
        bar = (bar_bottom - 18) * count / most
        left = 10 + index * slot + slot * 0.15
        middle = 10 + index * slot + slot / 2
        label = goal.labels.get(point, "")
        parts.append(
            f'<rect class="{goal.scale.classify(point)}" x="{left:.1f}" y="{bar_bottom - bar:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{bar:.1f}"><title>{escape(f"{point} {label}".strip())}: '
            f"{count}</title></rect>"
            f'<text x="{middle:.1f}" y="{bar_bottom - bar - 4:.1f}" text-anchor="middle" '
            f'data-field="score-{point}">{count}</text>'
            f'<text x="{middle:.1f}" y="{bar_bottom + 14}" text-anchor="middle">{point}</text>'
        )
    ends = [goal.labels.get(scale_points[0], ""), goal.labels.get(scale_points[-1], "")]
    parts.append(
        f'<text x="10" y="{height - 6}">{escape(ends[0])}</text>'
        f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">{escape(ends[1])}</text></svg>'
    )
    return "".join(parts)


def facts_table(goal: GoalReport, confidence: float) -> str:
    """CES at completion vs at exits, the prompt funnel with the response ratio, the completion ratio, and measured
    effort."""
    done, exits = goal.completed, goal.exits
    overstatement = (
        None if done.ces_ratio is None or goal.total.ces_ratio is None else done.ces_ratio - goal.total.ces_ratio
    )
    outcomes = ", ".join(f"{count} {escape(name.replace('_', ' '))}" for name, count in goal.outcomes.items()) or "–"
    rows = [
        (
            "CES at completion",
            _field("completion_ces", pct(done.ces_ratio))
            + " of "
            + _field("completion_answers", str(done.answers))
            + f" answers ({interval_text(done.interval(confidence))})",
        ),
        (
            "CES at exits (abandoned, also inferred)",
            _field("exits_ces", pct(exits.ces_ratio))
            + " of "
            + _field("exits_answers", str(exits.answers))
            + f" answers ({interval_text(exits.interval(confidence))})",
        ),
        ("Asking only at completion would overstate CES by", _field("overstatement", points(overstatement))),
        *funnel_rows(goal),
        (
            "Completion ratio (completed / all outcomes)",
            _field("completion_ratio", pct(goal.completion_ratio)) + f" ({outcomes})",
        ),
        *effort_rows(goal),
    ]
    return (
        '<table class="facts">'
        + "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
        + "</table>"
    )


def funnel_rows(goal: GoalReport) -> list[tuple[str, str]]:
    """The prompts from sent to answered, and the response ratio over the prompts shown where the apps report them."""
    funnel = goal.funnel
    sent, answered = _field("funnel_sent", str(funnel.sent)), _field("funnel_answered", str(funnel.answered))
    over_sent = (
        _field("response_ratio", pct(goal.response_ratio))
        + f" of the prompts sent ({funnel.answered} / {_field('prompts', str(funnel.sent))})"
    )
    if not funnel.reports_shown:
        why = "not counted before version 4 summaries" if not funnel.counted else "no app reported a prompt shown"
        return [
            (
                "Prompt funnel (sent → answered)",
                f"{sent} sent → {answered} answered; shown and dismissed: {_field('funnel_missing', why)}",
            ),
            ("Response ratio", over_sent),
        ]
    return [
        (
            "Prompt funnel (sent → shown → answered)",
            f"{sent} sent → {_field('funnel_shown', str(funnel.shown))} shown "
            f"({_field('shown_ratio', pct(funnel.shown_ratio))}) → {answered} answered; "
            f"{_field('funnel_dismissed', str(funnel.dismissed))} dismissed "
            f"({_field('dismissal_ratio', pct(funnel.dismissal_ratio))} of those shown). "
            '<span class="muted">A prompt sent is not a prompt seen: the apps report which prompts they showed and '
            "which the user closed unanswered, so a low response ratio over shown says users pass the survey by, a "
            "low shown share that an app does not show it.</span>",
        ),
        (
            "Response ratio",
            _field("response_ratio_shown", pct(funnel.response_ratio_shown))
            + f" of the prompts shown ({funnel.answered} / {funnel.shown}); {over_sent}",
        ),
    ]


def effort_rows(goal: GoalReport) -> list[tuple[str, str]]:
    """Measured effort beside the answers: time to complete, retries, and where the two part."""
    effort = goal.effort
    if not effort.timed_completions:
        return [("Time to complete", _field("duration_median", "not measured (no start of a completion was seen)"))]
    timed = effort.timed_completions
    return [
        (
            "Time to complete (first start to completion)",
            _field("duration_median", duration_text(effort.quantile(0.5)))
            + " median, "
            + _field("duration_p90", duration_text(effort.quantile(0.9)))
            + f" at the 90th percentile (of {_field('timed_completions', str(timed))} timed completions, within 2 %)",
        ),
        (
            "Retried (started more than once)",
            _field("retry_ratio", pct(effort.retry_ratio)) + f" ({effort.retried} of {timed})",
        ),
        (
            "CES by time to complete (answers after a timed completion)",
            " · ".join(
                f"{escape(name)}: {_field(f'band_ces-{name}', pct(counts.ces_ratio))} ({counts.answers})"
                for name, counts in effort.by_band.items()
            )
            or "–",
        ),
        (
            "Measured vs reported effort (second half against the first)",
            _field(
                "effort_divergence",
                effort.divergence or "no divergence shown (both agree, or too few to tell)",
            ),
        ),
    ]


def non_response_line(goal: GoalReport) -> str:
    """The CES corrected for non-response, beside the blended one, and the bounds that assume nothing."""
    figures = goal.non_response
    if figures.ces_ratio is None:
        corrected = f"{_field('corrected_ces', '–')} ({_field('corrected_missing', figures.missing or '–')})"
    else:
        corrected = (
            f"<b>{_field('corrected_ces', pct(figures.ces_ratio))}</b> "
            f"(interval {_field('corrected_interval', interval_text(figures.interval))})"
        )
    if figures.silent is None:
        bounds = "no prompts to bound it"
    else:
        if_dissatisfied, if_satisfied = figures.silent
        silent = "saw the prompt and stayed silent" if figures.over_shown else "stayed silent"
        bounds = (
            f"between {_field('if_silent_dissatisfied', pct(if_dissatisfied))} (if nobody who {silent} found "
            f"it easy) and {_field('if_silent_satisfied', pct(if_satisfied))} (if all did)"
        )
    return (
        f'<p class="corrected">Corrected for non-response {corrected}: each outcome and channel weighed by its '
        f"attempts instead of its answers, as users who gave up answer less often; {bounds}.</p>"
    )


def comments_list(goal: GoalReport) -> str:
    """The most recent low-score comments: the users' own words on what to fix."""
    if not goal.low_comments:
        return '<p class="muted" data-field="no_comments">No low-score comments in the period.</p>'
    items = []
    for index, comment in enumerate(goal.low_comments, start=1):
        label = goal.labels.get(comment.score, "")
        items.append(
            f'<li><span class="muted">{comment.answered_at:%Y-%m-%d %H:%M} UTC · score {comment.score}'
            f"{escape(' (' + label + ')') if label else ''} · {escape(str(comment.outcome).replace('_', ' '))} · "
            f"{escape(str(comment.channel))}</span>{_field(f'comment-{index}', comment.comment, 'blockquote')}</li>"
        )
    shown = f"the {len(goal.low_comments)} most recent of {goal.low_comment_count}"
    return f'<p class="muted">{shown}</p><ol class="comments">' + "".join(items) + "</ol>"


def _legend(goal: GoalReport) -> str:
    return "green: satisfied, red: dissatisfied" if goal.kind == "CSAT" else "green: low effort, red: high effort"


def goal_section(goal: GoalReport, report: Report) -> str:
    css, status = status_of(goal.total, goal.target, report.confidence)
    total = goal.total
    coverage = f"{len(goal.summaries)} of {goal.expected_summaries}"
    return (
        f'<section class="goal" id="goal-{escape(goal.slug)}" data-goal="{escape(goal.slug)}">'
        f'<h2>{escape(goal.display_name)}{_kind_badge(goal)}<span class="slug">{escape(goal.slug)}</span></h2>'
        f'<p class="headline">{_field("kind", goal.kind)} <b>{_field("ces", pct(total.ces_ratio))}</b> '
        f"(interval {_field('interval', interval_text(total.interval(report.confidence)))}, "
        f"{_field('answers', str(total.answers))} answers) · target {_field('target', pct(goal.target))} · "
        f"{_field('status', status, css='status ' + css)}</p>"
        f"{non_response_line(goal)}"
        f'<p class="muted">From {_field("coverage", coverage)} {escape(report.window)} summaries '
        "(windows without a summary were not recorded: the worker was down, or the topic no longer holds them).</p>"
        '<div class="charts">'
        f"<figure>{trend_svg(goal, report.period)}<figcaption>{goal.kind} per {escape(report.window)} window "
        "(dashed: target)</figcaption></figure>"
        f"<figure>{distribution_svg(goal)}<figcaption>Answers per score over the period "
        f"({_legend(goal)})</figcaption></figure></div>"
        f"{facts_table(goal, report.confidence)}{releases_block(goal, report.window)}{nps_section(goal)}"
        f"{themes_block(goal)}"
        f"<h3>Recent low-score comments</h3>{comments_list(goal)}</section>"
    )


def render_report(report: Report) -> str:
    """The whole report as one HTML document."""
    period = report.period
    skipped = "; ".join(f"{count} {escape(reason)}" for reason, count in report.skipped.items() if count)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>CES report {escape(period.label)}</title><style>{CSS}{THEMES_CSS}{RELEASES_CSS}</style></head><body>"
        f"<h1>Customer Effort Score: {escape(period.label)}</h1>"
        f'<p class="muted">{period.start.date().isoformat()} to {_last_day(period)} (UTC), from the '
        f"{escape(report.window)} window summaries · generated {report.generated_at:%Y-%m-%d %H:%M} UTC</p>"
        f"{summary_table(report)}"
        + "".join(goal_section(goal, report) for goal in report.goals)
        + "<footer><p>CES is the share of answers on a goal's low-effort points. Every figure over the period is "
        f"computed from the counts of the {escape(report.window)} summaries whose window lies wholly in the period, "
        "summed (ratios are never averaged). The interval is the Wilson interval at "
        f"{round(report.confidence * 100)} %: the range the true CES lies in given this many answers; "
        "below target means even its upper bound is under the target. Low-score comments are those with a score "
        "on the negative side of the goal's scale. A goal marked CSAT asks satisfaction instead of effort: its "
        "figures are the CSAT share (satisfied answers / answers), read the same way. NPS (% promoters 9–10 minus "
        "% detractors 0–6, from −100 to +100) is recomputed from the summed promoters, passives and detractors, "
        "with its adjusted-Wald interval; high effort vs rest compares users with a high-effort CES answer shortly "
        "before their NPS answer with the others, once each group has enough answers.</p>"
        + (f'<p data-field="skipped">Left out: {skipped}.</p>' if skipped else "")
        + "</footer></body></html>\n"
    )
