"""`ces-stream run` (what `make run` starts): the whole product locally, with a live view.

The local broker and the topics, a worker, the HTTP gateway (with a random token secret of
this run), Prometheus and Alertmanager with the generated rules (when Debian's packages are
installed), and the simulator with the incident scenario, a share of its users sending
through the gateway; then a live table per goal until Ctrl-C, which stops everything this command
started (the broker too, if it was not running before). Every child runs in its own
session, so the terminal's Ctrl-C reaches only this process, which stops the children in
order; their output goes to ``.ces-run/*.log``, not over the view.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from stream.ces.registry import GoalRegistry, load_registry
from stream.ces.registry.owners import teams
from stream.infra.local_kafka import local_broker_for, port_open
from stream.infra.local_services import LocalService, alertmanager_argv, free_port, prometheus_argv
from stream.infra.topics import create_topics
from stream.observability.alertmanager import alertmanager_yaml
from stream.observability.gateway_rules import GATEWAY_JOB
from stream.observability.monitoring import RULES, monitoring_files
from stream.settings import Settings
from stream.tools.live_view import Poller, screen
from stream.tools.simulator import SimulationConfig, build_profiles

CLI = [sys.executable, "-m", "stream.tools.cli"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=".ces-run", help="folder for logs and generated configs")
    parser.add_argument("--rate", type=float, default=20.0, help="simulated goal events per second")
    parser.add_argument("--incident-minute", type=float, default=1.0, help="minute at which the incident goal degrades")
    parser.add_argument(
        "--alert-for", default="2m", help="`for` of the CES alerts in this demo (production default 5m)"
    )
    parser.add_argument(
        "--via-gateway",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="share of the simulated users that send through the HTTP gateway (default 0.1; 0: no gateway)",
    )
    parser.add_argument("--refresh", type=float, default=2.0, help="seconds between redraws")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")


class Children:
    """The processes this command started, stopped in reverse order.

    Each runs in its own session (the terminal's Ctrl-C reaches only this command) and gets
    SIGTERM from the kernel if this command dies; its output is appended to ``<name>.log``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[LocalService] = []

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        ready_path: str = "/-/ready",
    ) -> LocalService:
        child = LocalService(
            name,
            argv,
            self.workdir / f"{name}.log",
            port=port,
            ready_path=ready_path,
            env=env,
            append_log=True,
            own_session=True,
            die_with_parent=True,
        )
        self.started.append(child)
        return child.start()

    def stop(self) -> None:
        for child in reversed(self.started):
            child.terminate()  # all at once: stopping takes as long as the slowest, not the sum
        for child in reversed(self.started):
            child.stop(30)


def _port(preferred: int) -> int:
    """``preferred`` when nothing listens on it, else a free port."""
    return free_port() if port_open("127.0.0.1", preferred) else preferred


def _gateway(children: Children, settings: Settings, env: dict[str, str]) -> tuple[dict[str, str], LocalService]:
    """Start ``ces-stream gateway`` on loopback (not ready yet): the environment it and the simulator share, its
    metrics port. The token secret is this run's own (random) unless CES_GATEWAY_TOKEN_SECRET is set."""
    secret = settings.gateway_token_secret
    port = _port(settings.gateway_port)
    metrics_port = _port(settings.gateway_metrics_port)
    if metrics_port == port:
        metrics_port = free_port()
    gateway_env = {
        **env,
        "CES_GATEWAY_TOKEN_SECRET": secret.get_secret_value() if secret is not None else secrets.token_hex(32),
        "CES_GATEWAY_HOST": "127.0.0.1",
        "CES_GATEWAY_PORT": str(port),
        "CES_GATEWAY_METRICS_PORT": str(metrics_port),
    }
    gateway = children.start(
        "gateway", [*CLI, "gateway", "--loglevel", "info"], gateway_env, port=metrics_port, ready_path="/health"
    )
    return gateway_env, gateway


def _monitoring(
    children: Children, settings: Settings, registry: GoalRegistry, workdir: Path, gateway_metrics_port: int | None
) -> str | None:
    """Prometheus and Alertmanager with the generated rules; None when they are not installed."""
    if shutil.which("prometheus") is None or shutil.which("prometheus-alertmanager") is None:
        return None
    files = monitoring_files(settings, registry)
    rules = workdir / "ces-stream.rules.yml"
    rules.write_text(files[RULES])
    am_port, prom_port = free_port(), free_port()
    (workdir / "alertmanager.yml").write_text(
        alertmanager_yaml("http://127.0.0.1:9/discard", group_wait="5s", teams=teams(registry))
    )
    alertmanager = children.start(
        "alertmanager", alertmanager_argv(workdir / "alertmanager.yml", workdir / "am", am_port), port=am_port
    )
    config: dict[str, Any] = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(rules.resolve())],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [
            {"job_name": "ces-stream", "static_configs": [{"targets": [f"127.0.0.1:{settings.web_port}"]}]}
        ],
    }
    if gateway_metrics_port is not None:
        config["scrape_configs"].append(
            {"job_name": GATEWAY_JOB, "static_configs": [{"targets": [f"127.0.0.1:{gateway_metrics_port}"]}]}
        )
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    prometheus = children.start(
        "prometheus", prometheus_argv(workdir / "prometheus.yml", workdir / "tsdb", prom_port), port=prom_port
    )
    alertmanager.wait_ready(120)
    prometheus.wait_ready(120)
    return prometheus.url


