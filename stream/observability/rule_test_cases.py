"""How a promtool unit test of one alert is built: input series, the boundary of its ``for``, the alert expected.

The cases themselves are in :mod:`stream.observability.rule_tests`.
"""

from __future__ import annotations

from typing import Any

from stream.ces.goals import parse_duration
from stream.ces.registry import GoalRegistry
from stream.observability import rules as r
from stream.settings import Settings

INSTANCE = {"job": r.JOB, "instance": "worker-0:6066"}


def input_series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in {**labels, **INSTANCE}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def minutes(duration: str) -> int:
    return parse_duration(duration) // 60


def boundary(alert: str, for_: str, expected: list[dict[str, Any]], *, start_min: int = 0) -> list[dict[str, Any]]:
    """Silent one evaluation before ``for`` has passed since ``start_min``, firing right at it."""
    fire_at = start_min + minutes(for_)
    return [
        {"eval_time": f"{fire_at - 1}m", "alertname": alert, "exp_alerts": []},
        {"eval_time": f"{fire_at}m", "alertname": alert, "exp_alerts": expected},
    ]


def expected_alert(rule: dict[str, Any], labels: dict[str, str], description: str) -> dict[str, Any]:
    annotations = dict(rule["annotations"])
    annotations["description"] = description
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}


def wilson_upper(p: float, n: int, z: float) -> float:
    """The upper Wilson bound as the recording rule computes it."""
    z2 = z * z
    return min(1.0, ((p + z2 / (2 * n)) + z * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5) / (1 + z2 / n))


def pct(value: float) -> str:
    """Prometheus' humanizePercentage: %.4g of the percentage."""
    return f"{value * 100:.4g}%"


class AlertCases:
    """The generated rules of one settings and registry, and one alert's boundary test from them."""

    def __init__(self, settings: Settings, registry: GoalRegistry) -> None:
        self.settings = settings
        self.plan = r.AlertPlan(settings)
        self.rules = {
            (rule["alert"], rule["labels"]["severity"]): rule
            for group in r.rule_file(settings, registry)["groups"]
            for rule in group["rules"]
            if "alert" in rule
        }
        with_target = [g for g in registry.goals if g.target_ces_ratio is not None]
        self.goal = (with_target or list(registry.goals))[0]
        others = [g for g in registry.goals if g.slug != self.goal.slug]
        self.quiet = others[0] if others else None
        self.registry = registry

    def rule(self, alert: str, severity: str) -> dict[str, Any]:
        return self.rules[(alert, severity)]

    def case(
        self,
        alert: str,
        severity: str,
        series: list[dict[str, str]],
        labels: dict[str, str],
        description: str,
        *,
        start_min: int = 0,
        name: str | None = None,
    ) -> dict[str, Any]:
        """One alert's boundary test: ``series`` make it true from ``start_min``; it fires with ``labels``."""
        rule = self.rule(alert, severity)
        return {
            "name": name or alert,
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": boundary(
                alert, rule["for"], [expected_alert(rule, labels, description)], start_min=start_min
            ),
        }
