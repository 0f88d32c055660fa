"""The feed webhook's /metrics and /health, and its metrics: bounded labels, there from the start."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream.infra.local_services import free_port
from stream.observability.metrics import FeedWebhookMetrics
from stream.tools.feed_webhook.server import HEALTHY_POLL_AGE_S, FeedServer


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_series_exists_at_zero_from_the_start_with_bounded_labels():
    exported = samples(FeedWebhookMetrics(["download-invoice", "file-claim"]).render().decode())
    goals = {"download-invoice", "file-claim", "(other)"}
    for goal in goals:
        assert exported[("ces_feed_webhook_delivered_total", frozenset({("goal", goal)}))] == 0
        assert exported[("ces_feed_webhook_retries_total", frozenset({("goal", goal)}))] == 0
        for reason in ("undeliverable", "delivery_timed_out", "processing_error"):
            labels = frozenset({("goal", goal), ("reason", reason)})
            assert exported[("ces_feed_webhook_dead_letters_total", labels)] == 0
    for reason in ("not_json", "schema_violation", "oversize"):
        assert (
            exported[("ces_feed_webhook_dead_letters_total", frozenset({("goal", "(none)"), ("reason", reason)}))] == 0
        )
    for state in ("rate_limited", "retrying"):
        assert exported[("ces_feed_webhook_waiting_records", frozenset({("state", state)}))] == 0
    assert exported[("ces_feed_webhook_delivery_latency_seconds_count", frozenset())] == 0
    label_values = {value for name, labels in exported for key, value in labels if key == "goal"}
    assert label_values == goals | {"(none)"}


@pytest.fixture
def server():
    metrics = FeedWebhookMetrics(["download-invoice"])
    state = {"last_poll": time.monotonic()}
    feed = FeedServer(
        "127.0.0.1", free_port(), metrics, lambda: state["last_poll"], lambda: ["ces.high-effort-answers:0"]
    )
    yield feed, metrics, state
    feed.close()


def test_metrics_are_served(server):
    feed, metrics, _ = server
    metrics.delivered.labels("download-invoice").inc()
    status, body = get(f"http://127.0.0.1:{feed.port}/metrics")
    assert status == 200
    assert samples(body.decode())[("ces_feed_webhook_delivered_total", frozenset({("goal", "download-invoice")}))] == 1


def test_health_is_ok_while_the_loop_polls_and_not_once_it_hangs(server):
    feed, _, state = server
    status, body = get(f"http://127.0.0.1:{feed.port}/health")
    assert status == 200
    health = json.loads(body)
    assert health["polling"] is True and health["assigned_partitions"] == ["ces.high-effort-answers:0"]
    state["last_poll"] = time.monotonic() - HEALTHY_POLL_AGE_S - 1
    status, body = get(f"http://127.0.0.1:{feed.port}/health")
    assert status == 503 and json.loads(body)["polling"] is False
    assert get(f"http://127.0.0.1:{feed.port}/nothing")[0] == 404
