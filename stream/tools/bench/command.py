"""``ces-stream bench``: the options, the run of the chosen phases, and the table it prints.

One run, on fresh topics and a fresh consumer group (app id ``bench<time>``), phases in this
order (each only if chosen with ``--phases``; the ones it needs run unmeasured):

``ceiling`` a bare consumer over the goal-event backlog; ``prompt`` the worker over that
backlog; ``steady`` new users at ``--rate``; ``answer`` one answer per prompt the worker sent,
as a backlog; ``peer`` a Quix Streams app over the same answers; ``scrape`` /metrics;
``start`` kill -9 and restart with the run's users in state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.infra.kafka_config import client_options
from stream.infra.local_kafka import local_broker_for
from stream.infra.local_services import free_port
from stream.infra.topics import create_topics
from stream.settings import Settings, load_settings
from stream.tools.bench import phases
from stream.tools.bench.peer import peer, peer_python
from stream.tools.bench.phases import Figure, SteadyLoad
from stream.tools.bench.population import PopulationSpec, describe, plan_events, write_registry
from stream.tools.bench.worker import BenchError, BenchWorker

PHASES = ("ceiling", "prompt", "steady", "answer", "peer", "scrape", "start")
DEFAULT_PHASES = ("ceiling", "prompt", "steady", "answer", "scrape", "start")
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class BenchOptions:
    phases: tuple[str, ...] = DEFAULT_PHASES
    events: int = 100_000
    users: int = 1_000_000
    zipf: float = 0.8
    goals: int = 200
    sampled: float | None = None  # None: every completion and abandonment prompted (the worst case)
    store: str = "memory://"
    rate: float = 1000.0
    duration_s: float = 20.0
    warmup_s: float = 5.0
    scrapes: int = 20
    peer_python: str | None = None
    seed: int = 19
    extra_env: dict[str, str] = field(default_factory=dict)
    work_dir: Path | None = None  # the worker's log, data and the peer's state; default a new temporary folder
    keep_topics: bool = False  # False: the run's topics are deleted at its end


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phases",
        default=",".join(DEFAULT_PHASES),
        help=f"comma-separated phases out of {','.join(PHASES)} (default: all but peer)",
    )
    parser.add_argument("--peer", action="store_true", help="add the Quix Streams peer phase (needs the bench extra)")
    parser.add_argument("--peer-python", help="interpreter with quixstreams (default: .venv-bench/bin/python)")
    parser.add_argument("--events", type=int, default=100_000, help="goal events in the backlog (default 100000)")
    parser.add_argument("--users", type=int, default=1_000_000, help="user population (default 1000000)")
    parser.add_argument(
        "--zipf", type=float, default=0.8, help="repeat rate: user of rank k drawn with weight 1/k**ZIPF (default 0.8)"
    )
    parser.add_argument("--goals", type=int, default=200, help="goals in the registry, Zipf-weighted (default 200)")
    parser.add_argument(
        "--sampled", type=float, metavar="RATE", help="sampling rate of every goal (default: all prompted)"
    )
    parser.add_argument("--store", default="memory://", choices=("memory://", "rocksdb://"), help="the worker's store")
    parser.add_argument("--rate", type=float, default=1000.0, help="goal events/s of the steady phase")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured in the steady phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the steady rate before measuring")
    parser.add_argument("--scrapes", type=int, default=20, help="/metrics scrapes to time")
    parser.add_argument("--seed", type=int, default=19, help="seed of the population")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the run's topics on the broker (default: deleted at the end)"
    )


def options_from(args: argparse.Namespace) -> BenchOptions:
    chosen = [p.strip() for p in args.phases.split(",") if p.strip()]
    if args.peer:
        chosen.append("peer")
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown:
        raise BenchError(f"unknown phases {unknown}: choose from {','.join(PHASES)}")
    return BenchOptions(
        phases=tuple(p for p in PHASES if p in chosen),
        events=args.events,
        users=args.users,
        zipf=args.zipf,
        goals=args.goals,
        sampled=args.sampled,
        store=args.store,
        rate=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        scrapes=args.scrapes,
        peer_python=args.peer_python,
        seed=args.seed,
        keep_topics=args.keep_topics,
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    broker = local_broker_for(settings.kafka_bootstrap, settings.local_kafka_dir)
    if broker is not None:
        broker.start()
    report = run_bench(settings, options_from(args))
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def security_env(settings: Settings) -> dict[str, str]:
    """The connection's security settings as ``CES_*`` variables, for the bench's own worker and peer."""
    names = ("kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username", "kafka_ssl_cafile")
    env = {f"CES_{name.upper()}": str(getattr(settings, name)) for name in names if getattr(settings, name)}
    if settings.kafka_sasl_password is not None:
        env["CES_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    return env


def topic_names() -> list[str]:
    return [
        name for name, info in Settings.model_fields.items() if name.startswith("topic_") and info.annotation is str
    ]


def bench_env(settings: Settings, options: BenchOptions, tag: str, work: Path) -> dict[str, str]:
    """The worker's environment: this run's topics, group, registry and store; the code the bench runs."""
    sampling = 1.0 if options.sampled is None else options.sampled
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *([path] if path else [])]),
        "CES_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        **security_env(settings),
        "CES_APP_ID": tag,
        "CES_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CES_GOALS_FILE": str(write_registry(work / "goals.yaml", options.goals, sampling)),
        "CES_WEB_PORT": str(free_port()),
        "CES_WEB_HOST": "127.0.0.1",
        "CES_STORE": options.store,
        "CES_DATA_DIR": str(work / "data"),
        **{f"CES_{name.upper()}": f"{tag}.{name[6:].replace('_', '-')}" for name in topic_names()},
        **options.extra_env,
    }


def _say(text: str) -> None:
    print(text, flush=True)


def run_bench(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """Run the chosen phases; print each figure as it comes and the table at the end; return the report."""
    tag = f"bench{int(time.time())}"
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="ces-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = bench_env(settings, options, tag, work)
    run_settings = load_settings(
        **{k[4:].lower(): v for k, v in env.items() if k.startswith("CES_") and k[4:].lower() in Settings.model_fields}
    )
    chosen = set(options.phases)
    python = peer_python(options.peer_python) if "peer" in chosen else None
    if "peer" in chosen and python is None:
        raise BenchError("the peer phase needs Quix Streams: make bench-peer-env (or pip install -e '.[bench]')")
    create_topics(run_settings)
    spec = PopulationSpec(users=options.users, zipf=options.zipf, goals=options.goals, seed=options.seed)
    planned = plan_events(spec, options.events)
    population = describe(planned)
    prompting = "all prompted" if options.sampled is None else f"sampled at {options.sampled:g}"
    _say(
        f"backlog: {options.events:,} goal events from {population.distinct_users:,} users of {options.users:,} "
        f"(zipf {options.zipf:g}; {population.first_seen_share:.0%} from users with no state yet), "
        f"{options.goals} goals (busiest {population.busiest_goal_share:.0%}), {prompting}, {options.store} "
        f"[{run_settings.topic_goal_events}]"
    )
    phases.produce_backlog(run_settings, planned)
    figures: list[Figure] = []

    def record(figure: Figure) -> None:
        figures.append(figure)
        _say(line(figure, figures[0] if figures[0].phase == "ceiling" else None))

    record(asyncio.run(phases.ceiling(run_settings, options.events)))  # every run: the figures sit next to it
    needs_worker = chosen & {"prompt", "steady", "answer", "peer", "scrape", "start"}
    worker = BenchWorker(env, work / "worker.log")
    try:
        if needs_worker:
            _run_worker_phases(run_settings, options, worker, population.distinct_users, env, work, python, record)
    finally:
        worker.stop()
        if not options.keep_topics:
            _delete_run_topics(run_settings, tag)
    shown = [f for f in figures if f.phase in chosen or f.phase == "ceiling"]
    report = {
        "command": options_line(options),
        "load_average": os.getloadavg()[0],
        "population": population.__dict__,
        "phases": {f.phase: f.as_json() for f in shown},
        "work_dir": str(work),
        "run_tag": tag,  # in the name of every topic the run made
        **flat_figures(shown),
    }
    _say("")
    _say(table(shown))
    return report


def _delete_run_topics(settings: Settings, tag: str) -> None:
    """Delete every topic whose name holds the run's tag (its inputs, internal topics, changelogs, the peer's).

    Every run makes fresh topics; kept, they pile up on the broker (a development broker had
    20 000 partitions after a few days of runs and took minutes to start). Never raises: the
    figures are worth more than the clean-up.
    """
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(client_id=f"{tag}-clean-up", **client_options(settings))
        try:
            names = [name for name in admin.list_topics() if tag in name]
            if names:
                admin.delete_topics(names, timeout_ms=60_000)
        finally:
            admin.close()
    except Exception as exc:  # reported, not raised
        _say(f"could not delete the run's topics ({tag}*): {exc}")


def _run_worker_phases(
    settings: Settings,
    options: BenchOptions,
    worker: BenchWorker,
    distinct_users: int,
    env: dict[str, str],
    work: Path,
    python: str | None,
    record: Any,
) -> None:
    chosen = set(options.phases)
    worker.launch()
    ready_at = worker.wait_ready()
    prompt = phases.prompt_path(worker, options.events, ready_at)
    if "prompt" in chosen:
        record(prompt)
    steady_users = 0
    if "steady" in chosen:
        idle_wait_s = worker.wait_idle()  # the goal stage may still be folding the backlog's facts
        load = SteadyLoad(options.rate, options.duration_s, options.warmup_s)
        figure = asyncio.run(phases.steady(settings, load, worker))
        figure.detail["idle_wait_s"] = round(idle_wait_s, 1)
        steady_users = int(options.rate * (options.duration_s + options.warmup_s))
        record(figure)
    if chosen & {"answer", "peer"}:
        prompts = phases.read_prompts(settings, int(worker.counters("ces_survey_prompts")))
        ours, peers = phases.answer_records(prompts)
        if "answer" in chosen:
            record(phases.answer_path(settings, worker, ours))
        if "peer" in chosen and python is not None:
            record(peer(settings, python, peers, env, work))
    if "scrape" in chosen:
        record(phases.scrape(worker, options.scrapes, options.goals))
    if "start" in chosen:
        record(phases.start(settings, worker, distinct_users + steady_users))


def flat_figures(figures: list[Figure]) -> dict[str, float]:
    """The headline figures under the flat names of the bench before its phases (scripts read them)."""
    by_phase = {f.phase: f for f in figures}
    out: dict[str, float] = {}
    if "ceiling" in by_phase:
        out["ceiling_events_per_s"] = by_phase["ceiling"].events_per_s
    if "prompt" in by_phase:
        out["worker_events_per_s"] = by_phase["prompt"].events_per_s
    if "answer" in by_phase:
        out["answers_counted"] = by_phase["answer"].detail["answers_counted"]
        out["answers_per_s"] = by_phase["answer"].events_per_s
    if "steady" in by_phase:
        steady = by_phase["steady"].detail
        out["latency_phase_worker_cpu"] = steady.get("cpu_share_of_a_core") or 0.0
        out.update(
            {f"latency_{q}_s": steady[f"{q}_ms"] / 1000 for q in ("p50", "p95", "p99", "max") if f"{q}_ms" in steady}
        )
    if "scrape" in by_phase:
        out["scrape_p50_s"] = by_phase["scrape"].detail["p50_ms"] / 1000
        out["scrape_max_s"] = by_phase["scrape"].detail["max_ms"] / 1000
    return out


def options_line(options: BenchOptions) -> str:
    parts = ["ces-stream bench", f"--phases {','.join(p for p in options.phases if p != 'peer')}"]
    if "peer" in options.phases:
        parts.append("--peer")
    parts += [f"--events {options.events}", f"--users {options.users}", f"--zipf {options.zipf:g}"]
    parts += [f"--goals {options.goals}", f"--store {options.store}"]
    if options.sampled is not None:
        parts.append(f"--sampled {options.sampled:g}")
    if "steady" in options.phases:
        parts.append(f"--rate {options.rate:g} --duration {options.duration_s:g} --warmup {options.warmup_s:g}")
    return " ".join(parts)


def _rates(figure: Figure, ceiling: Figure | None) -> tuple[str, str, str]:
    """Per second, per CPU-second and the share of the ceiling, as printed ("" where not a throughput)."""
    if not figure.a_rate:
        return "", "", ""
    share = "" if ceiling is None or figure is ceiling else f"{figure.events_per_s / ceiling.events_per_s:.1%}"
    return f"{figure.events_per_s:,.0f}", f"{figure.events_per_cpu_s:,.0f}", share


def line(figure: Figure, ceiling: Figure | None) -> str:
    per_s, per_cpu, share = _rates(figure, ceiling)
    detail = ", ".join(f"{k} {v}" for k, v in figure.detail.items())
    rates = f" = {per_s}/s, {per_cpu} per CPU-second" + (f", {share} of the ceiling" if share else "") if per_s else ""
    return (
        f"{figure.phase:8} {figure.what}: {figure.events:,} in {figure.seconds:.2f} s{rates}, "
        f"CPU {figure.cpu_seconds:.2f} s" + (f" ({detail})" if detail else "")
    )


def table(figures: list[Figure]) -> str:
    """The figures as the Markdown table of docs/performance.md."""
    ceiling = next((f for f in figures if f.phase == "ceiling"), None)
    rows = [
        "| Phase | What | Count | Seconds | CPU seconds | Per second | Per CPU-second | vs ceiling | Detail |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        per_s, per_cpu, share = _rates(f, ceiling)
        detail = ", ".join(f"{k} {v}" for k, v in f.detail.items())
        rows.append(
            f"| {f.phase} | {f.what} | {f.events:,} | {f.seconds:.2f} | {f.cpu_seconds:.2f} | {per_s} | {per_cpu} "
            f"| {share} | {detail} |"
        )
    answer = next((f for f in figures if f.phase == "answer"), None)
    quix = next((f for f in figures if f.phase == "peer"), None)
    if answer and quix and quix.events_per_s > 0:
        rows.append(
            f"\nanswer path / Quix peer: {answer.events_per_s / quix.events_per_s:.2f}x per second, "
            f"{answer.events_per_cpu_s / max(quix.events_per_cpu_s, 1e-9):.2f}x per CPU-second"
        )
    return "\n".join(rows)
