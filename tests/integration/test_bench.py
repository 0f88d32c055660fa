"""``ces-stream bench`` in a tiny configuration, every phase, against the session broker.

The figures must be there and sane: counts equal to what was sent, CPU seconds of the worker
above zero, start times positive. The peer phase runs when an interpreter with Quix Streams is
found (``make bench-peer-env``), else its test is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

from stream.settings import Settings
from stream.tools.bench import BenchOptions, run_bench
from stream.tools.bench.command import DEFAULT_PHASES
from stream.tools.bench.peer import peer_python

EVENTS = 1500
RATE, DURATION, WARMUP = 100.0, 3.0, 1.0
PEER = peer_python()


@pytest.fixture(scope="module")
def report(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_partitions=4)
    options = BenchOptions(
        phases=(*DEFAULT_PHASES, "peer") if PEER else DEFAULT_PHASES,
        events=EVENTS,
        users=20_000,
        zipf=0.8,
        goals=10,
        rate=RATE,
        duration_s=DURATION,
        warmup_s=WARMUP,
        scrapes=2,
        work_dir=tmp_path_factory.mktemp("bench"),
    )
    return run_bench(settings, options)


@pytest.mark.timeout(120)
def test_every_phase_reports_sane_figures(report: dict[str, Any]) -> None:
    phases = report["phases"]
    assert set(DEFAULT_PHASES) <= set(phases)
    assert report["population"]["events"] == EVENTS
    assert 0.5 < report["population"]["first_seen_share"] <= 1

    assert phases["ceiling"]["events"] == EVENTS
    assert phases["ceiling"]["events_per_s"] > 0

    prompt = phases["prompt"]
    assert prompt["events"] + prompt["decided_before_ready"] == EVENTS
    assert prompt["cpu_seconds"] > 0 and prompt["events_per_cpu_s"] > 0

    steady = phases["steady"]
    assert steady["events"] == int(RATE * DURATION)
    assert steady["prompts_seen"] == steady["events"]  # new users, all prompted
    assert steady["cpu_seconds"] > 0 and 0 < steady["p50_ms"] <= steady["p99_ms"]

    answer = phases["answer"]
    assert answer["answers_sent"] > 0
    assert answer["answers_counted"] + answer["answers_dead_lettered"] == answer["answers_sent"]
    assert answer["events"] + answer["taken_before_ready"] == answer["answers_sent"]
    assert answer["cpu_seconds"] > 0
    assert answer["scrapes_meanwhile"] >= 1
    assert 0 < answer["scrape_meanwhile_p50_ms"] <= answer["scrape_meanwhile_max_ms"]

    assert phases["scrape"]["events"] == 2 and phases["scrape"]["bytes"] > 0
    start = phases["start"]
    assert start["ready_s"] > 0 and start["first_event_s"] > 0
    assert start["users_in_state"] >= report["population"]["distinct_users"]
    assert start["user_states_in_changelog"] >= report["population"]["distinct_users"]
    assert 50 < start["changelog_bytes_per_user"] < 2000
    assert "ces-stream bench --phases" in report["command"]


def test_the_run_leaves_no_topic_behind(report: dict[str, Any], kafka_bootstrap: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        left = [name for name in admin.list_topics() if report["run_tag"] in name]
    finally:
        admin.close()
    assert left == []


@pytest.mark.skipif(PEER is None, reason="no interpreter with Quix Streams (make bench-peer-env)")
def test_the_quix_peer_counts_every_answer(report: dict[str, Any]) -> None:
    peer, answer = report["phases"]["peer"], report["phases"]["answer"]
    assert peer["events"] == answer["answers_sent"]
    assert peer["cpu_seconds"] > 0 and peer["events_per_s"] > 0
