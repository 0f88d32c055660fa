"""The ``ces-stream`` command line.

Settings are built once here and passed down. Every sub-command follows one convention: a
module (or a pair of functions here) with ``add_arguments(parser)`` and ``run(settings, args)``,
listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from stream.ces.registry import load_registry
from stream.errors import CesError
from stream.infra.local_kafka import LocalKafka, local_broker_for
from stream.infra.topics import create_topics
from stream.observability.alertmanager import DEFAULT_WEBHOOK_URL
from stream.observability.log_secrets import mask_secrets
from stream.observability.monitoring import differences, monitoring_files, write
from stream.pipeline.worker import run_worker
from stream.settings import Settings, load_settings
from stream.tools import (
    alert_quality,
    bench,
    dead_letters,
    erase,
    explain,
    feed_webhook,
    gateway,
    report,
    run,
    simulator,
)


class Command(NamedTuple):
    """One sub-command: its name, its help line, its options and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Settings, argparse.Namespace], int]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A sub-command without options."""


def _run_config(settings: Settings, args: argparse.Namespace) -> int:
    for var, value in settings.masked().items():
        print(f"{var}={value}")
    return 0


def _local_kafka(settings: Settings) -> LocalKafka | None:
    return local_broker_for(settings.kafka_bootstrap, settings.local_kafka_dir)


def _kafka_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))


def _run_kafka(settings: Settings, args: argparse.Namespace) -> int:
    broker = _local_kafka(settings)
    if broker is None:
        print(f"CES_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not a local broker: using it as it is.")
        return 0
    if args.action == "start":
        started = time.monotonic()
        status = broker.start()
        print(
            f"kafka {broker.version} ready at {status.bootstrap} in {time.monotonic() - started:.1f} s (log: {status.log_file})"
        )
    elif args.action == "stop":
        print("stopped" if broker.stop() else "no local broker was running")
    else:
        status = broker.status()
        state = "running" if status.running else "stopped"
        print(f"kafka {broker.version} {state} at {status.bootstrap} pid={status.pid or '-'} log={status.log_file}")
        return 0 if status.running else 1
    return 0


def _topics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("create",))


def _run_topics(settings: Settings, args: argparse.Namespace) -> int:
    for name, outcome in create_topics(settings).items():
        print(f"{outcome:8} {name}")
    return 0


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"))


def _run_worker(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(settings, loglevel=args.loglevel)


def _monitoring_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="deploy", help="folder to write into (default: deploy)")
    parser.add_argument(
        "--webhook-url",
        default=DEFAULT_WEBHOOK_URL,
        help="base URL of the Alertmanager webhook receivers (/page and /ticket are appended; /<team>/page and "
        "/<team>/ticket for each team of the registry)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is missing or stale")


def _run_monitoring(settings: Settings, args: argparse.Namespace) -> int:
    files = monitoring_files(
        settings,
        load_registry(settings.goals_file),
        webhook_url=args.webhook_url,
        registry_name=str(settings.goals_file),
    )
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


COMMANDS = (
    Command("config", "print the effective settings (secrets masked)", _no_arguments, _run_config),
    Command("kafka", "the local Apache Kafka broker (no Docker)", _kafka_arguments, _run_kafka),
    Command("topics", "topic administration", _topics_arguments, _run_topics),
    Command(
        "erase",
        "forget one user (AVG/GDPR erasure): their per-user state is deleted, the figures stay (docs/personal-data.md)",
        erase.add_arguments,
        erase.run,
    ),
    Command(
        "explain",
        "why one user would (not) be asked about a goal now: the worker's decision and every rule's verdict, from "
        "the live state (CES_EXPLAIN_TOKEN; --worker URL for each worker)",
        explain.add_arguments,
        explain.run,
    ),
    Command(
        "dead-letters",
        "the dead letters per source topic and reason (summary), and their originals written back to their source "
        "topic once the cause is fixed (replay --source-topic T --reason R)",
        dead_letters.add_arguments,
        dead_letters.run,
    ),
    Command("worker", "run the stream worker (/metrics, /health on CES_WEB_PORT)", _worker_arguments, _run_worker),
    Command(
        "feed-webhook",
        "deliver ces.high-effort-answers to a webhook (CES_FEED_WEBHOOK_URL; Slack or JSON), each one delivered or "
        "dead-lettered (/metrics, /health on CES_FEED_WEBHOOK_METRICS_PORT)",
        feed_webhook.add_arguments,
        feed_webhook.run,
    ),
    Command(
        "gateway",
        "the HTTP gateway for apps without a Kafka client: POST goal events, answers and prompt events; each "
        "user's prompts live as Server-Sent Events (CES_GATEWAY_PORT; /metrics on CES_GATEWAY_METRICS_PORT); "
        "`gateway token --user U` prints a user token",
        gateway.add_arguments,
        gateway.run,
    ),
    Command(
        "bench",
        "measure what one worker does with a realistic population, phase by phase (prompt and answer paths, "
        "steady state, scrape, start), in events/s and per CPU-second, next to the raw-consumer ceiling",
        bench.add_arguments,
        bench.run,
    ),
    Command(
        "monitoring",
        "write the Prometheus rules and their tests, the Alertmanager config and the Grafana dashboards for the "
        "goal registry (CES_GOALS_FILE) and the settings",
        _monitoring_arguments,
        _run_monitoring,
    ),
    Command(
        "run",
        "the whole product locally: Kafka, a worker, Prometheus and Alertmanager (if installed), the simulator "
        "with an incident, and a live view; Ctrl-C stops everything",
        run.add_arguments,
        run.run,
    ),
    Command(
        "simulate",
        "realistic traffic over the goal registry: goal events, and answers to the prompts the worker sends",
        simulator.add_arguments,
        simulator.run,
    ),
    Command(
        "report",
        "a self-contained HTML report of CES per goal over a period, from the summaries topic",
        report.add_arguments,
        report.run,
    ),
    Command(
        "alert-quality",
        "false alerts per goal-week and detection time of a drop, for the generated rules evaluated by a real "
        "Prometheus",
        alert_quality.add_arguments,
        alert_quality.run,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ces-stream", description="Real-time Customer Effort Score per goal on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help)
        command.add_arguments(command_parser)
        command_parser.set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    try:
        settings = load_settings()
        # Before any Kafka client exists: no secret in any log line of any command, at any level.
        mask_secrets(settings.secret_values())
        return func(settings, args)
    except CesError as exc:
        print(f"ces-stream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
