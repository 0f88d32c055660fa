"""The live terminal view of `make run`: per goal, CES now and over the day, and what is firing.

It polls the worker's ``/api/goals`` (every goal's window figures) and, when Prometheus runs,
its firing alerts, and redraws one table in place (rich). The rendering is a pure function
of the figures (:func:`goal_table`), so a test can check it with known numbers.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, JustifyMethod
from rich.table import Table
from rich.text import Text

from stream.ces.goals.effort import duration_text
from stream.ces.registry import GoalRegistry

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 40  # refreshes kept per goal for the trend


def sparkline(values: list[float | None]) -> str:
    """One block character per value on a 0..1 scale; a gap for no value."""
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, max(0, int(v * len(SPARK))))] for v in values)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _interval(figures: dict[str, Any]) -> str:
    lower, upper = figures.get("wilson_lower"), figures.get("wilson_upper")
    return "" if lower is None or upper is None else f" [{lower * 100:.0f}–{upper * 100:.0f}]"


@dataclass
class Snapshot:
    """What one refresh saw."""

    figures: dict[str, dict[str, dict[str, Any]]]  # goal -> window -> figures (/api/goals)
    alerts: dict[str, list[str]] | None  # goal -> firing alert names; None: Prometheus is not running
    history: dict[str, list[float | None]] = field(default_factory=dict)  # goal -> short-window CES, oldest first


def _effort(figures: dict[str, Any]) -> Text:
    """Median time to complete and retried share; in yellow with a word when it parts from the answers."""
    if not figures.get("timed_completions"):
        return Text("–")
    text = f"{duration_text(figures.get('duration_p50_seconds'))}, {_pct(figures.get('retry_ratio'))} retried"
    divergence = figures.get("effort_divergence")
    return Text(f"{text} ({divergence})", style="yellow") if divergence else Text(text)


def _corrected(figures: dict[str, Any]) -> Text:
    """The CES corrected for non-response; "thin" while a stratum has too few answers to speak for its attempts."""
    correction = figures.get("non_response") or {}
    if correction.get("ces_ratio") is not None:
        return Text(_pct(correction["ces_ratio"]))
    return Text("thin", style="dim") if correction.get("thin_strata") else Text("–")


def nps_text(figures: dict[str, Any]) -> str:
    """The window's NPS from -100 to +100 with its interval, compact ("+30 [17–42]"); "–" without NPS answers."""
    nps = figures.get("nps") or {}
    if nps.get("nps") is None:
        return "–"
    text = f"{nps['nps'] * 100:+.0f}"
    if nps.get("lower") is not None and nps.get("upper") is not None:
        text += f" [{nps['lower'] * 100:.0f}–{nps['upper'] * 100:.0f}]"
    return text


def goal_table(registry: GoalRegistry, snapshot: Snapshot, short: str, long: str) -> Table:
    """The table: a row per registry goal, CES of the short and the long window with their Wilson interval.

    Beside them the long window's CES corrected for non-response (/api/goals splits every window), and the
    share of the prompts sent that the app reported shown ("–" for an app that sends no prompt events).
    A CSAT goal's name says so: its figures are the CSAT share. NPS: of the long window, where the goal asks it.
    """
    table = Table(expand=True, header_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Goal", "left"),
        (f"CES {short}", "right"),
        (f"CES {long}", "right"),
        (f"Corr. {long}", "right"),
        (f"NPS {long}", "right"),
        ("Target", "right"),
        (f"Answers {short}", "right"),
        ("Response", "right"),
        ("Shown", "right"),
        ("Completion", "right"),
        (f"Time to complete {short}", "right"),
        ("Trend", "left"),
        ("Alerts", "left"),
    )
    for title, justify in columns:
        table.add_column(title, justify=justify)
    for goal in registry.goals:
        windows = snapshot.figures.get(goal.slug, {})
        now, day = windows.get(short, {}), windows.get(long, {})
        target = goal.target_ces_ratio
        below = target is not None and now.get("wilson_upper") is not None and now["wilson_upper"] < target
        alerts = "alerts off" if snapshot.alerts is None else ", ".join(snapshot.alerts.get(goal.slug, [])) or "–"
        ces_now = Text(_pct(now.get("ces_ratio")) + _interval(now), style="bold red" if below else "")
        table.add_row(
            goal.display_name.get("en", goal.slug) + (" (CSAT)" if goal.survey == "csat" else ""),
            ces_now,
            _pct(day.get("ces_ratio")) + _interval(day),
            _corrected(day),
            nps_text(day),
            _pct(target),
            str(now.get("answers", "–")),
            _pct(now.get("response_ratio")),
            _pct(now.get("shown_ratio")),  # None until the app reports a prompt shown
            _pct(now.get("completion_ratio")),
            _effort(now),
            sparkline(snapshot.history.get(goal.slug, [])),
            Text(alerts, style="bold red" if snapshot.alerts and snapshot.alerts.get(goal.slug) else "dim"),
        )
    return table


def screen(
    registry: GoalRegistry, snapshot: Snapshot, short: str, long: str, status: str, logs: str = ".ces-run"
) -> Group:
    """The whole screen: a status line, the table, and how to stop (``logs``: the run's folder of logs)."""
    return Group(
        Text(status, style="bold"),
        goal_table(registry, snapshot, short, long),
        Text(f"Ctrl-C stops everything `make run` started. Logs: {logs}/*.log", style="dim"),
    )


class Poller:
    """Reads the figures and the alerts, and keeps each goal's short-window CES history."""

    def __init__(self, worker_url: str, prometheus_url: str | None, short: str) -> None:
        self.worker_url = worker_url
        self.prometheus_url = prometheus_url
        self.short = short
        self.history: dict[str, deque[float | None]] = defaultdict(lambda: deque(maxlen=HISTORY))

    def poll(self) -> Snapshot:
        figures = _get_json(self.worker_url + "/api/goals") or {}
        for goal, windows in figures.items():
            self.history[goal].append(windows.get(self.short, {}).get("ces_ratio"))
        return Snapshot(figures, self._alerts(), {goal: list(values) for goal, values in self.history.items()})

    def _alerts(self) -> dict[str, list[str]] | None:
        if self.prometheus_url is None:
            return None
        query = urllib.parse.urlencode({"query": 'ALERTS{alertstate="firing"}'})
        body = _get_json(f"{self.prometheus_url}/api/v1/query?{query}")
        if body is None:
            return None
        firing: dict[str, list[str]] = defaultdict(list)
        for series in body.get("data", {}).get("result", []):
            labels = series["metric"]
            name = f"{labels.get('alertname')}({labels.get('severity', '')})"
            if name not in firing[labels.get("goal", "pipeline")]:
                firing[labels.get("goal", "pipeline")].append(name)
        return dict(firing)


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None
