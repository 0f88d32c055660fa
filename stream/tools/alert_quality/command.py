"""``ces-stream alert-quality``: how often the paging CES alert cries wolf and how fast it sees a drop.

Read before deploying the rules of ``ces-stream monitoring``: simulated goals (Poisson
answers, a healthy CES, and runs where it drops) go through the worker's window code
(:mod:`stream.tools.alert_quality.simulated_goals`), their gauges are backfilled into a throw-away TSDB, and a
real Prometheus evaluates the *generated* ``CesBelowTarget`` critical rule over the whole
range, so the figures judge the rules that ship, not a hand copy
(``docs/alert-statistics.md``). Recording rules in the alert expression are replaced by
their own generated expressions. Rule parameters can be overridden to compare variants.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from stream.ces.goals import WindowSpec, parse_duration
from stream.ces.registry import Alerting, GoalRegistry
from stream.errors import CesError
from stream.infra.local_services import LocalService, free_port, prometheus_argv
from stream.observability.rules import AlertPlan, rule_file
from stream.settings import Settings, load_settings
from stream.tools.alert_quality.expansion import expand_recorded, recording_rules
from stream.tools.alert_quality.gauges import (
    COMPLETION_GAP_FAMILIES,
    GAP_FAMILIES,
    SIMULATED,
    TARGET_FAMILY,
    families_of,
    kind_of,
    run_gauges,
    windows_of,
)
from stream.tools.alert_quality.report import format_table
from stream.tools.alert_quality.simulated_goals import (
    DETECTION_HORIZON_MINUTES,
    GoalRun,
    RateQuality,
    any_of,
    firing,
    plan_runs,
)

START_S = 1_704_067_200  # 2024-01-01T00:00:00Z: a fixed start, so a seed always writes the same samples
STEP_S = 60  # the rule evaluation interval, and the gauges' sample interval
STEPS_PER_QUERY = 1440  # a day a query: query_range returns at most 11 000 points per series
RUNS_PER_CHUNK = 40
"""Simulated goals per TSDB and Prometheus: bounds the disk and memory of a long measurement."""


@dataclass(frozen=True, slots=True)
class MeasuredAlert:
    """A goal alert as ``--alerts`` knows it: the generated rules it is (a goal alerts while any fires)."""

    rules: tuple[tuple[str, str], ...]
    """``(alert, severity)`` of each rule."""
    horizon_after_window: bool = False
    """Whether a drop run goes on for the alert's longest window before the usual horizon: an alert on a
    long window only (``CesEffortAtExits``, 7d) is made to see a lasting change, not a sudden one."""


# The goal alerts the generator writes, by the name --alerts knows them.
ALERTS = {
    "target": MeasuredAlert((("CesBelowTarget", "critical"),)),
    "target-slow": MeasuredAlert((("CesBelowTarget", "warning"),)),
    "baseline": MeasuredAlert((("CesDroppedBelowBaseline", "warning"),)),
    "drop-off": MeasuredAlert((("CesDropOffRising", "warning"),)),
    "target-sequential": MeasuredAlert((("CesBelowTargetSequential", "critical"),)),
    "exits": MeasuredAlert((("CesEffortAtExits", "warning"),), horizon_after_window=True),
    # What pages: either critical CES alert (a goal's page is one episode while any of them fires).
    "page": MeasuredAlert((("CesBelowTarget", "critical"), ("CesBelowTargetSequential", "critical"))),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options: the simulation, and overrides of the rule parameters."""
    sim = parser.add_argument_group("simulation")
    sim.add_argument("--rates", default="20,100,1000", help="answers per hour, comma separated (%(default)s)")
    sim.add_argument("--healthy-ces", type=float, default=0.85, help="true CES of a healthy goal (%(default)s)")
    sim.add_argument("--target", type=float, default=0.80, help="the goals' target_ces_ratio (%(default)s)")
    sim.add_argument("--dropped-ces", type=float, default=0.60, help="true CES after a drop (%(default)s)")
    sim.add_argument("--weeks", type=int, default=40, help="healthy goal-weeks per rate (%(default)s)")
    sim.add_argument("--drops", type=int, default=40, help="drop runs per rate (%(default)s)")
    sim.add_argument("--seed", type=int, default=1, help="random seed (%(default)s)")
    sim.add_argument(
        "--exit-share",
        type=float,
        default=0.25,
        help="for exits: the share of answers given at an exit; there the CES drops, at completion it stays "
        "(%(default)s)",
    )
    sim.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes simulating goals, beside the one that replays them through Prometheus (%(default)s)",
    )
    rule = parser.add_argument_group("rule parameters (default: the effective settings)")
    rule.add_argument("--alert-windows", help="CES_ALERT_WINDOWS, e.g. 10m,30m,1h,3h")
    rule.add_argument("--alert-for", help="CES_ALERT_FOR, e.g. 5m")
    rule.add_argument("--windows", help="CES_WINDOWS (an alert window must be one of them)")
    rule.add_argument("--wilson-confidence", type=float, help="CES_WILSON_CONFIDENCE, e.g. 0.99")
    rule.add_argument(
        "--alert-target-confidence", type=float, help="CES_ALERT_TARGET_CONFIDENCE (CesBelowTarget's bound), e.g. 0.995"
    )
    rule.add_argument(
        "--min-answers", type=int, default=Alerting().min_answers, help="the goals' alerting.min_answers (%(default)s)"
    )
    parser.add_argument(
        "--alerts",
        default="target",
        help=f"the goal alerts to measure, comma separated, or all: {', '.join(ALERTS)} (%(default)s)",
    )
    parser.add_argument("--prometheus", default="prometheus", help="the prometheus binary")
    parser.add_argument("--promtool", default="promtool", help="the promtool binary")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Simulate, replay through Prometheus, print the tables (or JSON); 0 on success."""
    started = time.monotonic()
    settings = with_overrides(settings, args)
    rates = _rates(args)
    keys = _alert_keys(args.alerts)
    reports = [measure(settings, args, rates, key) for key in keys]
    elapsed = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else {"alerts": reports, "elapsed_s": elapsed}, indent=2))
    else:
        print("\n\n".join(format_table(report) for report in reports))
    return 0


def _alert_keys(text: str) -> list[str]:
    keys = list(ALERTS) if text.strip() == "all" else [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in ALERTS]
    if unknown or not keys:
        named = ", ".join(unknown) or repr(text)
        raise CesError(f"--alerts: unknown alert {named}; known: {', '.join(ALERTS)} or all")
    return keys


def measure(settings: Settings, args: argparse.Namespace, rates: list[float], key: str) -> dict[str, Any]:
    """One alert's figures (or the union of several, ``page``): simulate the gauges they read, backfill
    them, let Prometheus evaluate each, judge (a goal alerts while any of its series fires).

    The goals go through in chunks of :data:`RUNS_PER_CHUNK`, each its own TSDB and Prometheus, while
    ``--jobs`` processes simulate the next chunks.
    """
    started = time.monotonic()
    alert = ALERTS[key]
    plan = AlertPlan(settings)
    probe = rule_file(settings, simulated_registry(plan_runs(rates, 1, 0, 0, 0.85, 0.6, 0), args.target, 1))
    generated = [find_alert(probe, name, severity) for name, severity in alert.rules]
    names: set[str] = set()
    families: set[str] = set()
    for rule in generated:
        names |= windows_of(rule["expr"])
        families |= families_of(expand_recorded(rule["expr"], recording_rules(probe)))
    if families & {*GAP_FAMILIES, *COMPLETION_GAP_FAMILIES}:
        names.add(plan.baseline)  # the gaps are computed against it, named in the rule or not
    specs = [spec for spec in settings.window_specs() if spec.name in names]
    longest_minutes = max(spec.duration_s for spec in specs) // 60
    warmup = -(-longest_minutes // 60) * 60
    fine = -(-max([s.duration_s for s in specs if s.resolution_s < 3600] or [0]) // 3600) * 60
    baseline = next((s for s in specs if s.name == plan.baseline), None)
    kind = kind_of(families)
    horizon = DETECTION_HORIZON_MINUTES + (longest_minutes if alert.horizon_after_window else 0)
    runs = plan_runs(
        rates,
        args.weeks,
        args.drops,
        warmup,
        args.healthy_ces,
        args.dropped_ces,
        args.seed,
        kind,
        fine,
        exit_share=args.exit_share,
        horizon_minutes=horizon,
    )
    sequential = (plan.sequential or "", args.target, args.target - settings.alert_sequential_drop)
    gauges = GaugeOptions(
        specs, settings.wilson_confidence, args.target, families, baseline, sequential, settings.split_min_answers
    )
    qualities = {rate: RateQuality(rate) for rate in rates}
    chunks = [runs[i : i + RUNS_PER_CHUNK] for i in range(0, len(runs), RUNS_PER_CHUNK)]
    _progress(f"{key}: simulating {len(runs)} goals in {len(chunks)} chunks, {args.jobs} processes ...")
    version = ""
    with tempfile.TemporaryDirectory(prefix="ces-alert-quality-") as tmp:
        work = Path(tmp)
        for number, (chunk, written) in enumerate(_simulated(work, chunks, gauges, args.jobs), start=1):
            rules = rule_file(settings, simulated_registry(chunk, args.target, args.min_answers))
            alerts = [find_alert(rules, name, severity) for name, severity in alert.rules]
            minutes = max(r.minutes for r in chunk)
            chunk_dir = written.parent / f"chunk-{number}"
            backfill(args.promtool, written, chunk_dir / "tsdb")
            written.unlink()  # can be hundreds of megabytes; the TSDB holds it now
            with PrometheusServer(args.prometheus, chunk_dir, (minutes + warmup) // 1440 + 2) as server:
                evaluated = [
                    (
                        evaluate(server, expand_recorded(rule["expr"], recording_rules(rules)), minutes),
                        math.ceil(parse_duration(rule["for"]) / STEP_S),
                    )
                    for rule in alerts
                ]
                version = server.version
            judge(chunk, evaluated, qualities)
            shutil.rmtree(chunk_dir)
            _progress(f"{key}: {number}/{len(chunks)} chunks evaluated")
    return {
        "rule": {
            "alert": " or ".join(name for name, _ in alert.rules),
            "key": key,
            "severity": "/".join(sorted({severity for _, severity in alert.rules})),
            "windows": [spec.name for spec in specs],
            "for": ", ".join(rule["for"] for rule in generated),
            "min_answers": args.min_answers,
            "confidence": settings.wilson_confidence,
            "target_confidence": settings.alert_target_confidence,
            "expr": "\nor\n".join(rule["expr"] for rule in generated),
            "evaluated_by": version,
        },
        "simulation": {
            "events": kind,
            "healthy_ces": args.healthy_ces,
            "target": args.target,
            "dropped_ces": args.dropped_ces,
            **({"exit_share": args.exit_share} if kind == "exits" else {}),
            "healthy_goal_weeks_per_rate": args.weeks,
            "drops_per_rate": args.drops,
            "seed": args.seed,
            "detection_horizon_minutes": horizon,
        },
        "rates": [q.summary() for q in qualities.values()],
        "elapsed_s": round(time.monotonic() - started, 1),
    }


@dataclass(frozen=True, slots=True)
class GaugeOptions:
    """What :func:`write_openmetrics` needs besides the runs (one object, so it travels to a process)."""

    specs: list[WindowSpec]
    confidence: float
    target: float
    families: Collection[str]
    baseline: WindowSpec | None
    sequential: tuple[str, float, float] | None
    split_min_answers: int


def _simulated(
    work: Path, chunks: list[list[GoalRun]], gauges: GaugeOptions, jobs: int
) -> Iterator[tuple[list[GoalRun], Path]]:
    """Each chunk with the OpenMetrics file of its gauges, in order; ``jobs`` processes write them ahead
    (at most ``jobs`` files beyond the one being read), or this process alone with ``jobs`` 1."""

    def path(i: int) -> Path:
        return work / f"gauges-{i}.om"

    if jobs <= 1:
        for i, chunk in enumerate(chunks):
            write_openmetrics(path(i), chunk, gauges)
            yield chunk, path(i)
        return
    # spawn, not fork: the caller may hold threads (a test runner, a logging handler)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[int, Future[int]]] = deque()
        for i in range(len(chunks)):
            while len(pending) <= jobs and i + len(pending) < len(chunks):
                ahead = i + len(pending)
                pending.append((ahead, pool.submit(write_openmetrics, path(ahead), chunks[ahead], gauges)))
            number, future = pending.popleft()
            future.result()
            yield chunks[number], path(number)


def _rates(args: argparse.Namespace) -> list[float]:
    """The answer rates, once the simulation options are checked (a bad one fails like a bad setting)."""
    try:
        rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    except ValueError:
        raise CesError(f"--rates: expected answers per hour like 20,100,1000, got {args.rates!r}") from None
    ces = {"--healthy-ces": args.healthy_ces, "--target": args.target, "--dropped-ces": args.dropped_ces}
    problems = [f"{name} must be between 0 and 1" for name, value in ces.items() if not 0 <= value <= 1]
    if not rates or min(rates) <= 0 or len(set(rates)) < len(rates):
        problems.append("--rates must be distinct positive numbers")
    if min(args.weeks, args.drops) < 0 or args.weeks + args.drops == 0:
        problems.append("--weeks and --drops must be >= 0, and not both 0")
    if problems:
        raise CesError("; ".join(problems))
    return rates


def with_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with the rule parameters given on the command line (checked like CES_* variables)."""
    names = ("alert_windows", "alert_for", "windows", "wilson_confidence", "alert_target_confidence")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if not overrides:
        return settings
    data = {**settings.model_dump(), **overrides}
    if "windows" in overrides:
        data.pop("split_windows")  # let the default follow the new windows
    return load_settings(**data)


