"""Feedback comments of March 2025 for tests of the comment themes in ``ces-stream report`` (with and without a
broker), and what the report must show of them.

The constructed month of ``theme_month`` on one goal (three planted themes, the sms one rising), a fourth
subject whose words need escaping, NPS comments (not about the goal: in no theme) and copies of part of the
month after March (not in the period). The report's themes are checked against
:func:`~stream.ces.comments.themes.find_themes` on the goal's own March comments, split at the middle of March.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from schemas import FeedbackComment
from stream.ces.comments.themes import CommentThemes, ThemeComment, find_themes
from stream.tools.report.themes_html import halves_text
from tests.browser import fields_by_goal
from tests.test_stream.test_ces.test_comments.theme_month import NEGATIVE_SCORE, feedback_comments, planted_month

GOAL = "file-claim"
MARCH = datetime(2025, 3, 1, tzinfo=UTC)
MIDDLE = MARCH + timedelta(days=15, hours=12)  # March has 31 days
NOW = datetime(2025, 4, 2, tzinfo=UTC)
# A fourth subject whose words need escaping; the month's own subjects are in theme_month.
MARKUP = [
    "The <Submit> button does nothing & I'm stuck",
    "Clicking <Submit> does nothing & nobody helps",
    "<Submit> button does nothing at all & again",
    "The <Submit> button does nothing & that is it",
    "Tapped <Submit>, button does nothing & froze",
    "Why does the <Submit> button do nothing & why",
    "<Submit> button does nothing & I gave up",
    "De <Submit> button does nothing & ik stop",
]


def nps_comment(text: str, at: datetime) -> FeedbackComment:
    """A detractor's comment on the NPS question: not a comment on the goal, so in no theme."""
    return FeedbackComment(
        answer_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        goal=GOAL,
        outcome="completed",
        score=2,
        user_ref="0" * 32,
        comment=text,
        answered_at=at,
        channel="web",
        survey="nps",
    )


def march_comments() -> list[FeedbackComment]:
    """The month on ``GOAL``, the <Submit> subject, NPS comments and, after March, copies of some of the month."""
    own = feedback_comments(planted_month(MARCH, days=31), GOAL)
    markup = [
        c.model_copy(update={"comment": text, "answer_id": uuid.uuid4()}) for c, text in zip(own, MARKUP, strict=False)
    ]
    nps = [
        nps_comment("Would never recommend: the invoice download is broken", MARCH + timedelta(days=d))
        for d in range(20)
    ]
    after = [c.model_copy(update={"answered_at": c.answered_at + timedelta(days=40)}) for c in own[:30]]
    return own + markup + nps + after


def expected_themes(comments: list[FeedbackComment]) -> CommentThemes:
    """The themes of the goal's own comments in March, as the report should find them."""
    in_march = [c for c in comments if MARCH <= c.answered_at < datetime(2025, 4, 1, tzinfo=UTC)]
    return find_themes(
        [
            ThemeComment(c.comment, c.locale, c.score <= NEGATIVE_SCORE, c.answered_at)
            for c in in_march
            if c.survey != "nps"
        ],
        split_at=MIDDLE,
    )


def theme_fields(html: str) -> dict[str, str]:
    """The fields of ``GOAL``'s section of a report of that one goal."""
    found = fields_by_goal(html)
    sections = dict(found[1:])  # the summary table's row first
    return sections[GOAL]


def assert_themes_shown(fields: dict[str, str], expected: CommentThemes) -> None:
    """The report's themes are the expected ones, in order, with every figure and both comments."""
    assert len(expected.themes) == 4  # the three planted subjects and the <Submit> one
    for number, theme in enumerate(expected.themes, start=1):
        prefix = f"theme-{number}"
        assert fields[f"{prefix}-label"] == theme.label
        assert fields[f"{prefix}-count"] == str(theme.count)
        assert theme.negative_share is not None
        assert fields[f"{prefix}-negative_share"] == f"{round(theme.negative_share * 100)} %"
        assert fields[f"{prefix}-halves"] == halves_text(theme.rise)
        assert fields[f"{prefix}-comment-1"] == theme.representatives[0].text
        assert fields[f"{prefix}-comment-2"] == theme.representatives[1].text
        assert (f"{prefix}-rising" in fields) is theme.rise.rising
    assert f"theme-{len(expected.themes) + 1}-label" not in fields
    rising = [theme for theme in expected.themes if theme.rise.rising]
    assert len(rising) == 1 and {"sms", "laat", "inlogcode", "code", "login"} & set(rising[0].terms)
    number = expected.themes.index(rising[0]) + 1
    assert fields[f"theme-{number}-rising"].startswith("rising, p ")
