"""The body the feed webhook POSTs: a Slack incoming-webhook message, or the record itself."""

from __future__ import annotations

import json

import pytest

from schemas.examples import example_payload
from schemas.high_effort_answer import HighEffortAnswer
from schemas.survey_answer import MAX_COMMENT_CHARS
from stream.ces.feed import request_body, request_headers, slack_message
from stream.ces.feed.message import FALLBACK_COMMENT_CHARS, FIELD_CHARS, HEADER_CHARS, NAME_CHARS, SECTION_CHARS

EXAMPLE = example_payload(HighEffortAnswer)


def answer(**fields) -> HighEffortAnswer:
    return HighEffortAnswer.model_validate({**EXAMPLE, **fields})


def fields_of(message: dict) -> dict[str, str]:
    (section,) = [block for block in message["blocks"] if block["type"] == "section" and "fields" in block]
    out = {}
    for field in section["fields"]:
        label, _, value = field["text"].partition("\n")
        out[label.strip("*")] = value
    return out


def quote_of(message: dict) -> str:
    (section,) = [block for block in message["blocks"] if block["type"] == "section" and "text" in block]
    return section["text"]["text"]


def test_the_slack_message_shows_goal_survey_score_channel_version_contact_comment_and_user_ref():
    message = slack_message(answer(app_version="4.12.0", channel="ios", may_contact=True), "Download invoice")
    assert fields_of(message) == {
        "Goal": "Download invoice (`download-invoice`)",
        "Survey": "CES",
        "Score": "2",
        "Outcome": "completed",
        "Channel": "ios",
        "App version": "4.12.0",
        "May contact": "yes",
    }
    assert quote_of(message) == "> Ik moest de factuur in drie menu's zoeken. Bel me op [phone]."
    (context,) = [block for block in message["blocks"] if block["type"] == "context"]
    context_text = context["elements"][0]["text"]
    assert "`3f2a9c41d07b6e58a1c4f09e2b7d3a61`" in context_text
    assert "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" in context_text
    assert "2025-01-31 08:31 UTC" in context_text
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "High-effort CES answer: Download invoice"},
    }
    assert message["text"] == (
        "High-effort CES answer on Download invoice: score 2: “Ik moest de factuur in drie menu's zoeken. Bel me op [phone].”"
    )


@pytest.mark.parametrize(
    ("may_contact", "shown"), [(True, "yes"), (False, "no"), (None, "not asked (the app did not say)")]
)
def test_may_contact_says_yes_no_or_not_asked(may_contact, shown):
    assert fields_of(slack_message(answer(may_contact=may_contact)))["May contact"] == shown


def test_without_a_display_name_or_app_version_the_slug_and_unknown_show():
    message = slack_message(answer(app_version=None, survey="nps", score=3, outcome="abandoned_inferred"))
    fields = fields_of(message)
    assert fields["Goal"] == "download-invoice (`download-invoice`)"
    assert (fields["Survey"], fields["App version"], fields["Outcome"]) == ("NPS", "unknown", "abandoned inferred")


def test_a_comment_cannot_mention_the_channel_or_make_a_link():
    message = slack_message(answer(comment="<!channel> see <https://evil.example|your bank> & pay"))
    assert quote_of(message) == "> &lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; pay"
    body = json.dumps(message)
    assert "<!channel>" not in body and "<https://" not in body


def test_every_line_of_a_comment_is_quoted():
    assert quote_of(slack_message(answer(comment="first\nsecond\n\nfourth"))) == "> first\n> second\n> \n> fourth"


def test_the_longest_comment_and_names_stay_within_slacks_limits():
    longest = "&<>" * (MAX_COMMENT_CHARS // 3)
    message = slack_message(answer(comment=longest, app_version="v" * 5000), "N&" * 200)
    assert len(quote_of(message)) <= SECTION_CHARS and quote_of(message).endswith("…")
    assert "&am…" not in quote_of(message) and "&l…" not in quote_of(message)  # never cut inside an escape
    assert len(message["blocks"][0]["text"]["text"]) <= HEADER_CHARS
    (section,) = [block for block in message["blocks"] if "fields" in block]
    assert all(len(field["text"]) <= FIELD_CHARS for field in section["fields"])
    assert len(section["fields"]) <= 10
    # The notification line holds the start of the comment only (6 characters each at worst, escaped).
    assert message["text"].endswith("…”") and len(message["text"]) < 6 * (NAME_CHARS + FALLBACK_COMMENT_CHARS)


def test_the_json_format_is_the_record_itself():
    record = answer(app_version="4.12.0")
    body = request_body(record, "json")
    assert HighEffortAnswer.model_validate_json(body) == record
    assert json.loads(body) == json.loads(record.model_dump_json())


def test_the_slack_format_body_is_the_slack_message_as_utf8_json():
    record = answer(comment="Moeilijk: ‘€’")
    assert json.loads(request_body(record, "slack", "Factuur")) == slack_message(record, "Factuur")
    assert "‘€’".encode() in request_body(record, "slack")


def test_every_post_carries_the_answer_id_as_idempotency_key():
    assert request_headers(answer()) == {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    }
