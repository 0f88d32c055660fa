"""The ``<ces-prompt>`` element in headless Chromium against the gateway's API in-process (a fake producer, prompts
handed to the hub as the prompt reader would): every scale kind rendered with its labels, arrow keys on the radio
group, Escape posting ``dismissed``, the answer and its per-band follow-up comment posted as the contract has them,
prompt texts shown as text (no markup runs), and the script and demo page served as documented.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from schemas import SurveyPrompt
from schemas.examples import example_payload
from stream.ces.gateway import EventId, PromptRecord
from stream.tools.gateway.app import runner_options
from tests.chromium_page import ChromiumPage, chromium_page
from tests.harness import wait_until
from tests.test_stream.test_tools.test_gateway.gateway_fakes import Gateway, build_gateway

pytestmark = pytest.mark.external("chromium")

USER = "alice"
INJECTION = '<img src=x onerror="document.body.dataset.injected=1">'
SHADOW = "document.querySelector('ces-prompt').shadowRoot"
KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "Escape": 27, "Enter": 13}


class Served:
    """The gateway's API on a port of its own, on an event loop in a thread (the browser blocks the test's)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(gateway.app, **runner_options())
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert started.wait(10)
        self.offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, **fields: Any) -> dict[str, Any]:
        """A prompt for the user, as the reader hands it over; its fields over an example prompt's."""
        now = datetime.now(UTC)
        values = {
            **example_payload(SurveyPrompt),
            "prompt_id": str(uuid.uuid4()),
            "user_id": USER,
            "locale": "en",
            "follow_ups": [],
            "created_at": now.isoformat(),
            "expires_at": (now + timedelta(minutes=30)).isoformat(),
            **fields,
        }
        prompt = SurveyPrompt.model_validate_json(json.dumps(values))
        self.offset += 1
        record = PromptRecord(
            EventId(0, self.offset),
            USER,
            str(prompt.prompt_id),
            prompt.created_at.timestamp(),
            prompt.expires_at.timestamp(),
            prompt.model_dump_json().encode(),
        )
        self.loop.call_soon_threadsafe(self.gateway.publish, record)
        return json.loads(record.data)

    def posted(self, topic_setting: str) -> list[dict[str, Any]]:
        topic = getattr(self.gateway.settings, topic_setting)
        return [json.loads(record.value) for record, _ in list(self.gateway.producer.sent) if record.topic == topic]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served(build_gateway(gateway_demo=True))
    yield server
    server.close()


def press(page: ChromiumPage, key: str) -> None:
    """A real key press in the page (keyDown with its text for Enter, so a form submits; keyUp)."""
    down: dict[str, Any] = {"type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": KEYS[key]}
    if key == "Enter":
        down["text"] = "\r"
    page._command("Input.dispatchKeyEvent", down)
    up = {name: value for name, value in down.items() if name != "text"}
    page._command("Input.dispatchKeyEvent", {**up, "type": "keyUp"})


def card(page: ChromiumPage) -> dict[str, Any]:
    """What the element shows: the dialog's label, the radios' names and values, the ends' labels, where focus is."""
    return page.evaluate(
        f"""(() => {{ const root = {SHADOW}; const dialog = root.querySelector('[role=dialog]');
        if (!dialog) return null;
        const heading = root.getElementById(dialog.getAttribute('aria-labelledby'));
        return {{
          question: heading.textContent,
          group: root.querySelector('[role=radiogroup]')?.getAttribute('aria-labelledby') === dialog.getAttribute('aria-labelledby'),
          names: [...root.querySelectorAll('input[type=radio]')].map((r) => r.getAttribute('aria-label')),
          faces: [...root.querySelectorAll('label.face span')].map((s) => s.textContent),
          ends: [...root.querySelectorAll('.ends span')].map((s) => s.textContent),
          checked: root.querySelector('input:checked')?.value ?? null,
          focused: root.activeElement ? (root.activeElement.value ?? root.activeElement.tagName) : null,
        }}; }})()"""
    )


def showing(question: str) -> str:
    return f"{SHADOW}.querySelector('[role=dialog] h2')?.textContent === {json.dumps(question)}"


def test_the_script_is_served_with_caching_headers_and_the_demo_only_in_demo_mode(served):
    with urllib.request.urlopen(f"{served.url}/v1/ces-prompt.js") as response:
        body, headers = response.read(), response.headers
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "max-age=" in headers["Cache-Control"] and headers["ETag"]
    assert b'customElements.define("ces-prompt"' in body and len(body) < 16_000
    again = urllib.request.Request(f"{served.url}/v1/ces-prompt.js", headers={"If-None-Match": headers["ETag"]})
    gzipped = urllib.request.Request(f"{served.url}/v1/ces-prompt.js", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(gzipped) as response:
        assert response.headers["Content-Encoding"] == "gzip" and gzip.decompress(response.read()) == body
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(again)
    assert not_modified.value.code == 304
    with urllib.request.urlopen(f"{served.url}/demo?user=demo-1") as response:
        page = response.read().decode()
    assert "Complete goal download-invoice" in page and '<ces-prompt token="' in page
    with urllib.request.urlopen(f"{served.url}/demo?user=%3Cscript%3E") as response:  # redirected to a random user
        assert "/demo?user=demo-" in response.url and "<script>alert" not in response.read().decode()


def test_without_demo_mode_there_is_no_demo_page() -> None:
    server = Served(build_gateway())
    try:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.url}/demo?user=demo-1")
        assert missing.value.code == 404
    finally:
        server.close()


