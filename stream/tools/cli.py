"""The ``ces-stream`` command line.

Settings are built once here and passed down; every sub-command is a thin call
into the module that does the work.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from typing import Callable

from stream.errors import CesError
from stream.infra.local_kafka import LocalKafka, local_broker_for
from stream.observability.alertmanager import DEFAULT_WEBHOOK_URL
from stream.settings import Settings, load_settings


def _cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    for var, value in settings.masked().items():
        print(f"{var}={value}")
    return 0


def _local_kafka(settings: Settings) -> LocalKafka | None:
    return local_broker_for(settings.kafka_bootstrap, settings.local_kafka_dir)


def _cmd_kafka(settings: Settings, args: argparse.Namespace) -> int:
    broker = _local_kafka(settings)
    if broker is None:
        print(f"CES_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not a local broker: using it as it is.")
        return 0
    if args.action == "start":
        started = time.monotonic()
        status = broker.start()
        print(f"kafka {broker.version} ready at {status.bootstrap} in {time.monotonic() - started:.1f} s (log: {status.log_file})")
    elif args.action == "stop":
        print("stopped" if broker.stop() else "no local broker was running")
    else:
        status = broker.status()
        state = "running" if status.running else "stopped"
        print(f"kafka {broker.version} {state} at {status.bootstrap} pid={status.pid or '-'} log={status.log_file}")
        return 0 if status.running else 1
    return 0


def _cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from stream.infra.topics import create_topics

    for name, outcome in create_topics(settings).items():
        print(f"{outcome:8} {name}")
    return 0


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from stream.pipeline.worker import run_worker

    return run_worker(settings, loglevel=args.loglevel)


def _cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from stream.tools.bench import BenchOptions, run_bench

    broker = _local_kafka(settings)
    if broker is not None:
        broker.start()
    options = BenchOptions(events=args.events, goals=args.goals, rate=args.rate, duration_s=args.duration,
                           warmup_s=args.warmup, scrapes=args.scrapes)
    figures = run_bench(settings, options)
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


def _cmd_monitoring(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from stream.ces.registry_file import load_registry
    from stream.observability.monitoring import differences, monitoring_files, write

    files = monitoring_files(settings, load_registry(settings.goals_file), webhook_url=args.webhook_url,
                             registry_name=str(settings.goals_file))
    root = Path(args.out)
    if args.check:
        stale = differences(files, root)
        for path in stale:
            print(f"stale: {root / path}")
        return 1 if stale else 0
    for path in write(files, root):
        print(f"wrote {root / path}")
    print(f"{len(files)} files under {root} are current")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ces-stream", description="Real-time Customer Effort Score per goal on Kafka.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("config", help="print the effective settings (secrets masked)").set_defaults(func=_cmd_config)

    kafka = sub.add_parser("kafka", help="the local Apache Kafka broker (no Docker)")
    kafka.add_argument("action", choices=("start", "stop", "status"))
    kafka.set_defaults(func=_cmd_kafka)

    topics = sub.add_parser("topics", help="topic administration")
    topics.add_argument("action", choices=("create",))
    topics.set_defaults(func=_cmd_topics)

    worker = sub.add_parser("worker", help="run the stream worker (/metrics, /health on CES_WEB_PORT)")
    worker.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"))
    worker.set_defaults(func=_cmd_worker)

    bench = sub.add_parser("bench", help="measure events/s and latency against the real broker (with the raw-consumer ceiling)")
    bench.add_argument("--events", type=int, default=50_000, help="backlog size for the throughput phase")
    bench.add_argument("--goals", type=int, default=200, help="goals in the benchmark registry")
    bench.add_argument("--rate", type=float, default=1000.0, help="goal events per second in the latency phase")
    bench.add_argument("--duration", type=float, default=20.0, help="seconds of the latency phase")
    bench.add_argument("--warmup", type=float, default=5.0, help="seconds at the latency rate before measuring")
    bench.add_argument("--scrapes", type=int, default=20, help="/metrics scrapes to time")
    bench.add_argument("--json", action="store_true", help="also print the figures as JSON")
    bench.set_defaults(func=_cmd_bench)

    monitoring = sub.add_parser(
        "monitoring", help="write the Prometheus rules and their tests, the Alertmanager config and the Grafana "
        "dashboards for the goal registry (CES_GOALS_FILE) and the settings")
    monitoring.add_argument("--out", default="deploy", help="folder to write into (default: deploy)")
    monitoring.add_argument("--webhook-url", default=DEFAULT_WEBHOOK_URL,
                            help="base URL of the Alertmanager webhook receiver (/page and /ticket are appended)")
    monitoring.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is missing or stale")
    monitoring.set_defaults(func=_cmd_monitoring)

    for name, module, text in TOOLS:
        tool = sub.add_parser(name, help=text)
        tool.set_defaults(func=_tool(module))
        importlib.import_module(f"stream.tools.{module}").add_arguments(tool)
    return parser


# Sub-commands whose module brings its own options: (command, module in stream.tools, help).
TOOLS = (
    ("run", "run", "the whole product locally: Kafka, a worker, Prometheus and Alertmanager (if installed), the "
                   "simulator with an incident, and a live view; Ctrl-C stops everything"),
    ("simulate", "simulate", "realistic traffic over the goal registry: goal events, and answers to the prompts the "
                             "worker sends"),
    ("report", "report", "a self-contained HTML report of CES per goal over a period, from the summaries topic"),
    ("alert-quality", "alert_quality", "false alerts per goal-week and detection time of a drop, for the generated "
                                       "rules evaluated by a real Prometheus"),
)


def _tool(module: str) -> Callable[[Settings, argparse.Namespace], int]:
    def command(settings: Settings, args: argparse.Namespace) -> int:
        return int(importlib.import_module(f"stream.tools.{module}").run(settings, args))

    return command


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    try:
        settings = load_settings()
        return func(settings, args)
    except CesError as exc:
        print(f"ces-stream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