def simulated_registry(runs: list[GoalRun], target: float, min_answers: int) -> GoalRegistry:
    """A registry with one goal per simulated run, so the generated rules hold one threshold per goal."""
    texts = {"en": "How easy was it?", "nl": "Hoe makkelijk was het?"}
    goals = [
        {
            "slug": r.goal,
            "display_name": {"en": r.goal, "nl": r.goal},
            "question": texts,
            "follow_up_question": texts,
            "scale": {"kind": "five_point"},
            "sampling": {"rate": 1.0},
            "target_ces_ratio": target,
            "alerting": {"min_answers": min_answers},
        }
        for r in runs
    ]
    return GoalRegistry.model_validate({"version": 1, "goals": goals})


def find_alert(rules: dict[str, Any], name: str, severity: str) -> dict[str, Any]:
    """The generated alert rule ``name`` of ``severity``."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name and rule.get("labels", {}).get("severity") == severity:
                return rule
    raise CesError(f"the generated rules have no {name} alert of severity {severity}")


def paging_alert(rules: dict[str, Any]) -> dict[str, Any]:
    """The rule that pages: ``CesBelowTarget`` with severity critical."""
    return find_alert(rules, "CesBelowTarget", "critical")


def write_openmetrics(path: Path, runs: list[GoalRun], gauges: GaugeOptions) -> int:
    """The gauges the worker would export for every run and minute, as OpenMetrics; returns the sample count.

    Only the ``families`` an alert reads are written (:func:`gauges.run_gauges`).

    :raises CesError: for a family the simulation does not compute.
    """
    missing = sorted(set(gauges.families) - SIMULATED)
    if missing:
        raise CesError(f"alert-quality cannot simulate {', '.join(missing)}")
    samples = 0
    with path.open("w", encoding="utf-8") as out:
        for family in sorted(gauges.families):
            out.write(f"# TYPE {family} gauge\n")
        for goal_run in runs:
            goal = f'goal="{goal_run.goal}"'
            target_line = f"{TARGET_FAMILY}{{{goal}}} {gauges.target!r} " if TARGET_FAMILY in gauges.families else ""
            lines = []
            gauges_of = run_gauges(
                goal_run,
                gauges.specs,
                gauges.families,
                gauges.confidence,
                START_S,
                baseline=gauges.baseline,
                sequential=gauges.sequential,
                split_min_answers=gauges.split_min_answers,
            )
            for at_s, values in gauges_of:
                if target_line:
                    lines.append(f"{target_line}{at_s}\n")
                lines.extend(f"{family}{{{goal},{labels}}} {value!r} {at_s}\n" for family, labels, value in values)
            out.writelines(lines)
            samples += len(lines)
        out.write("# EOF\n")
    return samples


def backfill(promtool: str, openmetrics: Path, tsdb: Path) -> None:
    """Write the samples as TSDB blocks, in one pass over the file (one block, not one per 2 hours)."""
    command = [
        promtool,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        "--max-block-duration=8760h",
        str(openmetrics),
        str(tsdb),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CesError(f"promtool backfill failed: {exc}") from None
    if result.returncode:
        raise CesError(f"promtool backfill failed: {(result.stderr or result.stdout).strip()[-2000:]}")


class PrometheusServer(LocalService):
    """A Prometheus on the backfilled TSDB, on a free local port, stopped on exit (also on errors).

    ``--query.lookback-delta`` is just under the sample interval: backfilled series have no
    staleness markers, and a window whose ratio has no value must not keep the last one.
    """

    def __init__(self, binary: str, work: Path, retention_days: int) -> None:
        port = free_port()
        argv = prometheus_argv(
            work / "prometheus.yml",
            work / "tsdb",
            port,
            f"--storage.tsdb.retention.time={retention_days}d",
            f"--query.lookback-delta={STEP_S - 1}s",
            "--log.level=warn",
            binary=binary,
        )
        super().__init__("prometheus", argv, work / "prometheus.log", port=port)
        self.binary, self.work = binary, work
        self.version = ""

    def __enter__(self) -> Self:
        (self.work / "prometheus.yml").write_text("global: {}\n")
        try:
            version = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CesError(f"cannot run {self.binary}: {exc}") from None
        found = re.search(r"version (\S+)", version.stdout)
        self.version = f"Prometheus {found.group(1) if found else '(unknown version)'}"
        return super().__enter__()

    def query_range(self, expr: str, start_s: int, end_s: int) -> list[dict[str, Any]]:
        """The series of ``expr`` evaluated every step from ``start_s`` to ``end_s`` (POST: the text is long)."""
        body = urllib.parse.urlencode({"query": expr, "start": start_s, "end": end_s, "step": STEP_S}).encode()
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query_range", data=body, timeout=600) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise CesError(f"prometheus query failed: {exc.read().decode(errors='replace')[:2000]}") from None
        except OSError as exc:
            raise CesError(f"prometheus query failed: {exc}") from None
        return answer["data"]["result"]


def evaluate(server: PrometheusServer, expr: str, minutes: int) -> dict[tuple[tuple[str, str], ...], bytearray]:
    """Per result series (its labels), at which evaluations ``k`` (1..minutes) the expression returned it."""
    present: dict[tuple[tuple[str, str], ...], bytearray] = {}
    for first in range(1, minutes + 1, STEPS_PER_QUERY):
        last = min(first + STEPS_PER_QUERY - 1, minutes)
        for series in server.query_range(expr, START_S + first * STEP_S, START_S + last * STEP_S):
            key = tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))
            where = present.setdefault(key, bytearray(minutes + 1))
            for at_s, _value in series["values"]:
                where[(int(at_s) - START_S) // STEP_S] = 1
    return present


def judge(
    runs: list[GoalRun],
    evaluated: list[tuple[dict[tuple[tuple[str, str], ...], bytearray], int]],
    qualities: dict[float, RateQuality],
) -> None:
    """Apply each alert's ``for`` per series, join a goal's series (every window, every alert), and count
    false alerts and detections into ``qualities`` (by answer rate). ``evaluated``: per alert, :func:`evaluate`'s
    answer and its ``for`` in steps."""
    by_goal: dict[str, list[tuple[bytearray, int]]] = {}
    for present, for_steps in evaluated:
        for labels, where in present.items():
            by_goal.setdefault(dict(labels).get("goal", ""), []).append((where, for_steps))
    for goal_run in runs:
        length = goal_run.minutes + 1
        series = [firing(where[:length], for_steps) for where, for_steps in by_goal.get(goal_run.goal, [])]
        qualities[goal_run.answers_per_hour].add(goal_run, any_of(series, length))


def _progress(message: str) -> None:
    print(f"alert-quality: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)
