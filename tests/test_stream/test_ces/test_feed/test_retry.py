"""After each POST: delivered, tried again after a capped backoff with jitter (or Retry-After), or dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from schemas import DeadLetterReason
from stream.ces.feed import Delivered, GiveUp, Response, RetryLater, RetryPolicy
from stream.ces.feed.retry import MAX_BODY_EXCERPT_CHARS, body_excerpt, retry_after_seconds

NOW = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=60.0, give_up_s=86400.0)


def decide(response: Response, *, failures: int = 1, elapsed_s: float = 0.0, jitter: float = 0.0):
    return POLICY.decide(response, failures=failures, elapsed_s=elapsed_s, now=NOW, jitter=jitter)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(status):
    assert decide(Response(status)) == Delivered()


@pytest.mark.parametrize(
    "response",
    [
        Response(None, error="connection refused"),
        Response(None, error="timed out"),
        Response(500),
        Response(502),
        Response(503),
        Response(504),
        Response(599),
        Response(408),
        Response(429),
    ],
    ids=lambda r: r.describe(),
)
def test_passing_failures_are_tried_again(response):
    decision = decide(response)
    assert isinstance(decision, RetryLater)
    assert decision.cause == response.describe()


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308, 400, 401, 403, 404, 405, 410, 413, 422, 100])
def test_any_other_status_is_refused_for_good_with_the_status_and_the_body(status):
    decision = decide(Response(status, body=b'{"error": "invalid_payload"}'))
    assert isinstance(decision, GiveUp)
    assert decision.reason is DeadLetterReason.undeliverable
    assert decision.detail == f'the webhook refused it: HTTP {status}: {{"error": "invalid_payload"}}'


def test_the_backoff_doubles_per_failure_up_to_the_cap():
    waits = [POLICY.backoff_s(failures, jitter=0.999999) for failures in range(1, 10)]
    assert waits == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60, 60], rel=1e-5)
    assert POLICY.backoff_s(10_000, jitter=0.5) == pytest.approx(45.0)  # no overflow far out


def test_jitter_spreads_the_wait_over_half_to_all_of_it():
    assert POLICY.backoff_s(3, jitter=0.0) == pytest.approx(2.0)
    assert POLICY.backoff_s(3, jitter=0.5) == pytest.approx(3.0)
    decision = decide(Response(500), failures=3, jitter=0.5)
    assert decision == RetryLater(3.0, "HTTP 500")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_respected_on_429_and_503(status):
    assert decide(Response(status, retry_after="120"), jitter=0.0) == RetryLater(120.0, f"HTTP {status}")


def test_retry_after_as_an_http_date_is_respected():
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert decide(Response(429, retry_after=when)).delay_s == pytest.approx(90.0)


def test_retry_after_is_ignored_on_other_statuses_and_when_unreadable():
    assert decide(Response(500, retry_after="120"), failures=1, jitter=0.0).delay_s == pytest.approx(0.5)
    assert decide(Response(429, retry_after="soon"), failures=1, jitter=0.0).delay_s == pytest.approx(0.5)


def test_a_retry_after_of_zero_never_makes_a_busy_loop():
    assert decide(Response(429, retry_after="0")).delay_s == POLICY.initial_backoff_s
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert decide(Response(503, retry_after=past)).delay_s == POLICY.initial_backoff_s


def test_a_record_still_failing_at_the_give_up_time_is_dead_lettered_with_what_happened():
    decision = decide(Response(503, body=b"down for maintenance"), failures=1450, elapsed_s=86400.0)
    assert decision == GiveUp(
        DeadLetterReason.delivery_timed_out,
        "gave up after 1450 attempts in 86400 s; last: HTTP 503: down for maintenance",
    )
    assert decide(Response(None, error="connection refused"), elapsed_s=90000.0).detail.endswith(
        "last: connection refused"
    )


def test_the_last_wait_ends_at_the_give_up_time_not_after_it():
    decision = decide(Response(429, retry_after="3600"), elapsed_s=86400.0 - 10)
    assert decision == RetryLater(10.0, "HTTP 429")


def test_a_refusal_is_dead_lettered_at_once_even_before_the_give_up_time():
    assert isinstance(decide(Response(400), elapsed_s=0.0), GiveUp)


def test_the_body_excerpt_is_one_bounded_line():
    body = ("line one\r\n\tline two \x00" + "x" * 1000).encode()
    excerpt = body_excerpt(body)
    assert excerpt.startswith("line one line two x")
    assert len(excerpt) == MAX_BODY_EXCERPT_CHARS and excerpt.endswith("...")
    assert body_excerpt(b"\xff\xfebad utf-8") == "\ufffd\ufffdbad utf-8"
    assert Response(404).describe() == "HTTP 404"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("7", 7.0), (" 7 ", 7.0), ("-1", None), ("1.5", None), ("tomorrow", None), ("", None)],
)
def test_retry_after_values(value, expected):
    assert retry_after_seconds(value, NOW) == expected
