"""The peer phase's launcher: runs ``peer_quix.py`` as a script in an interpreter with Quix Streams.

It never imports the peer (which imports quixstreams). The interpreter is ``--peer-python``,
else ``.venv-bench/bin/python`` in the project (``make bench-peer-env``), else this one when it
has quixstreams (the ``bench`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from stream.infra.kafka_config import client_options
from stream.settings import Settings
from stream.tools.bench.phases import WAIT_S, Figure, produce
from stream.tools.bench.worker import BenchError

PEER_SCRIPT = Path(__file__).with_name("peer_quix.py")
PROJECT_ROOT = Path(__file__).resolve().parents[3]
BENCH_VENV_PYTHON = PROJECT_ROOT / ".venv-bench" / "bin" / "python"


def peer_python(explicit: str | None = None) -> str | None:
    """The interpreter that runs the peer, or None when none has Quix Streams."""
    if explicit:
        return explicit
    if BENCH_VENV_PYTHON.exists():
        return str(BENCH_VENV_PYTHON)
    if importlib.util.find_spec("quixstreams") is not None:
        return sys.executable
    return None


def create_topic(settings: Settings, name: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(client_id=f"{settings.app_id}-bench-admin", **client_options(settings))
    try:
        admin.create_topics(
            [NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)], timeout_ms=30_000
        )
    finally:
        admin.close()


def peer(
    settings: Settings, python: str, answers: list[tuple[bytes, bytes]], env: dict[str, str], work: Path
) -> Figure:
    """Produce the answers (with their outcome) to a topic of the peer's, as a backlog, and run the peer over it."""
    topic = f"{settings.app_id}.peer-answers"
    create_topic(settings, topic)
    produce(settings, topic, answers)
    result = work / "peer-result.json"
    with open(work / "peer.log", "wb") as log:
        proc = subprocess.run(
            [
                python,
                str(PEER_SCRIPT),
                "--topic",
                topic,
                "--group",
                f"{settings.app_id}-peer",
                "--expect",
                str(len(answers)),
                "--state-dir",
                str(work / "peer-state"),
                "--result",
                str(result),
            ],
            env=env,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=WAIT_S,
            check=False,
        )
    if proc.returncode != 0 or not result.exists():
        raise BenchError(f"the Quix Streams peer failed ({proc.returncode}); its log: {work / 'peer.log'}")
    figures = json.loads(result.read_text())
    return Figure(
        "peer",
        "Quix Streams 3.28: dedupe by user, group_by goal, 1m/5m/1h tumbling counts by score, outcome, channel",
        int(figures["answers"]),
        float(figures["seconds"]),
        float(figures["cpu_seconds"]),
    )
