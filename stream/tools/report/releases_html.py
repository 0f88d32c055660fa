"""The releases of a goal in ``ces-stream report``: a table per channel and the verdict of its newest release.

Pure: a :class:`~stream.tools.report.figures.GoalReport` in, HTML out, with ``data-field`` attributes like the
rest of the report: per channel ``release-<channel>-<n>-version``, ``-first_seen``, ``-answers``, ``-ces`` and
``-mean`` for its n-th most recent release (1: the newest), and where the channel has two releases
``release-<channel>-direction`` (worse, better or pending) and ``release-<channel>-verdict`` (the verdict line
of :func:`~stream.ces.releases.parts.verdict_text`); ``releases_coverage``. Versions are app-provided text and
are HTML-escaped (and never part of an attribute). Nothing for a goal without releases. The figures:
:mod:`stream.tools.report.releases`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from stream.ces.releases import ReleaseComparison, ReleaseCounts
from stream.ces.releases.parts import verdict_text
from stream.tools.report.figures import GoalReport
from stream.tools.report.releases import PeriodReleases

RELEASES_CSS = """
table.releases { width: auto; margin-bottom: 4px; } table.releases caption { text-align: left; font-weight: 600; }
.status.worse { background: #fef3f2; color: #b42318; } .status.better { background: #ecfdf3; color: #067647; }
p.verdict { margin-top: 2px; }
"""


def _field(name: str, text: str, tag: str = "span", css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return f'<{tag} data-field="{escape(name)}"{css_attr}>{escape(text)}</{tag}>'


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{round(ratio * 100)} %"


def _mean(mean: float | None) -> str:
    return "–" if mean is None else f"{mean:.2f}"


def _when(at_s: int) -> str:
    return f"{datetime.fromtimestamp(at_s, tz=UTC):%Y-%m-%d %H:%M}"


def _row(prefix: str, release: ReleaseCounts) -> str:
    return (
        f"<tr><td>{_field(f'{prefix}-version', release.version)}</td>"
        f"<td>{_field(f'{prefix}-first_seen', _when(release.first_seen_s))}</td>"
        f'<td class="number">{_field(f"{prefix}-answers", str(release.answers))}</td>'
        f'<td class="number">{_field(f"{prefix}-ces", _pct(release.ces_ratio))}</td>'
        f'<td class="number">{_field(f"{prefix}-mean", _mean(release.mean_score))}</td></tr>'
    )


def _verdict(channel: str, verdict: ReleaseComparison | None) -> str:
    if verdict is None:
        return f'<p class="verdict muted">No verdict: {escape(channel)} has one release in the period.</p>'
    return (
        f'<p class="verdict">{_field(f"release-{channel}-direction", verdict.direction, css="status " + verdict.direction)}'
        f" {_field(f'release-{channel}-verdict', verdict_text(verdict, ''))}</p>"
    )


def _channel(channel: str, releases: list[ReleaseCounts], figures: PeriodReleases, kind: str) -> str:
    rows = "".join(_row(f"release-{channel}-{n}", release) for n, release in enumerate(releases, start=1))
    return (
        f'<table class="releases"><caption>{escape(channel)}</caption><thead><tr><th>Version</th>'
        f"<th>First seen (UTC)</th><th>Answers</th><th>{kind}</th><th>Mean score</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{_verdict(channel, figures.verdicts.get(channel))}"
    )


def _explanation(figures: PeriodReleases, kind: str, window: str, summaries: int) -> str:
    coverage = f"{figures.counted} of {summaries}"
    return (
        f'<p class="muted">Per channel (web and each app ship their own versions) the {figures.per_channel} most '
        "recent releases of the period, first seen last first: the answers to prompts after goal events of that "
        f"version, summed over {_field('releases_coverage', coverage)} {escape(window)} summaries that count "
        "releases (summaries older than version 6 count none). The verdict compares a channel's newest release "
        f"with the one first seen before it: the difference of their {kind} shares (new minus previous) and its "
        f"interval, a confidence sequence at {figures.error_rate * 100:g} % per release: it stays valid however "
        "often it is read, so a verdict reached at any point is wrong with at most that chance (it is wider than "
        "a Wilson interval for it). <i>Worse</i> or <i>better</i> once the interval excludes zero and both "
        f"releases have at least {figures.min_answers} answers in the period, <i>pending</i> until then.</p>"
    )


def releases_block(goal: GoalReport, window: str) -> str:
    """The goal's releases over the period, one table per channel with its verdict; nothing without releases."""
    figures = goal.releases
    if figures is None:
        return ""
    tables = "".join(
        _channel(channel, releases, figures, goal.kind) for channel, releases in figures.by_channel.items()
    )
    return (
        f'<div class="releases" id="releases-{escape(goal.slug)}"><h3>Releases</h3>'
        f"{_explanation(figures, goal.kind, window, len(goal.summaries))}{tables}</div>"
    )
