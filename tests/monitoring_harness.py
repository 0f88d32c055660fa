"""A real Prometheus, a real Alertmanager and a webhook receiver, for end-to-end alerting tests.

Debian's packages: /usr/bin/prometheus and /usr/bin/prometheus-alertmanager, each started
on a free port with its own data folder (``stream.infra.local_services``), and stopped
(killed if need be) by the test.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stream.infra.local_services import LocalService, alertmanager_argv, free_port, prometheus_argv


class Prometheus(LocalService):
    """Started and ready once constructed, with ``config`` as its prometheus.yml."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prometheus.yml").write_text(json.dumps(config))
        port = free_port()
        argv = prometheus_argv(folder / "prometheus.yml", folder / "data", port)
        super().__init__("prometheus", argv, folder / "prometheus.log", port=port)
        self.__enter__()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant query's result vector (raises on a query error)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise AssertionError(f"{expr}: {body}")
        return body["data"]["result"]


class Alertmanager(LocalService):
    """Started and ready once constructed, with ``config_text`` as its alertmanager.yml."""

    def __init__(self, folder: Path, config_text: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "alertmanager.yml").write_text(config_text)
        port = free_port()
        argv = alertmanager_argv(folder / "alertmanager.yml", folder / "data", port)
        super().__init__("alertmanager", argv, folder / "alertmanager.log", port=port)
        self.__enter__()


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


@contextlib.contextmanager
def alerting_stack(
    directory: Path, settings: Any, registry: Any, worker_port: int, receiver: WebhookReceiver
) -> Iterator[tuple[dict[str, Any], Prometheus]]:
    """The generated rules for ``settings`` and ``registry`` in a real Prometheus that scrapes the worker every
    second and evaluates every second, and a real Alertmanager that sends to ``receiver``.

    :returns: the rule document and the Prometheus; both processes stop on exit.
    """
    import yaml

    from stream.ces.registry.owners import teams
    from stream.observability.alertmanager import alertmanager_yaml
    from stream.observability.rules import rule_file

    rules = directory / "ces-stream.rules.yml"
    rule_document = rule_file(settings, registry)
    rules.write_text(yaml.safe_dump(rule_document, sort_keys=False))
    started: list[LocalService] = []
    try:
        alertmanager = Alertmanager(
            directory / "alertmanager",
            alertmanager_yaml(
                f"{receiver.url}/ces-stream", group_wait="1s", group_interval="2s", teams=teams(registry)
            ),
        )
        started.append(alertmanager)
        prometheus = Prometheus(
            directory / "prometheus",
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
                "scrape_configs": [
                    {"job_name": "ces-stream", "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}
                ],
            },
        )
        started.append(prometheus)
        yield rule_document, prometheus
    finally:
        for process in reversed(started):
            process.stop()
