"""``ces-stream alert-quality``: how often each goal alert cries wolf and how fast it sees what it is for.

Read before deploying the rules of ``ces-stream monitoring``: simulated goals (Poisson
answers or events, healthy goal-weeks, and runs where the goal drops or stops) go through the
worker's window code (:mod:`stream.tools.alert_quality.gauges`), their gauges are backfilled
into throw-away TSDBs, and a real Prometheus evaluates the *generated* alert rule over the whole
range (:mod:`stream.tools.alert_quality.replay`), so the figures judge the rules that ship, not a
hand copy (``docs/alerting.md``). Recording rules in the alert expression are replaced by their
own generated expressions. Rule parameters can be overridden to compare variants.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.ces.goals import parse_duration
from stream.ces.registry import Alerting, GoalRegistry
from stream.errors import CesError
from stream.observability.rules import AlertPlan, rule_file
from stream.settings import Settings, load_settings
from stream.tools.alert_quality.expansion import expand_recorded, recording_rules
from stream.tools.alert_quality.gauges import (
    COMPLETION_GAP_FAMILIES,
    GAP_FAMILIES,
    NPS_GAP_FAMILIES,
    families_of,
    kind_of,
    windows_of,
)
from stream.tools.alert_quality.replay import (
    STEP_S,
    GaugeOptions,
    PrometheusServer,
    backfill,
    evaluate,
    simulated_chunks,
)
from stream.tools.alert_quality.report import format_table
from stream.tools.alert_quality.simulated_goals import (
    DAY_MINUTES,
    DETECTION_HORIZON_MINUTES,
    DROP_SPAN_MINUTES,
    NPS_PASSIVE_SHARE,
    GoalRun,
    RateQuality,
    any_of,
    firing,
    plan_runs,
)

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
    drop_span_minutes: int = DROP_SPAN_MINUTES
    """Drops happen at a random minute of this span: a whole day where the time of day matters."""


# The goal alerts the generator writes, by the name --alerts knows them.
ALERTS = {
    "target": MeasuredAlert((("CesBelowTarget", "critical"),)),
    "target-slow": MeasuredAlert((("CesBelowTarget", "warning"),)),
    "baseline": MeasuredAlert((("CesDroppedBelowBaseline", "warning"),)),
    "drop-off": MeasuredAlert((("CesDropOffRising", "warning"),)),
    "target-sequential": MeasuredAlert((("CesBelowTargetSequential", "critical"),)),
    "exits": MeasuredAlert((("CesEffortAtExits", "warning"),), horizon_after_window=True),
    "events-stopped": MeasuredAlert((("CesGoalEventsStopped", "warning"),), drop_span_minutes=DAY_MINUTES),
    # What pages: either critical CES alert (a goal's page is one episode while any of them fires).
    "page": MeasuredAlert((("CesBelowTarget", "critical"), ("CesBelowTargetSequential", "critical"))),
    # The CSAT alerts: the CES ones' statistics on a goal whose ces_goal_survey_info says csat.
    "csat-target": MeasuredAlert((("CsatBelowTarget", "critical"),)),
    "csat-baseline": MeasuredAlert((("CsatDroppedBelowBaseline", "warning"),)),
    # The NPS of the goal's moments against the rest of its baseline: promoters 0.50 -> 0.35, passives 0.30.
    "nps-baseline": MeasuredAlert((("NpsDroppedBelowBaseline", "warning"),)),
}
NPS_PROMOTERS = (0.50, 0.35)
"""Promoter shares of a simulated NPS goal, healthy and dropped (passives 0.30 throughout): an NPS of 0.30 that
drops to 0.0 (``simulated_goals.NPS_PASSIVE_SHARE``)."""


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
        "--daily-swing",
        type=float,
        default=0.0,
        help="how far the rate swings over a day: at 15:00 (1 + swing) times the mean, at 03:00 (1 - swing) "
        "times (%(default)s: flat)",
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
    them, let Prometheus evaluate each, judge (a goal alerts while any of its series fires)."""
    started = time.monotonic()
    alert = ALERTS[key]
    sim = simulation(settings, args, rates, alert)
    qualities = {rate: RateQuality(rate) for rate in rates}
    version = replay(settings, args, key, sim, qualities)
    return {
        "rule": {
            "alert": " or ".join(name for name, _ in alert.rules),
            "key": key,
            "severity": "/".join(sorted({severity for _, severity in alert.rules})),
            "windows": [spec.name for spec in sim.gauges.specs],
            "for": ", ".join(rule["for"] for rule in sim.generated),
            "min_answers": args.min_answers,
            "confidence": settings.wilson_confidence,
            "target_confidence": settings.alert_target_confidence,
            "expr": "\nor\n".join(rule["expr"] for rule in sim.generated),
            "evaluated_by": version,
        },
        "simulation": {
            "events": sim.kind,
            "healthy_ces": args.healthy_ces,
            "target": args.target,
            "dropped_ces": args.dropped_ces,
            **({"exit_share": args.exit_share} if sim.kind == "exits" else {}),
            **({"nps_promoters": NPS_PROMOTERS, "nps_passives": NPS_PASSIVE_SHARE} if sim.kind == "nps" else {}),
            "daily_swing": args.daily_swing,
            "drop_span_minutes": sim.drop_span_minutes,
            "healthy_goal_weeks_per_rate": args.weeks,
            "drops_per_rate": args.drops,
            "seed": args.seed,
            "detection_horizon_minutes": sim.horizon_minutes,
        },
        "rates": [q.summary() for q in qualities.values()],
        "elapsed_s": round(time.monotonic() - started, 1),
    }


