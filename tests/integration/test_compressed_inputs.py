"""Inputs compressed by other clients are readable: gzip, snappy, lz4 and zstd.

Apps produce with whatever client and codec they like. Goal events are produced with
kafka-python (Python codecs, its own partitioner) and with ``kcat`` (librdkafka: its
own codecs, snappy framing and partitioner), one goal per client and codec, and the
worker must count every one of them and reject none. The topic's size on the broker
shows each batch really was stored compressed (the broker keeps the producer's codec),
so a producer silently falling back to no compression cannot make the test pass.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from schemas import Channel, DeadLetterReason, GoalEvent, GoalEventType
from stream.infra.topics import create_topics
from stream.settings import Settings, load_settings
from tests.harness import WorkerProcess, wait_until, worker_env, write_registry

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
# A different count per codec, so events counted under the wrong goal cannot add up by chance.
KAFKA_PYTHON_COUNTS = {codec: 40 + i for i, codec in enumerate(CODECS)}
KCAT_COUNTS = {codec: 30 + i for i, codec in enumerate(CODECS)}
# Uncompressed, a batch takes slightly MORE room than its values; compressed, these take ~25-37 %.
MAX_COMPRESSED_SHARE = 0.6


def kp_goal(codec: str) -> str:
    return f"kp-{codec}"


def kcat_goal(codec: str) -> str:
    return f"kcat-{codec}"


def goal_event_bytes(goal: str, i: int) -> bytes:
    return (
        GoalEvent(
            event_id=uuid.uuid4(),
            type=GoalEventType.completed,
            goal=goal,
            user_id=f"{goal}-user-{i}",
            occurred_at=datetime.now(UTC),
            channel=Channel.web,
            locale="en",
        )
        .model_dump_json()
        .encode()
    )


class Pipeline:
    def __init__(self, settings: Settings, worker: WorkerProcess) -> None:
        self.settings = settings
        self.worker = worker
        self.admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)

    def topic_bytes(self) -> int:
        """Bytes the goal-events topic takes on the broker (all partitions)."""
        topic = self.settings.topic_goal_events
        total = 0
        for broker in self.admin.describe_log_dirs(topic_partitions=[topic]):
            for log_dir in broker["log_dirs"]:
                for entry in log_dir["topics"]:
                    if entry["name"] == topic:
                        total += sum(p["partition_size"] for p in entry["partitions"])
        return total

    def assert_nothing_rejected(self) -> None:
        for reason in DeadLetterReason:
            assert (
                self.worker.metric(
                    "ces_events_invalid_total", topic=self.settings.topic_goal_events, reason=reason.value
                )
                == 0.0
            ), reason.value


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One worker for the module, with a goal per client and codec."""
    tmp: Path = tmp_path_factory.mktemp("compressed")
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}")
    goals = [kp_goal(c) for c in CODECS] + [kcat_goal(c) for c in CODECS]
    env["CES_GOALS_FILE"] = str(
        write_registry(tmp / "goals.yaml", [{"slug": g, "scale": {"kind": "five_point"}} for g in goals])
    )
    settings = load_settings(**{k[4:].lower(): v for k, v in env.items()})
    assert set(create_topics(settings).values()) == {"created"}
    worker = WorkerProcess(env, log_path=tmp / "worker.log", cwd=tmp)
    try:
        worker.start()
        p = Pipeline(settings, worker)
        yield p
        p.admin.close()
    finally:
        worker.stop()


def test_kafka_python_codecs_are_read(pipeline: Pipeline):
    settings, worker = pipeline.settings, pipeline.worker
    for codec, count in KAFKA_PYTHON_COUNTS.items():
        before = pipeline.topic_bytes()
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, compression_type=codec, linger_ms=50)
        raw = 0
        for i in range(count):
            value = goal_event_bytes(kp_goal(codec), i)
            raw += len(value)
            producer.send(settings.topic_goal_events, key=f"user-{i}".encode(), value=value)
        producer.flush()
        producer.close()
        stored = pipeline.topic_bytes() - before
        assert 0 < stored < raw * MAX_COMPRESSED_SHARE, f"{codec}: {stored} bytes stored for {raw} bytes of values"

    for codec, count in KAFKA_PYTHON_COUNTS.items():
        wait_until(
            lambda: worker.metric("ces_goal_events_total", goal=kp_goal(codec), type="completed") == count,
            timeout_s=45,
            what=f"{count} {codec} events from kafka-python counted",
        )
    pipeline.assert_nothing_rejected()
    assert worker.health()[0] == 200


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat (librdkafka) not on PATH")
def test_kcat_codecs_are_read(pipeline: Pipeline):
    settings, worker = pipeline.settings, pipeline.worker
    kcat = shutil.which("kcat")
    assert kcat is not None
    for codec, count in KCAT_COUNTS.items():
        before = pipeline.topic_bytes()
        values = [goal_event_bytes(kcat_goal(codec), i) for i in range(count)]
        # One key per line (-K tab), so librdkafka's partitioner spreads them over the partitions.
        lines = b"".join(f"user-{i}".encode() + b"\t" + value + b"\n" for i, value in enumerate(values))
        result = subprocess.run(
            # A long linger batches every line read from stdin, however busy the machine: without it a
            # loaded machine sent smaller batches that compressed too little for the check below.
            [
                kcat,
                "-P",
                "-b",
                settings.kafka_bootstrap,
                "-t",
                settings.topic_goal_events,
                "-z",
                codec,
                "-K",
                "\t",
                "-X",
                "linger.ms=1000",
            ],
            input=lines,
            capture_output=True,
            timeout=60,
        )
        assert result.returncode == 0, f"kcat -z {codec} failed: {result.stderr.decode(errors='replace')}"
        raw = sum(len(v) for v in values)
        stored = pipeline.topic_bytes() - before
        assert 0 < stored < raw * MAX_COMPRESSED_SHARE, f"{codec}: {stored} bytes stored for {raw} bytes of values"

    for codec, count in KCAT_COUNTS.items():
        wait_until(
            lambda: worker.metric("ces_goal_events_total", goal=kcat_goal(codec), type="completed") == count,
            timeout_s=45,
            what=f"{count} {codec} events from kcat counted",
        )
    pipeline.assert_nothing_rejected()
    assert worker.health()[0] == 200
