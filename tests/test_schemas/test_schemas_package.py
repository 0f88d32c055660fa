"""The schemas package: public names, and imports limited to pydantic and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import schemas

PACKAGE_DIR = Path(schemas.__file__).resolve().parent
MODULES = sorted(PACKAGE_DIR.glob("*.py"))


def test_all_names_resolve_and_are_sorted() -> None:
    assert schemas.__all__ == sorted(schemas.__all__, key=lambda n: (not n.isupper(), n))
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name


def test_public_contract_names_are_exported() -> None:
    required = {
        "SCHEMA_VERSION", "GoalSlug", "UserId", "Locale", "Channel", "InputModel", "OutputModel",
        "GoalEventType", "GoalEvent", "PromptOutcome", "ScaleKind", "ScaleLabel", "ScaleSpec", "SurveyPrompt",
        "MAX_COMMENT_CHARS", "SurveyAnswer", "GoalSummary", "FeedbackComment", "DeadLetterReason", "DeadLetter",
    }  # fmt: skip
    assert required <= set(schemas.__all__)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_imports_only_pydantic_stdlib_and_itself(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"pydantic", "schemas", "__future__"}
    assert imported <= allowed, imported - allowed