def _windows(settings: Settings) -> tuple[str, str]:
    names = [spec.name for spec in settings.window_specs()]
    short = next((w for w in settings.alert_windows if w in names), names[0])
    long = settings.alert_slow_window if settings.alert_slow_window in names else names[-1]
    return short, long


def run(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"alert_for": args.alert_for})
    env = {**os.environ, "CES_ALERT_FOR": args.alert_for, "CES_WEB_HOST": "127.0.0.1"}
    registry = load_registry(settings.goals_file)
    incident = build_profiles(registry, SimulationConfig())[0].slug  # the simulator's default: the busiest goal
    console = Console()
    children = Children(workdir)
    broker = local_broker_for(settings.kafka_bootstrap, settings.local_kafka_dir)
    started_broker = broker is not None and not broker.status().running
    stop = _stop_on_sigterm()
    try:
        if broker is not None:
            console.print(f"starting Kafka at {settings.kafka_bootstrap} ..." if started_broker else "Kafka is running")
            broker.start()
        create_topics(settings)
        worker = children.start(
            "worker", [*CLI, "worker", "--loglevel", "info"], env, port=settings.web_port, ready_path="/health"
        )
        console.print(f"starting the worker (log {workdir / 'worker.log'}) ...")
        gateway_env, gateway_metrics_port, gateway_url = env, None, None
        if args.via_gateway > 0:
            gateway_env, gateway = _gateway(children, settings, env)
            gateway_metrics_port = int(gateway_env["CES_GATEWAY_METRICS_PORT"])
            gateway_url = f"http://127.0.0.1:{gateway_env['CES_GATEWAY_PORT']}"
            console.print(f"starting the gateway (log {workdir / 'gateway.log'}) ...")
        worker.wait_ready(120)
        if gateway_url is not None:
            gateway.wait_ready(120)
        prometheus = _monitoring(children, settings, registry, workdir, gateway_metrics_port)
        via = ["--via-gateway", f"{args.via_gateway:g}", "--gateway-url", gateway_url] if gateway_url else []
        children.start(
            "simulator",
            [
                *CLI,
                "simulate",
                "--scenario",
                "incident",
                "--incident-goal",
                incident,
                "--incident-minute",
                str(args.incident_minute),
                "--rate",
                str(args.rate),
                *via,
                "--quiet",
            ],
            gateway_env,
        )
        short, long = _windows(settings)
        poller = Poller(f"http://127.0.0.1:{settings.web_port}", prometheus, short)
        alerts = (
            f"Prometheus {prometheus}" if prometheus else "alerts off (apt install prometheus prometheus-alertmanager)"
        )
        via_text = f"gateway {gateway_url} ({args.via_gateway:.0%} of the users)  |  " if gateway_url else ""
        status = (
            f"ces-stream live: worker http://127.0.0.1:{settings.web_port}  |  {via_text}{alerts}  |  "
            f"simulator: incident on {incident} from minute {args.incident_minute:g}"
        )
        started = time.monotonic()
        view = functools.partial(screen, registry, short=short, long=long, logs=str(workdir))
        with Live(view(poller.poll(), status=status), console=console, refresh_per_second=2) as live:
            while not stop and (not args.duration or time.monotonic() - started < args.duration):
                time.sleep(args.refresh)
                elapsed = f"  |  {int(time.monotonic() - started) // 60}:{int(time.monotonic() - started) % 60:02d}"
                live.update(view(poller.poll(), status=status + elapsed))
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping ...")
        children.stop()
        if started_broker and broker is not None:
            broker.stop()
        console.print("stopped everything `ces-stream run` started")
    return 0


def _stop_on_sigterm() -> list[int]:
    """SIGTERM ends the run like Ctrl-C; the list becomes non-empty when it came.

    SIGINT gets Python's own handler too: a process started in the background inherits SIGINT
    ignored, and Ctrl-C (or the test's SIGINT) must still stop the run.
    """
    received: list[int] = []
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return received
