"""One POST with the standard library against a local HTTP server: every outcome becomes a Response."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stream.infra.local_services import free_port
from stream.tools.feed_webhook.http_post import MAX_BODY_BYTES, WebhookPoster


class Receiver:
    """A local webhook answering each POST as told: status, headers, body, or a hang."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"ok")
        self.hang = threading.Event()  # set: hold the answer until released
        self.release = threading.Event()
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                if receiver.hang.is_set():
                    receiver.release.wait(10)
                status, headers, answer = receiver.answer
                try:
                    self.send_response(status)
                    for name, value in {**headers, "Content-Length": str(len(answer))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests): nothing to answer

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/T000/secret"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_a_post_sends_the_body_and_headers_and_returns_the_status(receiver):
    receiver.answer = (200, {}, b"ok")
    response = WebhookPoster(receiver.url, 5).post(b'{"text": "x"}', {"Idempotency-Key": "abc"})
    assert (response.status, response.body) == (200, b"ok")
    ((path, headers, body),) = receiver.requests
    assert (path, body, headers["Idempotency-Key"]) == ("/hook/T000/secret", b'{"text": "x"}', "abc")


def test_an_error_status_comes_back_with_retry_after_and_the_start_of_the_body(receiver):
    receiver.answer = (429, {"Retry-After": "30"}, b"x" * (MAX_BODY_BYTES * 3))
    response = WebhookPoster(receiver.url, 5).post(b"{}", {})
    assert (response.status, response.retry_after, len(response.body)) == (429, "30", MAX_BODY_BYTES)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(receiver, status):
    receiver.answer = (status, {"Location": "/elsewhere"}, b"")
    response = WebhookPoster(receiver.url, 5).post(b"{}", {})
    assert response.status == status
    assert [path for path, _, _ in receiver.requests] == ["/hook/T000/secret"]


def test_a_closed_port_is_a_connection_refused_without_the_url():
    url = f"http://127.0.0.1:{free_port()}/hook/secret-path"
    response = WebhookPoster(url, 5).post(b"{}", {})
    assert (response.status, response.error) == (None, "connection refused")
    assert "secret-path" not in repr(WebhookPoster(url, 5))


def test_a_hanging_webhook_times_out_within_the_timeout(receiver):
    receiver.hang.set()
    started = time.monotonic()
    response = WebhookPoster(receiver.url, 0.3).post(b"{}", {})
    assert (response.status, response.error) == (None, "timed out")
    assert time.monotonic() - started < 3


def test_a_connection_closed_without_an_answer_is_a_passing_failure():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def close_at_once() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    threading.Thread(target=close_at_once, daemon=True).start()
    try:
        response = WebhookPoster(f"http://127.0.0.1:{listener.getsockname()[1]}/", 5).post(b"{}", {})
    finally:
        listener.close()
    assert response.status is None and response.error == "connection reset"


def test_a_name_that_does_not_resolve_is_a_passing_failure():
    response = WebhookPoster("http://no-such-host.invalid/hook", 5).post(b"{}", {})
    assert response.status is None and response.error.startswith("name resolution failed")
