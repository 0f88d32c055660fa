"""Restart time after kill -9: the restart figures of docs/performance.md (not a test).

Usage (a broker at CES_KAFKA_BOOTSTRAP, default the dev broker)::

    .venv/bin/python -m tests.measure_restart rocksdb:// --kills 5 --state-events 20000

Builds state with ``--state-events`` goal events, then ``--kills`` times: sends 500 events,
SIGKILLs the worker a second later, starts it again at once (same port, so the same static
member id), sends 50 more, and prints the seconds from the kill to /health ready and to the
first event counted by the new process. Extra ``CES_*=value`` arguments go to the worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from stream.infra.producer import emit_goal_event, make_producer
from stream.infra.topics import create_topics
from tests.harness import PROJECT_ROOT, WorkerProcess, make_goal_event, settings_from_env, wait_until, worker_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", choices=("memory://", "rocksdb://"))
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--state-events", type=int, default=20_000)
    parser.add_argument("env", nargs="*", help="CES_NAME=value for the worker")
    args = parser.parse_args()
    env = worker_env(os.environ.get("CES_KAFKA_BOOTSTRAP", "127.0.0.1:29092"), f"rm{uuid.uuid4().hex[:8]}", 8)
    work = Path(tempfile.mkdtemp(prefix="measure-restart-"))
    env.update({"CES_STORE": args.store, "CES_DATA_DIR": str(work / "data"), **dict(a.split("=", 1) for a in args.env)})
    settings = settings_from_env(env)
    create_topics(settings)
    producer = make_producer(settings.kafka_bootstrap)

    def send(n: int) -> None:
        for _ in range(n):
            emit_goal_event(
                producer,
                make_goal_event("file-claim", "completed", f"u-{uuid.uuid4().hex}"),
                topic=settings.topic_goal_events,
            )
        producer.flush()

    def counted() -> float:
        return worker.metric("ces_goal_events_total", goal="file-claim", type="completed") or 0

    worker = WorkerProcess(env, log_path=work / "worker.log", cwd=PROJECT_ROOT)
    worker.start(120)
    send(args.state_events)
    wait_until(lambda: counted() >= args.state_events, timeout_s=600, what="the state events")
    ready_s, processing_s = [], []
    for kill in range(1, args.kills + 1):
        send(500)
        time.sleep(1.0)  # the kill lands while the worker is busy
        worker.kill()
        killed = time.monotonic()
        worker.launch()
        send(50)
        worker.wait_ready(180)
        ready_s.append(time.monotonic() - killed)
        wait_until(lambda: counted() > 0, timeout_s=180, interval_s=0.1, what="an event counted after the restart")
        processing_s.append(time.monotonic() - killed)
        print(f"kill {kill}: ready {ready_s[-1]:.1f} s, processing {processing_s[-1]:.1f} s", flush=True)
    worker.stop()
    producer.close()
    print(
        f"{args.store} {' '.join(args.env)}: ready p50 {statistics.median(ready_s):.1f} s max {max(ready_s):.1f} s; "
        f"processing p50 {statistics.median(processing_s):.1f} s max {max(processing_s):.1f} s (log {worker.log_path})"
    )


if __name__ == "__main__":
    main()