@dataclass(frozen=True, slots=True)
class Simulation:
    """What one alert is measured on: its generated rules, the simulated goals and the gauges they export."""

    alert: MeasuredAlert
    generated: list[dict[str, Any]]
    """The alert's rules as generated for a one-goal registry (their text is the same for every goal)."""
    kind: str
    warmup_minutes: int
    horizon_minutes: int
    drop_span_minutes: int
    runs: list[GoalRun]
    gauges: GaugeOptions


def simulation(settings: Settings, args: argparse.Namespace, rates: list[float], alert: MeasuredAlert) -> Simulation:
    """The goals and gauges an alert needs: the windows and families its expression reads, warm-up enough for
    its longest window or range (``offset`` included), drops of its own kind."""
    plan = AlertPlan(settings)
    probe = rule_file(settings, simulated_registry(plan_runs(rates, 1, 0, 0, 0.85, 0.6, 0), args.target, 1))
    generated = [find_alert(probe, name, severity) for name, severity in alert.rules]
    names: set[str] = set()
    families: set[str] = set()
    for rule in generated:
        names |= windows_of(rule["expr"])
        families |= families_of(expand_recorded(rule["expr"], recording_rules(probe)))
    if families & {*GAP_FAMILIES, *COMPLETION_GAP_FAMILIES, *NPS_GAP_FAMILIES}:
        names.add(plan.baseline)  # the gaps are computed against it, named in the rule or not
    specs = [spec for spec in settings.window_specs() if spec.name in names]
    longest_minutes = max([spec.duration_s for spec in specs] or [0]) // 60
    lookback = max([longest_minutes, *(_lookback_minutes(rule["expr"]) for rule in generated)])
    warmup = -(-lookback // 60) * 60
    fine = -(-max([s.duration_s for s in specs if s.resolution_s < 3600] or [0]) // 3600) * 60
    kind = kind_of(families)
    healthy, dropped = NPS_PROMOTERS if kind == "nps" else (args.healthy_ces, args.dropped_ces)
    horizon = DETECTION_HORIZON_MINUTES + (longest_minutes if alert.horizon_after_window else 0)
    # On a day that swings, a drop in the first hours would always fall in the night.
    drop_span = DAY_MINUTES if args.daily_swing else alert.drop_span_minutes
    runs = plan_runs(
        rates,
        args.weeks,
        args.drops,
        warmup,
        healthy,
        dropped,
        args.seed,
        kind,
        fine,
        exit_share=args.exit_share,
        horizon_minutes=horizon,
        drop_span_minutes=drop_span,
        daily_swing=args.daily_swing,
    )
    baseline = next((s for s in specs if s.name == plan.baseline), None)
    sequential = (plan.sequential or "", args.target, args.target - settings.alert_sequential_drop)
    survey = "csat" if any(name.startswith("Csat") for name, _ in alert.rules) else "ces"
    gauges = GaugeOptions(
        specs,
        settings.wilson_confidence,
        args.target,
        families,
        baseline,
        sequential,
        settings.split_min_answers,
        args.min_answers,
        survey,
    )
    return Simulation(alert, generated, kind, warmup, horizon, drop_span, runs, gauges)


def replay(
    settings: Settings, args: argparse.Namespace, key: str, sim: Simulation, qualities: dict[float, RateQuality]
) -> str:
    """Judge every simulated goal into ``qualities``, :data:`RUNS_PER_CHUNK` at a time, each chunk in its own
    TSDB and Prometheus while ``--jobs`` processes simulate the next ones; returns Prometheus' version."""
    chunks = [sim.runs[i : i + RUNS_PER_CHUNK] for i in range(0, len(sim.runs), RUNS_PER_CHUNK)]
    _progress(f"{key}: simulating {len(sim.runs)} goals in {len(chunks)} chunks, {args.jobs} processes ...")
    version = ""
    with tempfile.TemporaryDirectory(prefix="ces-alert-quality-") as tmp:
        work = Path(tmp)
        for number, (chunk, written) in enumerate(simulated_chunks(work, chunks, sim.gauges, args.jobs), start=1):
            rules = rule_file(settings, simulated_registry(chunk, args.target, args.min_answers))
            alerts = [find_alert(rules, name, severity) for name, severity in sim.alert.rules]
            minutes = max(r.minutes for r in chunk)
            chunk_dir = written.parent / f"chunk-{number}"
            backfill(args.promtool, written, chunk_dir / "tsdb")
            written.unlink()  # can be hundreds of megabytes; the TSDB holds it now
            retention_days = (minutes + sim.warmup_minutes) // 1440 + 2
            with PrometheusServer(args.prometheus, chunk_dir, retention_days) as server:
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
    return version


_RANGE = re.compile(r"\[(\w+)\](?:\s*offset\s+(\w+))?")


def _lookback_minutes(expr: str) -> int:
    """How far back an expression reads raw samples: its longest range selector plus its offset (minutes)."""
    reaches = [
        parse_duration(span) + (parse_duration(offset) if offset else 0) for span, offset in _RANGE.findall(expr)
    ]
    return int(max(reaches, default=0)) // 60


def _rates(args: argparse.Namespace) -> list[float]:
    """The answer rates, once the simulation options are checked (a bad one fails like a bad setting)."""
    try:
        rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    except ValueError:
        raise CesError(f"--rates: expected answers per hour like 20,100,1000, got {args.rates!r}") from None
    ces = {
        "--healthy-ces": args.healthy_ces,
        "--target": args.target,
        "--dropped-ces": args.dropped_ces,
        "--exit-share": args.exit_share,
        "--daily-swing": args.daily_swing,
    }
    problems = [f"{name} must be between 0 and 1" for name, value in ces.items() if not 0 <= value <= 1]
    if not rates or min(rates) <= 0 or len(set(rates)) < len(rates):
        problems.append("--rates must be distinct positive numbers")
    if args.jobs < 1:
        problems.append("--jobs must be at least 1")
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
