"""``ces-stream simulate --via-gateway``: a stable share of the users POSTs through the gateway, with user tokens.

Against a stdlib HTTP server standing in for the gateway: the records reach the endpoint of their
topic, with a valid token of their user, over few keep-alive connections; a refusal or a server
that is gone is counted, not retried; bad input stays on Kafka.
"""

from __future__ import annotations

import argparse
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stream.ces.gateway.token import TokenClaims, verify_token
from stream.tools.simulator.command import _through_gateway, add_arguments, summary_text
from stream.tools.simulator.records import SimRecord
from stream.tools.simulator.via_gateway import GatewaySender, takes_gateway

SECRET = b"simulator-test-token-secret-0123456789"


class _Gateway(http.server.ThreadingHTTPServer):
    def __init__(self, status: int) -> None:
        self.status = status
        self.posts: list[tuple[str, str | None, bytes, int]] = []  # path, user, body, client port
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        claims = verify_token(token, [SECRET], time.time(), 86400)
        user = claims.user_id if isinstance(claims, TokenClaims) else None
        self.server.posts.append((self.path, user, body, self.client_address[1]))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    server = _Gateway(202)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_share_is_stable_per_user_and_close_to_asked():
    users = [f"user-{n}".encode() for n in range(20_000)]
    chosen = [user for user in users if takes_gateway(user, 0.1)]
    assert 0.09 < len(chosen) / len(users) < 0.11
    assert chosen == [user for user in users if takes_gateway(user, 0.1)]
    assert not any(takes_gateway(user, 0.0) for user in users)
    assert all(takes_gateway(user, 1.0) for user in users)


def test_records_reach_their_endpoints_with_their_users_token_over_keep_alive(gateway):
    sender = GatewaySender(f"http://127.0.0.1:{gateway.server_address[1]}", SECRET, threads=2)
    for n in range(30):
        sender.send("goal_events", f"u{n}", b'{"n": %d}' % n)
    sender.send("answers", "u1", b'{"answer": 1}')
    sender.send("prompt_events", "u2", b'{"shown": 1}')
    sender.close()
    assert sender.summary() == {
        "posted": 32,
        "accepted": 32,
        "refused": 0,
        "no_answer": 0,
        "statuses": {"202": 32},
    }
    paths = {path for path, *_ in gateway.posts}
    assert paths == {"/v1/goal-events", "/v1/answers", "/v1/prompt-events"}
    by_body = {body: user for _, user, body, _ in gateway.posts}
    assert by_body[b'{"n": 7}'] == "u7" and by_body[b'{"answer": 1}'] == "u1"
    assert len({port for *_, port in gateway.posts}) <= 2  # one connection per thread, kept alive


def test_refusals_and_a_gateway_that_is_gone_are_counted_not_retried(gateway):
    gateway.status = 503
    sender = GatewaySender(f"http://127.0.0.1:{gateway.server_address[1]}", SECRET, threads=1)
    sender.send("goal_events", "u1", b"{}")
    sender.close()
    gone = GatewaySender("http://127.0.0.1:9", SECRET, threads=1)  # discard port: nothing listens
    gone.send("goal_events", "u1", b"{}")
    gone.close()
    assert (sender.summary()["refused"], sender.summary()["statuses"]) == (1, {"503": 1})
    assert (gone.summary()["no_answer"], gone.summary()["accepted"]) == (1, 0)
    assert len(gateway.posts) == 1


def test_bad_input_stays_on_kafka_and_the_option_defaults_to_none():
    good = SimRecord(0.0, "goal_events", b"u1", b"{}", "completed", "g")
    bad = SimRecord(0.0, "goal_events", b"u1", b"nope", "not_json", None)
    assert _through_gateway(good, 1.0) and not _through_gateway(bad, 1.0)
    assert not _through_gateway(good, 0.0)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).via_gateway == 0.0
    assert parser.parse_args(["--via-gateway", "0.1"]).via_gateway == 0.1
    with pytest.raises(SystemExit):
        parser.parse_args(["--via-gateway", "2"])


def test_the_summary_names_the_gateways_share_only_when_used():
    base = {
        "scenario": "steady",
        "seed": 1,
        "rate": 20,
        "seconds": 1.0,
        "sent": {
            "goal_events_total": 0,
            "goal_events": {},
            "prompt_events": {},
            "answers": 0,
            "comments": 0,
            "bad_records_total": 0,
            "bad_records": {},
        },
        "received": {"prompts_total": 0, "prompts": {}, "prompts_not_shown": 0, "prompts_for_other_users": 0},
        "answers_pending_at_stop": 0,
        "prompt_events_pending_at_stop": 0,
    }
    assert "gateway" not in summary_text(base)
    via = {"share": 0.1, "posted": 5, "accepted": 4, "refused": 1, "no_answer": 0, "statuses": {}}
    assert "gateway   5 records of 10% of the users POSTed: 4 accepted, 1 refused" in summary_text(
        {**base, "via_gateway": via}
    )
