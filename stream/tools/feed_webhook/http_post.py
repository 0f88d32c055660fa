"""One POST to the feed webhook with the standard library, turned into a :class:`~stream.ces.feed.Response`.

Redirects are not followed: urllib would repeat a POST redirected by 301-303 as a GET without its
body. Nothing here names the URL (it is a secret): errors are described by their kind.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.request
from typing import IO, Any

from stream.ces.feed import Response

# Most bytes of an answer read: enough for the dead letter's excerpt, little for a huge error page.
MAX_BODY_BYTES = 4096


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx


def describe_error(exc: BaseException) -> str:
    """A failed connection in a few words, without the URL."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection reset"
    if isinstance(reason, socket.gaierror):
        return f"name resolution failed ({reason.strerror})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or type(reason).__name__})"
    return type(reason).__name__ if isinstance(reason, BaseException) else "connection failed"


def _read(body: IO[bytes]) -> bytes:
    try:
        return body.read(MAX_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        return b""


class WebhookPoster:
    """POSTs bodies to one URL with a timeout per connect and per read.

    :param url: the webhook URL (kept, never shown).
    :param timeout_s: ``CES_FEED_WEBHOOK_TIMEOUT_SECONDS``.
    """

    def __init__(self, url: str, timeout_s: float, user_agent: str = "ces-stream-feed-webhook") -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:
        return "WebhookPoster(url=**********)"

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        """POST once; every outcome, an exception included, comes back as a Response."""
        request = urllib.request.Request(
            self._url, data=body, headers={**headers, "User-Agent": self._user_agent}, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout_s) as answer:
                return Response(status=answer.status, body=_read(answer))
        except urllib.error.HTTPError as exc:
            return Response(status=exc.code, retry_after=exc.headers.get("Retry-After"), body=_read(exc))
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            return Response(status=None, error=describe_error(exc))
