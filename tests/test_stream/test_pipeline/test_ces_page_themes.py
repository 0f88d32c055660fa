"""The themes block of the CES page, without a broker: the real page in headless Chromium, clicked, against a
stub of the worker's API with fixed ``/api/themes`` answers.

The block is fetched only when asked (the goal's Themes button), lists the themes largest first with label,
count, shares, a rising marker on the rising one only and two comments each, switches between 7 and 28 days,
stays open through the page's refresh without fetching again, says why when the worker answers 503, and shows
comment text as text (a comment with markup stays inert).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from stream.pipeline.page import ces_page_html
from tests.chromium_page import chromium_page

pytestmark = pytest.mark.external("chromium")

GOAL, FAILING = "file-claim", "download-invoice"
REGISTRY = {
    "goals": [
        {"slug": FAILING, "display_name": "Download invoice", "target_ces_ratio": 0.8, "scale_kind": "five_point"},
        {"slug": GOAL, "display_name": "File claim", "target_ces_ratio": 0.7, "scale_kind": "five_point"},
    ]
}
GOALS = {FAILING: {"7d": {"answers": 0, "ces_ratio": None}}}  # the file-claim goal is served by another worker
INJECTION = '<img src=x onerror="document.body.dataset.injected=1">'


def theme(terms, count, share, rising, texts, negative_share=0.3, halves=(0.2, 0.4)):
    return {
        "label": terms,
        "label_text": " · ".join(terms),
        "count": count,
        "share": share,
        "negative": count - 5,
        "negative_share": negative_share,
        "rising": rising,
        "p_value": 0.0004 if rising else 0.4,
        "first_half_share": halves[0],
        "second_half_share": halves[1],
        "representatives": [
            {"text": text, "score": 2, "answered_at": "2025-03-20T10:00:00.000+00:00", "locale": "en"} for text in texts
        ],
    }


def answer(days, themes, comments=175):
    return {
        "goal": GOAL,
        "days": days,
        "period_start": "2025-03-01T12:00:00.000+00:00" if days == 28 else "2025-03-22T12:00:00.000+00:00",
        "period_end": "2025-03-29T12:00:00.000+00:00",
        "split_at": None,
        "records_read": comments,
        "comments_read": comments,
        "comments": comments,
        "negative": 140,
        "unthemed": comments - sum(t["count"] for t in themes),
        "invalid_records": 0,
        "truncated": False,
        "max_comments": 100000,
        "computed_at": "2025-03-29T12:00:01.000+00:00",
        "compute_seconds": 0.4,
        "themes": themes,
    }


THEMES = {
    "7": answer(7, [], comments=3),
    "28": answer(
        28,
        [
            theme(
                ["factuur", "downloaden", "pdf"], 60, 60 / 175, False, ["De factuur downloadt niet", "Invoice fails"]
            ),
            theme(["sms", "inlogcode", "laat"], 50, 50 / 175, True, ["De sms komt te laat", INJECTION]),
            theme(
                ["form", "data", "gegevens"], 40, 40 / 175, False, ["The form loses my data", "Formulier <b>wist</b>"]
            ),
        ],
    ),
}


@pytest.fixture
def stub():
    """The real page and a stub API; ``stub.requests`` lists the api/themes queries it answered."""

    class Stub:
        requests: ClassVar[list[tuple[str, str]]] = []
        url = ""

    def reply(path: str) -> tuple[int, str, str]:
        parts = urlsplit(path)
        if parts.path == "/":
            return 200, "text/html", ces_page_html()
        if parts.path == "/api/themes":
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            Stub.requests.append((query["goal"], query.get("days", "7")))
            if query["goal"] == FAILING:
                return 503, "application/json", json.dumps({"error": "cannot read the comments: broker down"})
            return 200, "application/json", json.dumps(THEMES[query.get("days", "7")])
        fixed = {"/api/registry": REGISTRY, "/api/goals": GOALS, "/health": {"ready": True}}
        if parts.path in fixed:
            return 200, "application/json", json.dumps(fixed[parts.path])
        return 404, "text/plain", ""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = reply(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type + "; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Stub.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield Stub
    server.shutdown()
    server.server_close()


LISTED = "document.querySelector('#themes-file-claim ol.themes') && document.querySelector('#themes-file-claim [aria-pressed=true]').dataset.days === '28'"


def test_the_themes_block_lists_the_themes_of_the_period_asked(stub, tmp_path):
    with chromium_page(tmp_path) as page:
        page.open(stub.url)
        page.wait_for("document.querySelector('tr[data-goal=\"file-claim\"]')", what="the goal rows")
        assert stub.requests == [] and page.evaluate("document.querySelector('.themes-row')") is None  # lazy

        page.click('tr[data-goal="file-claim"] button[data-action="themes"]')
        page.wait_for("document.querySelector('#themes-file-claim [data-field=no_themes]')", what="the 7 days")
        seven = page.fields("#themes-file-claim [data-field]")
        assert seven["no_themes"].startswith("No themes in 3 comments")
        assert "in the last 7 days (2025-03-22 to 2025-03-29)" in seven["themes_summary"]

        page.click('#themes-file-claim button[data-days="28"]')
        page.wait_for(LISTED, what="the 28 days' themes")
        fields = page.fields("#themes-file-claim [data-field]")
        assert stub.requests == [(GOAL, "7"), (GOAL, "28")]
        assert [fields[f"theme-{n}-label"] for n in (1, 2, 3)] == [
            "factuur · downloaden · pdf",
            "sms · inlogcode · laat",
            "form · data · gegevens",
        ]
        assert [fields[f"theme-{n}-count"] for n in (1, 2, 3)] == ["60", "50", "40"]
        assert [fields[f"theme-{n}-share"] for n in (1, 2, 3)] == ["34 %", "29 %", "23 %"]
        assert (
            fields["theme-1-negative_share"] == "30 %"
            and fields["theme-1-halves"] == "20 % → 40 % of each half's comments"
        )
        assert [name for name in fields if name.endswith("-rising")] == ["theme-2-rising"]
        assert fields["theme-2-rising"] == "rising"
        assert "theme-4-label" not in fields
        assert (fields["theme-1-comment-1"], fields["theme-1-comment-2"]) == (
            "De factuur downloadt niet",
            "Invoice fails",
        )
        assert fields["theme-1-comment-1-meta"] == "score 2 · 2025-03-20"
        # Comment text is text: the markup shows as written and does nothing.
        assert fields["theme-2-comment-2"] == INJECTION and fields["theme-3-comment-2"] == "Formulier <b>wist</b>"
        assert page.evaluate("document.querySelectorAll('#themes-file-claim img, #themes-file-claim b.x').length") == 0
        assert page.evaluate("document.body.dataset.injected || null") is None
        assert page.evaluate("document.querySelectorAll('#themes-file-claim blockquote b').length") == 0
        assert fields["themes_summary"].startswith("175 comments on the goal's own question in the last 28 days")

        # A refresh of the figures keeps the block open as it was, without asking for the themes again.
        page.evaluate("refresh()")
        page.wait_for(LISTED, what="the block after a refresh")
        assert page.fields("#themes-file-claim [data-field]") == fields
        assert stub.requests == [(GOAL, "7"), (GOAL, "28")]
        print(f"screenshot: {page.screenshot(tmp_path / 'ces-page-themes.png')}")

        # The button closes it again.
        page.click('tr[data-goal="file-claim"] button[data-action="themes"]')
        assert page.evaluate("document.getElementById('themes-file-claim')") is None


def test_a_worker_that_cannot_compute_the_themes_says_why(stub, tmp_path):
    with chromium_page(tmp_path) as page:
        page.open(stub.url)
        page.wait_for("document.querySelector('tr[data-goal=\"download-invoice\"] button[data-action=themes]')")
        page.click('tr[data-goal="download-invoice"] button[data-action="themes"]')
        page.wait_for("document.querySelector('#themes-download-invoice [data-field=themes_error]')", what="the error")
        fields = page.fields("#themes-download-invoice [data-field]")
        assert fields["themes_error"] == "No themes: cannot read the comments: broker down"
        page.click('#themes-download-invoice button[data-days="7"]')  # try again: asked once more
        page.wait_for("document.querySelector('#themes-download-invoice [data-field=themes_error]')", what="again")
        assert stub.requests == [(FAILING, "7"), (FAILING, "7")]
