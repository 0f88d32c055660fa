"""What the feed webhook does after each POST: done, try again later, or dead-letter the record.

Connection errors, timeouts, 5xx, 408 and 429 are passing: the record is tried again after a
capped exponential backoff with jitter, or after the webhook's ``Retry-After`` on 429 and 503,
until ``give_up_s`` after its first attempt, when it is dead-lettered as ``delivery_timed_out``.
Any other status is the webhook refusing the record for good (``undeliverable``), with the
status and the start of its answer as the detail. Redirects are not followed (a redirected POST
would arrive elsewhere, or as a GET), so a 3xx is a refusal too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from schemas import DeadLetterReason

RETRIED_STATUSES = frozenset({408, 429})
# Statuses whose Retry-After says when to come back (RFC 9110 section 10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_BODY_EXCERPT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Response:
    """What one POST got: an HTTP status with its ``Retry-After`` and body, or no answer at all.

    :param status: the HTTP status, or None when no answer came (refused, reset, timed out).
    :param error: what went wrong when there was no answer (never the URL).
    :param retry_after: the ``Retry-After`` header as sent, if any.
    :param body: the start of the answer's body.
    """

    status: int | None
    error: str = ""
    retry_after: str | None = None
    body: bytes = b""

    def describe(self) -> str:
        """One short line: ``HTTP 503: <start of the body>`` or the connection error."""
        if self.status is None:
            return self.error or "no answer"
        excerpt = body_excerpt(self.body)
        return f"HTTP {self.status}: {excerpt}" if excerpt else f"HTTP {self.status}"


@dataclass(frozen=True, slots=True)
class Delivered:
    """The webhook took the record (2xx)."""


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A passing failure: try the same record again after ``delay_s``."""

    delay_s: float
    cause: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Dead-letter the record with this reason and detail."""

    reason: DeadLetterReason
    detail: str


Decision = Delivered | RetryLater | GiveUp


def body_excerpt(body: bytes, limit: int = MAX_BODY_EXCERPT_CHARS) -> str:
    """The start of an HTTP body as one line of at most ``limit`` characters (control characters dropped)."""
    text = body.decode("utf-8", errors="replace")
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    text = re.sub(r" {2,}", " ", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The wait a ``Retry-After`` header asks for (delay-seconds or an HTTP date), or None when absent or bad.

    :param now: timezone-aware current time, for the HTTP-date form.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def is_passing(response: Response) -> bool:
    """A failure worth trying again: no answer, 408, 429 or 5xx."""
    status = response.status
    return status is None or status in RETRIED_STATUSES or 500 <= status <= 599


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts, and when to stop trying.

    :param initial_backoff_s: wait after the first failure; doubles per failure.
    :param max_backoff_s: the longest computed wait (a ``Retry-After`` may be longer).
    :param give_up_s: after this long since the first attempt, a failing record is dead-lettered.
    """

    initial_backoff_s: float
    max_backoff_s: float
    give_up_s: float

    def backoff_s(self, failures: int, jitter: float) -> float:
        """The wait after ``failures`` failed attempts: exponential, capped, then 50-100 % of it.

        :param jitter: a uniform random number in [0, 1): spreads the retries of many records apart.
        """
        exponent = min(max(failures - 1, 0), 64)  # 2**64 seconds is past any cap
        capped = min(self.max_backoff_s, self.initial_backoff_s * 2.0**exponent)
        return capped * (0.5 + 0.5 * jitter)

    def decide(self, response: Response, *, failures: int, elapsed_s: float, now: datetime, jitter: float) -> Decision:
        """What to do after a POST got ``response``.

        :param failures: failed attempts of this record so far, this one included when it failed.
        :param elapsed_s: seconds since the record's first attempt.
        :param now: timezone-aware current time (for an HTTP-date ``Retry-After``).
        :param jitter: a uniform random number in [0, 1).
        """
        status = response.status
        if status is not None and 200 <= status <= 299:
            return Delivered()
        if not is_passing(response):
            return GiveUp(DeadLetterReason.undeliverable, f"the webhook refused it: {response.describe()}")
        if elapsed_s >= self.give_up_s:
            return GiveUp(
                DeadLetterReason.delivery_timed_out,
                f"gave up after {failures} attempts in {elapsed_s:.0f} s; last: {response.describe()}",
            )
        asked = retry_after_seconds(response.retry_after, now) if status in RETRY_AFTER_STATUSES else None
        # Retry-After as asked, but never sooner than the first backoff: "0" must not make a busy loop.
        delay = max(asked, self.initial_backoff_s) if asked is not None else self.backoff_s(failures, jitter)
        # The last attempt falls at the give-up time, not after it.
        return RetryLater(min(delay, self.give_up_s - elapsed_s), response.describe())
