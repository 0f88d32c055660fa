"""The comment themes of a goal in ``ces-stream report``: what the period's comments are about, and what is rising.

Pure: a :class:`~stream.tools.report.figures.GoalReport` in, HTML out, with ``data-field`` attributes like the
rest of the report (``theme-1-label``, ``theme-1-count``, ``theme-1-negative_share``, ``theme-1-halves``,
``theme-1-rising`` for a rising theme only, ``theme-1-comment-1`` and ``-2``; ``no_themes`` without any). The
users' comments and the labels (their words) are HTML-escaped. The method: :mod:`stream.ces.comments.themes`.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from stream.tools.report.figures import GoalReport

if TYPE_CHECKING:  # imported where used, as in figures: the themes modules load numpy and scikit-learn
    from stream.ces.comments.rising import Rise
    from stream.ces.comments.themes import CommentThemes, Theme

THEMES_CSS = """
ol.themes { padding-left: 20px; } ol.themes > li { margin-bottom: 14px; }
.theme-label { font-weight: 600; } .status.rising { background: #fffaeb; color: #b54708; }
"""


def _field(name: str, text: str, tag: str = "span", css: str = "") -> str:
    css_attr = f' class="{css}"' if css else ""
    return f'<{tag} data-field="{escape(name)}"{css_attr}>{escape(text)}</{tag}>'


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{round(ratio * 100)} %"


def p_text(p_value: float) -> str:
    """A p-value as the report prints it: three decimals, or "p < 0.001"."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def halves_text(rise: Rise) -> str:
    """The theme's share of each half's comments, and what the test said."""
    if rise.p_value is None:
        return "not tested: a half of the period without comments"
    shares = f"{_pct(rise.first_share)} → {_pct(rise.second_share)} of each half's comments"
    return f"{shares} ({p_text(rise.p_value)})"


def _theme_item(number: int, theme: Theme) -> str:
    prefix = f"theme-{number}"
    rising = ""
    if theme.rise.rising and theme.rise.p_value is not None:
        rising = " " + _field(f"{prefix}-rising", f"rising, {p_text(theme.rise.p_value)}", css="status rising")
    quotes = "".join(
        _field(f"{prefix}-comment-{index}", comment.text, "blockquote")
        for index, comment in enumerate(theme.representatives, start=1)
    )
    return (
        f"<li>{_field(f'{prefix}-label', theme.label, css='theme-label')}{rising}<br>"
        f"{_field(f'{prefix}-count', str(theme.count))} comments · "
        f"{_field(f'{prefix}-negative_share', _pct(theme.negative_share))} of the negative ones "
        f"({theme.negative}) · "
        f'<span class="muted">{_field(f"{prefix}-halves", halves_text(theme.rise))}</span>{quotes}</li>'
    )


def _explanation(themes: CommentThemes) -> str:
    from stream.ces.comments.rising import MIN_RISING_COMMENTS, RISING_ALPHA

    split = "" if themes.split_at is None else f" (halves meet at {themes.split_at:%Y-%m-%d %H:%M} UTC)"
    return (
        f'<p class="muted">{themes.comments} comments on the goal\'s own question ({themes.negative} with a '
        f"negative score), grouped by the words they share, in Dutch and English; {themes.unthemed} are in no "
        "theme. Each theme: its words as users wrote them, how many comments, its share of the negative "
        "comments, and two comments closest to its centre. <i>Rising</i>: its share of the comments in the "
        f"period's second half against the first half{split}, by a one-sided Fisher exact test at "
        f"{RISING_ALPHA * 100:g} % per goal (divided over its themes), with at least {MIN_RISING_COMMENTS} comments in "
        "the second half.</p>"
    )


def themes_block(goal: GoalReport) -> str:
    """The goal's comment themes over the period, or why there are none."""
    themes = goal.themes
    if themes is None:
        return ""
    if not themes.themes:
        from stream.ces.comments.themes import MIN_THEME_COMMENTS, MIN_THEME_SHARE

        why = (
            f"No themes in {themes.comments} comments: a theme needs at least {MIN_THEME_COMMENTS} comments, and "
            f"{MIN_THEME_SHARE * 100:g} % of them, that share their words."
        )
        return f'<h3>Themes in the comments</h3><p class="muted">{_field("no_themes", why)}</p>'
    items = "".join(_theme_item(number, theme) for number, theme in enumerate(themes.themes, start=1))
    return f'<h3>Themes in the comments</h3>{_explanation(themes)}<ol class="themes">{items}</ol>'
