"""``ces-stream gateway`` as a subprocess for integration tests, and a small blocking client of its API.

The gateway gets free ports of its own and the test's ``CES_*`` variables; :meth:`GatewayProcess.start`
waits until ``/health`` is ready (the producer connected, the prompts of the replay window read).
:class:`SseStream` reads a prompt stream in a thread and keeps each event with the time it arrived.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.ces.gateway import mint_token
from stream.infra.local_services import free_port
from tests.harness import PROJECT_ROOT, wait_until

TOKEN_SECRET = "integration-test-token-secret-0123456789"
API_KEY = "integration-test-api-key-0123456789abcdef"


def token(user: str, ttl_s: int = 600) -> str:
    return mint_token(TOKEN_SECRET.encode(), user, int(time.time()) + ttl_s)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class GatewayProcess:
    """One gateway subprocess on free ports; its log is kept at ``log_path``."""

    __test__ = False

    def __init__(self, env: dict[str, str], *, log_path: Path, cwd: Path, loglevel: str = "debug") -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.env = {
            **os.environ,
            **env,
            "CES_GATEWAY_TOKEN_SECRET": TOKEN_SECRET,
            "CES_GATEWAY_API_KEY": API_KEY,
            "CES_GATEWAY_HOST": "127.0.0.1",
            "CES_GATEWAY_PORT": str(self.port),
            "CES_GATEWAY_METRICS_PORT": str(self.metrics_port),
            "CES_WEB_HOST": "127.0.0.1",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        self.log_path = log_path
        self.cwd = cwd
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready: bool = True, timeout_s: float = 60.0) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stream.tools.cli", "gateway", "--loglevel", self.loglevel],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wanted = 200 if ready else 503
        try:
            wait_until(
                lambda: self._alive() and self.health()[0] == wanted, timeout_s=timeout_s, what="gateway /health"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- gateway log ---\n{self.log()[-4000:]}") from None
        return self

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the gateway exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, got_headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, got_headers, raw = exc.code, dict(exc.headers), exc.read()
        return Answer(status, got_headers, json.loads(raw) if raw else None)

    def post(self, path: str, body: bytes, user: str | None = None, bearer: str | None = None) -> Answer:
        credential = bearer if bearer is not None else (token(user) if user is not None else None)
        headers = {"Content-Type": "application/json"}
        if credential is not None:
            headers["Authorization"] = f"Bearer {credential}"
        return self.request("POST", path, body, headers)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/health", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, {}

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def stop(self, timeout_s: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM and wait: (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (None if self.proc is None else self.proc.returncode), 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.monotonic() - started


@dataclass
class Event:
    id: str | None
    event: str
    data: Any
    received_s: float


def stream_ticket(port: int, user_token: str) -> tuple[int, str | None]:
    """``POST /v1/prompts/ticket`` with the token in the header, as the element does: (status, ticket)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/prompts/ticket", method="POST", headers={"Authorization": f"Bearer {user_token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())["ticket"]
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, None


class SseStream:
    """A prompt stream read in a thread: ``events`` fill as they arrive (each with its arrival time).

    Opened as a browser does: a stream ticket for the user's token first (from the same gateway, unless
    ``ticket`` is given), then ``GET /v1/prompts/stream?ticket=...``. When the ticket is refused, ``status``
    is the ticket endpoint's and no stream is opened.
    """

    def __init__(
        self, port: int, user_token: str | None, last_event_id: str | None = None, *, ticket: str | None = None
    ) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._socket: socket.socket | None = None
        if ticket is None:
            assert user_token is not None
            self.status, ticket = stream_ticket(port, user_token)
            if ticket is None:
                return
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", f"/v1/prompts/stream?ticket={ticket}", headers=headers)
        self._socket = self.connection.sock
        self.response = self.connection.getresponse()
        self.status = self.response.status
        if self.status == 200:
            self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\n")
                if text.startswith(":"):
                    continue
                if not text:
                    if "data" in fields:
                        data = json.loads(fields["data"])
                        self.events.put(Event(fields.get("id"), fields.get("event", "message"), data, time.time()))
                    fields = {}
                    continue
                name, _, value = text.partition(": ")
                fields[name] = value
        except (OSError, ValueError, AttributeError):  # closed under the reader (http.client's own state)
            pass
        self.events.put(None)

    def next(self, timeout_s: float = 30.0) -> Event:
        event = self.events.get(timeout=timeout_s)
        if event is None:
            raise EOFError("the stream ended")
        return event

    def close(self) -> None:
        """Hang up at once (a reader blocked in recv holds the response's lock until the socket shuts)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        if self._thread.ident is not None:
            self._thread.join(5)
