"""The settings table of docs/configuration.md, generated from :class:`~stream.settings.Settings`.

``tests/test_docs.py`` checks the page holds exactly this table; after a change to the settings, paste
the output of ``python -c "from stream.tools.settings_table import settings_table_markdown as t; print(t(), end='')"``.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, SecretStr

from stream.settings import ENV_PREFIX, Settings


def field_order(model: type[BaseModel]) -> list[str]:
    """The fields of ``model`` itself in their order, then those it inherits (a base class holds a command's settings)."""
    own = inspect.get_annotations(model)
    names = list(model.model_fields)
    return [name for name in names if name in own] + [name for name in names if name not in own]


def settings_table_markdown() -> str:
    """The settings table of docs/configuration.md: one row per :class:`Settings` field (env var, default, description)."""

    def show(value: Any) -> str:
        if value is None:
            return "(unset)"
        if isinstance(value, SecretStr):
            return "(development key)"
        return f"`{','.join(value) if isinstance(value, tuple) else value}`"

    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for name in field_order(Settings):
        field = Settings.model_fields[name]
        # Literal[...] or Literal[...] | None: list the allowed values.
        types = (field.annotation, *get_args(field.annotation))
        literals = [value for t in types if get_origin(t) is Literal for value in get_args(t)]
        choices = f" One of {', '.join(f'`{a}`' for a in literals)}." if literals else ""
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {show(field.default)} | {field.description}{choices} |")
    return "\n".join(rows) + "\n"
