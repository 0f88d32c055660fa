"""How long ``/api/themes`` takes on a real worker: the figures of docs/product-teams.md (not a test).

Usage (a broker at CES_KAFKA_BOOTSTRAP, default the dev broker)::

    .venv/bin/python -m tests.measure_themes_api --comments 100000

Writes ``--comments`` comments of one goal, spread over the last 27 days (constructed months of
``theme_month``, one seed each), to a topic of its own, starts a worker on it and prints: the first request
for the 28 days (the themes process starts), the same again (kept), the 7 days (the process is up), the
seconds the answers give for the read and the themes, and the slowest ``/health`` answer while the first
was computed (the worker must not stall).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from stream.infra.topics import create_topics
from tests.harness import WorkerProcess, settings_from_env, worker_env, write_registry
from tests.test_stream.test_ces.test_comments.theme_month import feedback_comments, planted_month

GOAL = "file-claim"


def get(url: str) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        body = json.loads(response.read())
    return body, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-themes-api-"))
    registry = write_registry(work / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}])
    env = {
        **worker_env(os.environ.get("CES_KAFKA_BOOTSTRAP", "127.0.0.1:29092"), f"mt{uuid.uuid4().hex[:8]}"),
        "CES_GOALS_FILE": str(registry),
        "CES_RAW_ID_RETENTION_HOURS": str(24 * 30),
    }
    settings = settings_from_env(env)
    create_topics(settings)
    start = datetime.now(UTC) - timedelta(days=27, hours=23)
    comments = []
    seed = 0
    while len(comments) < args.comments:
        month = feedback_comments(planted_month(start, days=27, seed=seed), GOAL)
        comments.extend(c.model_copy(update={"answer_id": uuid.uuid4()}) for c in month)
        seed += 1
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=50, batch_size=1 << 20)
    for comment in comments[: args.comments]:
        producer.send(
            settings.topic_feedback_comments,
            key=GOAL.encode(),
            value=comment.model_dump_json().encode(),
            timestamp_ms=int(comment.answered_at.timestamp() * 1000),
        )
    producer.flush()
    producer.close()
    worker = WorkerProcess(env, log_path=work / "worker.log", cwd=work)
    worker.start()
    try:
        first: list[tuple[dict[str, Any], float]] = []
        asking = threading.Thread(target=lambda: first.append(get(f"{worker.url}/api/themes?goal={GOAL}&days=28")))
        asking.start()
        health = []
        while asking.is_alive():
            began = time.perf_counter()
            worker.health()
            health.append(time.perf_counter() - began)
            asking.join(0.05)
        answer, first_s = first[0]
        _, kept_s = get(f"{worker.url}/api/themes?goal={GOAL}&days=28")
        week, week_s = get(f"{worker.url}/api/themes?goal={GOAL}&days=7")
        print(
            f"28 days, {answer['comments']} comments, {len(answer['themes'])} themes: first {first_s:.2f} s "
            f"(read {answer['read_seconds']:.2f} s, themes {answer['compute_seconds']:.2f} s), "
            f"kept {kept_s * 1000:.1f} ms; /health while computed: {len(health)} answers, "
            f"the slowest {max(health) * 1000:.0f} ms"
        )
        print(
            f"7 days, {week['comments']} comments: {week_s:.2f} s "
            f"(read {week['read_seconds']:.2f} s, themes {week['compute_seconds']:.2f} s)"
        )
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
