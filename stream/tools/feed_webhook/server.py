"""``/metrics`` and ``/health`` of the feed webhook, on ``CES_FEED_WEBHOOK_METRICS_PORT``, in a thread of their own.

``/health`` is 200 while the Kafka loop polls (at least every :data:`HEALTHY_POLL_AGE_S`); a loop
that hangs makes it 503, for a liveness probe. A webhook outage does not: the loop polls on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stream.observability.metrics import CONTENT_TYPE_LATEST, FeedWebhookMetrics

HEALTHY_POLL_AGE_S = 60.0


class FeedServer:
    """Serves the metrics and the loop's health until :meth:`close`.

    :param last_poll: monotonic time of the loop's last poll.
    :param assigned: the partitions the loop delivers, as ``topic:partition``.
    :raises OSError: when the port cannot be bound.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: FeedWebhookMetrics,
        last_poll: Callable[[], float],
        assigned: Callable[[], list[str]],
    ) -> None:
        def respond(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    respond(self, 200, CONTENT_TYPE_LATEST, metrics.render())
                elif path == "/health":
                    age = time.monotonic() - last_poll()
                    healthy = age < HEALTHY_POLL_AGE_S
                    body = {
                        "polling": healthy,
                        "last_poll_seconds_ago": round(age, 1),
                        "assigned_partitions": assigned(),
                    }
                    respond(self, 200 if healthy else 503, "application/json", json.dumps(body).encode())
                else:
                    respond(self, 404, "text/plain; charset=utf-8", b"not found\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every 15 s is no news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="feed-metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
