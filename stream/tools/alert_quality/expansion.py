"""The generated alert expressions with their recording rules expanded (text only, no Prometheus).

``ces-stream alert-quality`` backfills the worker's gauges only, not recorded series: the
alert expression is rewritten to compute every recorded series from its rule's expression.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stream.errors import CesError

MARK = "alert_quality_match"  # temporary label that applies a selector's matchers to an expanded expression


def recording_rules(rules: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every recording rule of the file by its record name (one name may have a rule per goal)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                out.setdefault(rule["record"], []).append(rule)
    return out


_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def expand_recorded(expr: str, recorded: dict[str, list[dict[str, Any]]], _seen: tuple[str, ...] = ()) -> str:
    """``expr`` with every recorded series replaced by its rule's expression, recursively, parenthesised.

    A recording rule's ``labels`` are set with ``label_replace``, the rules of one name are
    joined with ``or``, and the matchers of a selector (``name{window=~"10m|1h"}``) are applied
    to the expansion (:func:`_matched`): the result is what Prometheus would read from the
    recorded series, without having to record them over history.

    :raises CesError: for a cycle, or a range or offset on a recorded series.
    """
    if not recorded:
        return expr
    names = "|".join(re.escape(name) for name in sorted(recorded, key=len, reverse=True))
    selector = re.compile(r"(?<![\w:])(" + names + r")(?![\w:])(\s*\{[^}]*\})?(\s*(?:\[|offset\b|@))?")

    def replace(match: re.Match[str]) -> str:
        name, matchers, after = match.groups()
        if after:
            raise CesError(f"cannot expand {name}: a range, offset or @ on a recorded series")
        if name in _seen:
            raise CesError(f"recording rules refer to each other in a cycle: {' -> '.join((*_seen, name))}")
        parts = []
        for rule in recorded[name]:
            part = f"({expand_recorded(rule['expr'], recorded, (*_seen, name))})"
            for label, value in rule.get("labels", {}).items():
                part = f'label_replace({part}, "{label}", {json.dumps(str(value))}, "", "")'
            parts.append(part)
        return _matched(f"({' or '.join(parts)})", (matchers or "").strip()[1:-1])

    return selector.sub(replace, expr)


def _matched(expr: str, matchers: str) -> str:
    """``expr`` keeping only the series that match ``matchers`` (the inside of a selector's braces).

    Each matcher marks the series whose label matches (``label_replace`` with the matcher's
    regex, anchored as in a selector) and keeps (``and``) or drops (``unless``) the marked ones.
    """
    position = 0
    while position < len(matchers):
        found = _MATCHER.match(matchers, position)
        if found is None:
            raise CesError(f"cannot read the label matchers {{{matchers}}}")
        label, op, raw = found.groups()
        regex = raw if op in ("=~", "!~") else json.dumps(_regex_literal(json.loads(f'"{raw}"')))[1:-1]
        marked = f'label_replace({expr}, "{MARK}", "1", "{label}", "{regex}")'
        keep = "and" if op in ("=", "=~") else "unless"
        expr = (
            f'label_replace(({marked} {keep} on ({MARK}) label_replace(vector(1), "{MARK}", "1", "", "")),'
            f' "{MARK}", "", "", "")'
        )
        position = found.end()
    return expr


def _regex_literal(text: str) -> str:
    """A regex matching exactly ``text`` (only RE2's metacharacters escaped)."""
    return re.sub(r"([.+*?()|\[\]{}^$\\])", r"\\\1", text)