SCALES = [
    ({"kind": "five_point", "min_score": 1, "max_score": 5, "inverted": False, "labels": [{"value": 1, "label": "Very difficult"}, {"value": 5, "label": "Very easy"}]},
     ["1 – Very difficult", "2", "3", "4", "5 – Very easy"], [], ["Very difficult", "Very easy"]),
    ({"kind": "seven_point", "min_score": 1, "max_score": 7, "inverted": False, "labels": []},
     [str(v) for v in range(1, 8)], [], []),
    ({"kind": "five_point_inverted", "min_score": 1, "max_score": 5, "inverted": True, "labels": [{"value": 1, "label": "Very little effort"}, {"value": 5, "label": "A lot of effort"}]},
     ["1 – Very little effort", "2", "3", "4", "5 – A lot of effort"], [], ["Very little effort", "A lot of effort"]),
    ({"kind": "ten_point", "min_score": 1, "max_score": 10, "inverted": False, "labels": []},
     [str(v) for v in range(1, 11)], [], []),
    ({"kind": "emoticon", "min_score": 1, "max_score": 3, "inverted": False, "labels": [{"value": 2, "label": "Gaat wel"}]},
     ["Ontevreden", "Gaat wel", "Tevreden"], ["\U0001f61e", "\U0001f610", "\U0001f60a"], []),
]  # fmt: skip


def test_every_scale_kind_is_rendered_and_escape_dismisses_each(served, tmp_path):
    with chromium_page(tmp_path) as page:
        page.open(f"{served.url}/demo?user={USER}")
        prompts = [
            served.publish(question=f"Question {n} ({spec['kind']})", scale=spec, locale="nl" if n == 4 else "en")
            for n, (spec, _, _, _) in enumerate(SCALES)
        ]
        for n, (spec, names, faces, ends) in enumerate(SCALES):
            question = f"Question {n} ({spec['kind']})"
            page.wait_for(showing(question), what=f"the {spec['kind']} prompt")
            shown = card(page)
            assert (shown["names"], shown["faces"], shown["ends"]) == (names, faces, ends), spec["kind"]
            assert shown["group"] and shown["checked"] is None and shown["focused"] == str(spec["min_score"])
            press(page, "Escape")
        page.wait_for(
            f"{SHADOW}.querySelector('[role=dialog]') === null && document.querySelector('ces-prompt').hidden"
        )
        ids = [p["prompt_id"] for p in prompts]
        wait_until(lambda: len(served.posted("topic_prompt_events")) == 10, timeout_s=10, what="the events posted")
        events = [(e["type"], e["prompt_id"]) for e in served.posted("topic_prompt_events")]
        assert sorted(events) == sorted([("shown", i) for i in ids] + [("dismissed", i) for i in ids])
        assert all(e["user_id"] == USER and e["channel"] == "web" for e in served.posted("topic_prompt_events"))
        assert served.posted("topic_survey_answers") == []


def test_arrow_keys_choose_enter_answers_and_the_bands_follow_up_is_posted_as_a_comment(served, tmp_path):
    with chromium_page(tmp_path) as page:
        page.open(f"{served.url}/demo?user={USER}")
        page.evaluate(
            "window.seen = []; for (const n of ['shown','answered','dismissed','commented'])"
            " document.addEventListener('ces-prompt-' + n, (e) => seen.push([n, e.detail.score ?? null]))"
        )
        prompt = served.publish(
            question="How easy was it?",
            follow_ups=[
                {"band": "negative", "scores": [1, 2], "question": "What made it hard?"},
                {"band": "positive", "scores": [4, 5], "question": "What went well?"},
            ],
        )
        page.wait_for(showing("How easy was it?"), what="the prompt")
        for _ in range(2):  # from the focused first point: 2, 3 (a radio group checks what it moves to)
            press(page, "ArrowRight")
        press(page, "ArrowLeft")
        assert card(page)["checked"] == "2"
        press(page, "Enter")
        page.wait_for(showing("What made it hard?"), what="the negative band's follow-up")
        page.evaluate(f"{SHADOW}.querySelector('textarea').value = 'The button was hidden'")
        page.evaluate(f"{SHADOW}.querySelector('form button:not(.plain)').click()")
        page.wait_for(f"{SHADOW}.querySelector('[role=status]')", what="the thank-you")
        answers = served.posted("topic_survey_answers")
        assert [(a.get("score"), a.get("comment"), a["schema_version"]) for a in answers] == [
            (2, None, 2),
            (None, "The button was hidden", 2),
        ]
        assert {a["prompt_id"] for a in answers} == {prompt["prompt_id"]} and answers[0]["survey"] == "ces"
        assert answers[0]["answer_id"] != answers[1]["answer_id"]
        assert page.evaluate("window.seen") == [["shown", None], ["answered", 2], ["commented", None]]
        press(page, "Escape")  # closes the thank-you: after an answer nothing is dismissed
        page.wait_for("document.querySelector('ces-prompt').hidden", what="the element hidden")
        assert [e["type"] for e in served.posted("topic_prompt_events")] == ["shown"]


