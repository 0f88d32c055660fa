"""A real Prometheus, a real Alertmanager and a webhook receiver, for end-to-end alerting tests.

Debian's packages: /usr/bin/prometheus and /usr/bin/prometheus-alertmanager, each started
on a free port with its own data folder, and stopped (killed if need be) by the test.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.harness import free_port, wait_until


class Process:
    """A started server process with its log; ``url`` answers once ``ready_path`` does."""

    def __init__(self, argv: list[str], port: int, log_path: Path, ready_path: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 (the process's log: open as long as the process runs)
        self.log_path = log_path
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(
            lambda: self._answers(ready_path),
            timeout_s=60,
            what=f"{argv[0]} ready",
            describe=lambda: log_path.read_text(errors="replace")[-2000:],
        )

    def _answers(self, path: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exited: {self.log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Prometheus(Process):
    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prometheus.yml").write_text(json.dumps(config))
        port = free_port()
        super().__init__(
            [
                "prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            port,
            folder / "prometheus.log",
            "/-/ready",
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant query's result vector (raises on a query error)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise AssertionError(f"{expr}: {body}")
        return body["data"]["result"]


class Alertmanager(Process):
    def __init__(self, folder: Path, config_text: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "alertmanager.yml").write_text(config_text)
        port = free_port()
        super().__init__(
            [
                "prometheus-alertmanager",
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            port,
            folder / "alertmanager.log",
            "/-/ready",
        )


class WebhookReceiver:
    """Collects every notification Alertmanager posts (its JSON body, with the path it was sent to)."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                received.append({"path": self.path, **body})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """Every alert of every notification so far whose labels include ``labels``, with its status."""
        return [
            alert
            for n in list(self.notifications)
            for alert in n["alerts"]
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
