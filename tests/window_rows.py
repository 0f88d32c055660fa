"""A stand-in for GoalWindows as the window exposition reads it: rows of (goal, spec, figures)."""

from __future__ import annotations

from typing import Any


class RowsSource:
    """Rows of (goal, window spec, figures) and the goals this worker owns (by default, every goal in the rows).

    ``calls`` counts the rows read; ``keys`` may pin a goal's rows key (a fresh object is never
    equal, so by default the rows are read again at every scrape).
    """

    def __init__(self, rows: list[tuple[str, Any, Any]], owned: list[str] | None = None) -> None:
        self.rows = rows
        self.owned = owned
        self.calls = 0
        self.keys: dict[str, object] = {}

    def goal_rows(self, goal: str, now_s: float) -> list[tuple[str, Any, Any]]:
        self.calls += 1
        return [row for row in self.rows if row[0] == goal]

    def rows_key(self, goal: str, now_s: float) -> object:
        return self.keys.get(goal, object())

    def owned_goals(self) -> list[str]:
        return list(self.owned) if self.owned is not None else sorted({row[0] for row in self.rows})