def test_prompt_texts_are_text_and_an_expired_prompt_is_not_shown(served, tmp_path):
    with chromium_page(tmp_path) as page:
        page.open(f"{served.url}/demo?user={USER}")
        spec = {"kind": "five_point", "min_score": 1, "max_score": 5, "inverted": False,
                "labels": [{"value": 1, "label": INJECTION}, {"value": 5, "label": "<b>easy</b>"}]}  # fmt: skip
        served.publish(question=INJECTION, follow_up_question=INJECTION, scale=spec)
        page.wait_for(showing(INJECTION), what="the hostile prompt")
        assert card(page)["ends"] == [INJECTION, "<b>easy</b>"]
        page.evaluate(f"{SHADOW}.querySelector('input[value=\"5\"]').click()")
        press(page, "Enter")
        page.wait_for(f"{SHADOW}.querySelector('textarea')", what="the follow-up")
        assert page.evaluate(f"{SHADOW}.querySelector('label[for]').textContent") == INJECTION
        assert (
            page.evaluate(f"{SHADOW}.querySelectorAll('img, b').length + document.querySelectorAll('img').length") == 0
        )
        assert page.evaluate("document.body.dataset.injected || null") is None
        press(page, "Escape")

        # A prompt that expires while on screen goes away unanswered and undismissed.
        soon = datetime.now(UTC) + timedelta(seconds=1.5)
        served.publish(question="Soon gone", expires_at=soon.isoformat())
        page.wait_for(showing("Soon gone"), what="the short-lived prompt")
        page.wait_for("document.querySelector('ces-prompt').hidden", timeout_s=5, what="the expired prompt gone")
        wait_until(lambda: len(served.posted("topic_prompt_events")) == 2, timeout_s=10, what="the shown events")
        assert [e["type"] for e in served.posted("topic_prompt_events")] == ["shown", "shown"]


STREAM_OPEN = "document.querySelector('ces-prompt').source?.readyState === EventSource.OPEN"


def test_the_element_opens_its_stream_with_a_ticket_and_no_url_names_the_user_or_the_token(served, tmp_path):
    with chromium_page(tmp_path) as page:
        page.watch_requests()
        page.open(f"{served.url}/demo?user={USER}")
        page.wait_for(STREAM_OPEN, what="the stream")
        tokens = [page.evaluate("document.querySelector('ces-prompt').getAttribute('token')")]
        served.publish(question="Which URL?")
        page.wait_for(showing("Which URL?"), what="the prompt")
        press(page, "Escape")
        wait_until(lambda: len(served.posted("topic_prompt_events")) == 2, timeout_s=10, what="shown and dismissed")

        # The ticket ends with its token: the stream says so, the element asks for a new token, then gets a new ticket.
        page.evaluate("window.expired = 0; document.addEventListener('ces-prompt-token-expired', () => expired++)")
        tokens.append(served.gateway.token(USER, ttl_s=2))
        page.evaluate(f"document.querySelector('ces-prompt').setAttribute('token', {json.dumps(tokens[-1])})")
        page.wait_for("window.expired === 1", timeout_s=8, what="ces-prompt-token-expired at the ticket's expiry")
        assert page.evaluate("document.querySelector('ces-prompt').source") is None
        tokens.append(served.gateway.token(USER))
        page.evaluate(f"document.querySelector('ces-prompt').setAttribute('token', {json.dumps(tokens[-1])})")
        page.wait_for(STREAM_OPEN, what="the stream of the fresh token")
        served.publish(question="Still here?")
        page.wait_for(showing("Still here?"), what="the prompt on the new stream")
        sent = list(page.requests)
    api = [(method, url) for method, url in sent if "/v1/" in url]  # the page itself is /demo?user=... (demo only)
    streams = [url for _, url in api if "/v1/prompts/stream?" in url]
    assert len(streams) == 3 and all("ticket=" in url for url in streams)
    assert [method for method, url in api if url.endswith("/v1/prompts/ticket")] == ["POST"] * 3
    assert any(url.endswith("/v1/prompt-events") for _, url in api)
    for _, url in api:
        assert USER not in url and "token=" not in url, url
        assert not any(token.split(".")[0] in url or token in url for token in tokens), url
