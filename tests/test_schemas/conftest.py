"""Factory fixtures for the schema tests: example payloads with changes, and JSON Schema validators."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from schemas.examples import example_payload
from schemas.generate import MESSAGE_MODELS, SCHEMA_DIR, SCHEMA_SUFFIX

PayloadFactory = Callable[..., dict[str, Any]]


def _set_path(payload: Any, path: str, value: Any) -> None:
    # "scale.labels.0.value": dict keys and list indices separated by dots.
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


@pytest.fixture
def payload() -> PayloadFactory:
    """Return ``make(model, changes=None, drop=())``: the model's valid example, changed.

    ``changes`` maps dotted paths (``"scale.labels.0.value"``) to new values; ``drop`` lists top-level
    fields to remove.
    """

    def make(
        model: type[BaseModel], changes: Mapping[str, Any] | None = None, drop: Iterable[str] = ()
    ) -> dict[str, Any]:
        data = example_payload(model)
        for path, value in (changes or {}).items():
            _set_path(data, path, value)
        for field in drop:
            del data[field]
        return data

    return make


@pytest.fixture
def schema_validator() -> Callable[[type[BaseModel]], Draft202012Validator]:
    """Return ``validator(model)``: a validator for the model's generated JSON Schema file (formats checked)."""
    stems = {model: stem for stem, model in MESSAGE_MODELS.items()}

    def validator(model: type[BaseModel]) -> Draft202012Validator:
        schema = json.loads((SCHEMA_DIR / f"{stems[model]}{SCHEMA_SUFFIX}").read_text(encoding="utf-8"))
        return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    return validator
