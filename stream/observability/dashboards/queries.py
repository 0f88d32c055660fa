"""A dashboard's queries as Prometheus gets them: variables and Grafana's macros filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator

MACRO_VALUES = {"__rate_interval": "5m", "__interval": "5m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")  # $name, ${name}, ${name:format}


def panel_queries(dashboard: dict, variables: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, PromQL as Prometheus gets it) for every query of every panel, nested ones included.

    Variables not in ``variables`` take the dashboard's default (their ``current`` value), Grafana's
    macros ``MACRO_VALUES``; a single value in a regex matcher (``goal=~"$goal"``) is a valid regex.

    :raises ValueError: for a variable with neither a value nor a default.
    """
    values = {**MACRO_VALUES, **_defaults(dashboard), **variables}
    return [
        (panel.get("title", ""), _filled(target["expr"], values, f"panel {panel.get('title', '')!r}"))
        for panel in _walk(dashboard.get("panels", []))
        for target in panel.get("targets") or []
    ]


def annotation_queries(dashboard: dict, variables: dict[str, str]) -> list[tuple[str, str]]:
    """(annotation name, PromQL as Prometheus gets it) for every annotation with a query, as :func:`panel_queries`.

    Grafana runs them as range queries over the dashboard's time range (at the annotation's ``step``).
    """
    values = {**MACRO_VALUES, **_defaults(dashboard), **variables}
    return [
        (annotation["name"], _filled(annotation["expr"], values, f"annotation {annotation['name']!r}"))
        for annotation in dashboard.get("annotations", {}).get("list", [])
        if annotation.get("expr")
    ]


def _filled(expr: str, values: dict[str, str], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"{where}: no value for ${name}")
        return str(values[name])

    return _VARIABLE.sub(value, expr)


def _defaults(dashboard: dict) -> dict[str, str]:
    variables = dashboard.get("templating", {}).get("list", [])
    currents = {variable["name"]: (variable.get("current") or {}).get("value") for variable in variables}
    return {name: value for name, value in currents.items() if isinstance(value, str) and value}


def _walk(panels: list[dict]) -> Iterator[dict]:
    """Every panel in order, rows and the panels inside rows included."""
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels") or [])
