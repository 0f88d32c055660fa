"""The body the feed webhook POSTs for one high-effort answer: a Slack message, or the record as JSON.

The Slack form fits an incoming webhook: ``text`` (the notification and fallback line) and
``blocks`` (goal, survey, score, outcome, channel, app version, whether the user may be contacted,
the comment as a quote, and the pseudonymous ``user_ref``; the record has no raw user id). Text
from outside (the comment, the app version, the goal's display name) has Slack's control
characters escaped, so a comment cannot mention ``@channel`` or make a link, and is cut to
Slack's block limits.
"""

from __future__ import annotations

import json
import re
from typing import Any

from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.feed.settings import FeedFormat

SURVEY_NAMES = {"ces": "CES", "csat": "CSAT", "nps": "NPS"}
# Slack's limits (Block Kit reference): header text 150, section text 3000, field text 2000 characters.
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
FALLBACK_COMMENT_CHARS = 150
APP_VERSION_CHARS = 100
NAME_CHARS = 100


def slack_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>``: Slack reads the rest of mrkdwn as text, mentions and links only inside <...>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending in an ellipsis when cut, never inside an escape."""
    if len(text) <= limit:
        return text
    head = re.sub(r"&[a-z]*$", "", text[: limit - 1])
    return head + "…"


def quote(comment: str, limit: int = SECTION_CHARS) -> str:
    """The comment as a Slack block quote, every line of it, escaped and cut to ``limit``."""
    lines = slack_escape(comment).splitlines() or [""]
    return cut("\n".join(f"> {line}" for line in lines), limit)


def may_contact_text(may_contact: bool | None) -> str:
    if may_contact is None:
        return "not asked (the app did not say)"
    return "yes" if may_contact else "no"


def slack_message(answer: HighEffortAnswer, display_name: str | None = None) -> dict[str, Any]:
    """The Slack incoming-webhook message of one high-effort answer.

    :param display_name: the goal's name for people (from the registry); the slug when None.
    """
    survey = SURVEY_NAMES.get(answer.survey, answer.survey.upper())
    plain_name = cut(display_name or answer.goal, NAME_CHARS)
    name = slack_escape(plain_name)
    comment_line = cut(slack_escape(" ".join(answer.comment.split())), FALLBACK_COMMENT_CHARS)
    app_version = slack_escape(cut(answer.app_version, APP_VERSION_CHARS)) if answer.app_version else "unknown"
    fields = [
        ("Goal", f"{name} (`{answer.goal}`)"),
        ("Survey", survey),
        ("Score", str(answer.score)),
        ("Outcome", answer.outcome.replace("_", " ")),
        ("Channel", answer.channel),
        ("App version", app_version),
        ("May contact", may_contact_text(answer.may_contact)),
    ]
    answered = answer.answered_at.strftime("%Y-%m-%d %H:%M UTC")
    return {
        "text": f"High-effort {survey} answer on {name}: score {answer.score}: “{comment_line}”",
        "blocks": [
            {
                "type": "header",
                # plain_text: Slack shows it as it is (no mentions, no escapes).
                "text": {"type": "plain_text", "text": cut(f"High-effort {survey} answer: {plain_name}", HEADER_CHARS)},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": cut(f"*{label}*\n{value}", FIELD_CHARS)} for label, value in fields
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": quote(answer.comment)}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"user_ref `{answer.user_ref}` · answered {answered} · answer `{answer.answer_id}`",
                    }
                ],
            },
        ],
    }


def request_body(answer: HighEffortAnswer, feed_format: FeedFormat, display_name: str | None = None) -> bytes:
    """The POST body: the Slack message, or the record itself (``json``)."""
    if feed_format == "json":
        return answer.model_dump_json().encode()
    return json.dumps(slack_message(answer, display_name), ensure_ascii=False).encode()


def request_headers(answer: HighEffortAnswer) -> dict[str, str]:
    """The POST's headers; ``Idempotency-Key`` lets a receiver drop a record it got before (at-least-once)."""
    return {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": str(answer.answer_id)}
