"""The throw-away Prometheus of ``ces-stream alert-quality``: simulated gauges written as OpenMetrics (on
several processes), backfilled with promtool into a TSDB, and a real Prometheus that evaluates an expression
over it minute by minute."""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from stream.ces.goals import WindowSpec
from stream.errors import CesError
from stream.infra.local_services import LocalService, free_port, prometheus_argv
from stream.tools.alert_quality.gauges import SIMULATED, SURVEY_INFO_FAMILY, TARGET_FAMILY, run_gauges
from stream.tools.alert_quality.simulated_goals import GoalRun

START_S = 1_704_067_200  # 2024-01-01T00:00:00Z: a fixed start, so a seed always writes the same samples
STEP_S = 60  # the rule evaluation interval, and the gauges' sample interval
STEPS_PER_QUERY = 1440  # a day a query: query_range returns at most 11 000 points per series


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
    min_answers: int = 40
    """The goals' ``alerting.min_answers``: the NPS baseline gap needs that many on both sides."""
    survey: str = "ces"
    """The goals' own question, as ``ces_goal_survey_info`` says it: ``csat`` for the CSAT alerts."""


def simulated_chunks(
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
        try:
            for i in range(len(chunks)):
                while len(pending) <= jobs and i + len(pending) < len(chunks):
                    ahead = i + len(pending)
                    pending.append((ahead, pool.submit(write_openmetrics, path(ahead), chunks[ahead], gauges)))
                number, future = pending.popleft()
                future.result()
                yield chunks[number], path(number)
        finally:  # a failed replay need not wait for chunks nobody will read
            for _, future in pending:
                future.cancel()


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
            counter = family.removesuffix("_total")
            out.write(f"# TYPE {counter} counter\n" if counter != family else f"# TYPE {family} gauge\n")
        for goal_run in runs:
            goal = f'goal="{goal_run.goal}"'
            # The gauges that stay the same all run: the target, and the goal's own question.
            statics = [f"{TARGET_FAMILY}{{{goal}}} {gauges.target!r} "] if TARGET_FAMILY in gauges.families else []
            if SURVEY_INFO_FAMILY in gauges.families:
                statics.append(f'{SURVEY_INFO_FAMILY}{{{goal},survey="{gauges.survey}"}} 1.0 ')
            lines: list[str] = []
            gauges_of = run_gauges(
                goal_run,
                gauges.specs,
                gauges.families,
                gauges.confidence,
                START_S,
                baseline=gauges.baseline,
                sequential=gauges.sequential,
                split_min_answers=gauges.split_min_answers,
                min_answers=gauges.min_answers,
            )
            for at_s, values in gauges_of:
                lines.extend(f"{static}{at_s}\n" for static in statics)
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
