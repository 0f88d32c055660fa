"""``ces-stream explain``: asks each worker until the owner answers, prints the decision and every rule, or
the answer as JSON; never prints the user id (the broker part is in tests/integration/test_explain.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from stream.ces.users import explain
from stream.ces.users.state import UserState
from stream.errors import CesError
from stream.settings import load_settings
from stream.tools.cli import COMMANDS, build_parser
from stream.tools.explain import explain_from_workers, local_worker_url, render, run
from tests.test_stream.test_pipeline.test_explain_api import REGISTRY

TOKEN = "explain-token-0123456789"
USER = "customer-4711"


def _answer() -> dict[str, Any]:
    explanation = explain(REGISTRY, UserState(last_prompt_at_s=1_000.0), "pay-bill", user_ref="ab" * 16, now_s=1_100.0)
    return {"user_ref": "ab" * 16, "partition": 3, "owner": True, **explanation.to_json_obj()}


class _Worker:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                worker.requests.append((url.path, parse_qs(url.query), self.headers.get("Authorization")))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workers() -> Iterator[list[_Worker]]:
    made = [_Worker(421, {"error": "owned by another worker", "partition": 3}), _Worker(200, _answer())]
    yield made
    for worker in made:
        worker.close()


def test_the_owner_is_found_and_asked_with_the_token(workers) -> None:
    settings = load_settings(explain_token=TOKEN)
    url, body = explain_from_workers(settings, [w.url for w in workers], {"user": USER, "goal": "pay-bill"})
    assert url == workers[1].url and body["suppressed"] == "user_cooldown"
    for worker in workers:
        ((path, query, authorization),) = worker.requests
        assert (path, query["user"], query["goal"], authorization) == (
            "/api/explain",
            [USER],
            ["pay-bill"],
            f"Bearer {TOKEN}",
        )


def test_the_printout_names_the_decision_and_each_rule_never_the_user(workers, capsys) -> None:
    settings = load_settings(explain_token=TOKEN)
    args = build_parser().parse_args(
        ["explain", "--user", USER, "--goal", "pay-bill", "--worker", workers[0].url, "--worker", workers[1].url]
    )
    assert run(settings, args) == 0
    out = capsys.readouterr().out
    assert "decision: NO PROMPT: suppressed, reason user_cooldown" in out
    assert " 6. user_cooldown" in out and "STOPS" in out and "10. not_sampled" in out
    assert USER not in out and TOKEN not in out
    args.json = True
    run(settings, args)
    assert json.loads(capsys.readouterr().out)["suppressed"] == "user_cooldown"
    assert render(workers[1].url, _answer()).startswith("goal pay-bill, a completed event on web")


def test_no_owner_among_the_workers_is_an_error_naming_each(workers) -> None:
    settings = load_settings(explain_token=TOKEN)
    with pytest.raises(CesError, match="no worker given answered") as refused:
        explain_from_workers(settings, [workers[0].url, "http://127.0.0.1:9"], {"user": USER, "goal": "pay-bill"})
    assert "421" in str(refused.value) and "unreachable" in str(refused.value) and USER not in str(refused.value)


def test_a_refused_token_or_none_is_an_error() -> None:
    refusing = _Worker(401, {"error": "a bearer token is required"})
    try:
        with pytest.raises(CesError, match="refused the token"):
            explain_from_workers(load_settings(explain_token=TOKEN), [refusing.url], {"user": USER, "goal": "g"})
    finally:
        refusing.close()
    with pytest.raises(CesError, match="CES_EXPLAIN_TOKEN is not set"):
        explain_from_workers(load_settings(), ["http://127.0.0.1:9"], {"user": USER, "goal": "g"})


def test_explain_is_a_command_asking_the_local_worker_by_default() -> None:
    assert "explain" in [command.name for command in COMMANDS]
    assert local_worker_url(load_settings(web_port=7001)) == "http://127.0.0.1:7001"
    assert local_worker_url(load_settings(web_host="10.0.0.5", web_port=7001)) == "http://10.0.0.5:7001"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain", "--user", USER])
