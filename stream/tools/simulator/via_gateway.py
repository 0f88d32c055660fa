"""``ces-stream simulate --via-gateway SHARE``: a share of the users sends through the HTTP gateway.

Those users' goal events, answers and prompt events are POSTed to the gateway's API (docs/gateway.md)
with a user token minted from ``CES_GATEWAY_TOKEN_SECRET``, as an app's front end would, instead of
being produced to Kafka. Which users: a stable hash of the user id, so a user's records all take
one path. A few threads, each with one keep-alive connection (stdlib ``http.client``), take the
records from a bounded queue: when the gateway is slower than the traffic, the simulator waits
rather than piling records up. A record the gateway does not accept (a 4xx or 5xx, or no answer) is
counted, not retried: the apps it stands for do not retry either. Prompts still come from the
prompts topic.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
import zlib
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from stream.ces.gateway import mint_token

#: The API path of each topic the simulator writes.
PATHS = {"goal_events": "/v1/goal-events", "answers": "/v1/answers", "prompt_events": "/v1/prompt-events"}
THREADS = 4
QUEUE_RECORDS = 1000
TOKEN_TTL_S = 3600
TIMEOUT_S = 10.0
_STOP = object()


def takes_gateway(user_id: bytes, share: float) -> bool:
    """Whether this user's records go through the gateway: a stable share of the users."""
    return share > 0 and zlib.crc32(user_id) % 10_000 < share * 10_000


class GatewaySender:
    """POSTs records to the gateway from a few threads with keep-alive connections.

    :param url: the gateway's API, e.g. ``http://127.0.0.1:6068``.
    :param secret: the token secret (``CES_GATEWAY_TOKEN_SECRET``) the users' tokens are signed with.
    """

    def __init__(self, url: str, secret: bytes, threads: int = THREADS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not a gateway URL such as http://127.0.0.1:6068")
        self._parts = parts
        self._secret = secret
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.failures = 0  # no answer at all (connection refused, timeout)
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_RECORDS)
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"gateway-{n}") for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def send(self, topic: str, user_id: str, value: bytes) -> None:
        """Queue one record for its endpoint (blocks while the queue is full)."""
        self._queue.put((PATHS[topic], user_id, value))

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop the threads."""
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            statuses = dict(sorted(self.statuses.items()))
            accepted = sum(n for status, n in statuses.items() if status in (200, 202))
            return {
                "posted": sum(statuses.values()) + self.failures,
                "accepted": accepted,
                "refused": sum(statuses.values()) - accepted,
                "no_answer": self.failures,
                "statuses": {str(status): n for status, n in statuses.items()},
            }

    def _token(self, user_id: str) -> str:
        now = time.time()
        with self._lock:
            cached = self._tokens.get(user_id)
            if cached is not None and cached[1] - now > 60:
                return cached[0]
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            expires = int(now) + TOKEN_TTL_S
            minted = mint_token(self._secret, user_id, expires)
            self._tokens[user_id] = (minted, expires)
            return minted

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        return kind(self._parts.hostname or "127.0.0.1", self._parts.port, timeout=TIMEOUT_S)

    def _work(self) -> None:
        connection = self._connection()
        prefix = self._parts.path.rstrip("/")
        while (item := self._queue.get()) is not _STOP:
            path, user_id, value = item
            headers = {"Authorization": f"Bearer {self._token(user_id)}", "Content-Type": "application/json"}
            try:
                connection.request("POST", prefix + path, body=value, headers=headers)
                response = connection.getresponse()
                response.read()
                with self._lock:
                    self.statuses[response.status] += 1
            except (OSError, http.client.HTTPException):
                connection.close()  # a fresh connection for the next record
                with self._lock:
                    self.failures += 1
        connection.close()
