"""Loading the goal registry file: YAML that rejects duplicate keys, and one line per problem.

A bad file fails at start with :class:`~stream.errors.RegistryError`, naming the file,
the goal and the field path, e.g.
``goals.yaml: goal 'file-claim': scale.positive: 9 is not a point of the five_point scale (1..5)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from stream.ces.registry.model import Defaults, GoalRegistry
from stream.errors import RegistryError


class _UniqueKeyLoader(yaml.CSafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            # "<<" merge keys may legitimately be overridden; only explicit scalar keys are checked.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_registry(path: str | Path) -> GoalRegistry:
    """Load and validate the goal registry.

    :param path: the YAML file, e.g. ``deploy/goals.yaml``.
    :returns: the validated registry.
    :raises RegistryError: when the file is missing or unreadable, is not YAML (message
        names the line), or is not a valid registry (one line per problem, naming the
        file, the goal slug and the field path).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(f"{name}: goal registry file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{name}: cannot read the goal registry: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise RegistryError(f"{name}: {where}invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"{name}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RegistryError(f"{name}: expected a mapping with version, defaults and goals, got {got}")
    raw_goals = data.get("goals")
    # Check the defaults alone first, so a bad default is reported once, not once per goal.
    defaults = data.get("defaults", {})
    try:
        Defaults.model_validate(defaults if defaults is not None else {})
    except ValidationError as exc:
        raise RegistryError(_describe(name, exc, raw_goals, prefix=("defaults",))) from None
    try:
        return GoalRegistry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(_describe(name, exc, raw_goals)) from None


def _describe(file: str, error: ValidationError, raw_goals: Any, prefix: tuple[str | int, ...] = ()) -> str:
    """One line per validation problem: file, goal slug (when in a goal) and dotted field path."""
    lines = []
    for item in error.errors(include_url=False):
        loc = prefix + tuple(item["loc"])
        if item["type"] == "registry" and item["ctx"]["field"]:
            loc += tuple(int(part) if part.isdigit() else part for part in item["ctx"]["field"].split("."))
        message = _message(item)
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
            loc, message = loc[:-1], f"invalid key: {message}"
        lines.append(f"{file}: {_where(loc, raw_goals)}{message}")
    return "\n".join(lines)


def _where(loc: tuple[str | int, ...], raw_goals: Any) -> str:
    if len(loc) >= 2 and loc[0] == "goals" and isinstance(loc[1], int):
        index, rest = loc[1], loc[2:]
        slug = None
        if isinstance(raw_goals, list) and index < len(raw_goals) and isinstance(raw_goals[index], dict):
            slug = raw_goals[index].get("slug")
        goal = f"goal {slug!r}: " if isinstance(slug, str) else f"goals[{index}]: "
        return goal + (f"{_dotted(rest)}: " if rest else "")
    return f"{_dotted(loc)}: " if loc else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _message(item: ErrorDetails) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind == "registry":
        return item["msg"]
    value = item.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        shown = repr(value)
        return f"{item['msg']} (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    return item["msg"]
