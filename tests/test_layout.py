"""The code map holds: imports go one way, pure code stays pure, modules and functions stay small.

Layers, lowest first (docs/architecture.md "Code map"): a module may import its own layer and the
layers below it, never above; ``infra`` and ``observability`` are side by side and do
not import each other. Every import is checked, also the ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STREAM = Path(__file__).resolve().parent.parent / "stream"

LAYERS = {
    "stream.errors": 0,
    "stream.ces": 1,
    "stream.alert_settings": 2,  # a base class of Settings, just below it
    "stream.settings": 3,
    "stream.infra": 4,
    "stream.observability": 4,
    "stream.pipeline": 5,
    "stream.tools": 6,
}
# Inside the pure layer, the stages' packages are layers too: the registry is what everything
# reads; intake and goals stand side by side; the user stage decides with both below it.
CES_LAYERS = {
    "stream.ces.registry": 0,
    "stream.ces.releases": 0,  # per-release counts and verdicts: the goal buckets hold them
    "stream.ces.intake": 1,
    "stream.ces.goals": 1,
    "stream.ces.users": 2,
}
# Pure: no Kafka client, no Faust, no Prometheus, no web server.
PURE = ("stream.ces", "stream.pipeline.continuity")
IMPURE_LIBRARIES = ("faust", "mode", "aiokafka", "kafka", "prometheus_client", "aiohttp")

# Measured on code as `ruff format` lays it out (CI checks that it does), so a module cannot be packed
# to fit: past these sizes, split where the concepts split.
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100
# Over the limits on purpose:
LONG_MODULES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(STREAM.rglob("*.py")):
        parts = path.relative_to(STREAM.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return out


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str, layers: dict[str, int] = LAYERS) -> tuple[str, int] | None:
    for prefix, layer in layers.items():
        if module == prefix or module.startswith(prefix + "."):
            return prefix, layer
    return None


def test_every_module_has_a_layer():
    assert [name for name, _ in modules() if name != "stream" and layer_of(name) is None] == []


def upward_imports(name: str, imported: set[str], layers: dict[str, int] = LAYERS) -> list[str]:
    """The imports of module ``name`` that reach above its layer or into a side-by-side one."""
    own = layer_of(name, layers)
    wrong = []
    for module in imported:
        target = layer_of(module, layers)
        if own is None or target is None or target[0] == own[0]:
            continue
        if target[1] >= own[1]:
            wrong.append(module)
    return sorted(wrong)


def impure_imports(imported: set[str]) -> list[str]:
    return sorted(module for module in imported if module.split(".")[0] in IMPURE_LIBRARIES)


@pytest.mark.parametrize(("name", "path"), modules(), ids=[name for name, _ in modules()])
def test_imports_go_down_the_layers_only(name, path):
    assert upward_imports(name, imports_of(path)) == [], f"{name} imports above or beside its layer"
    assert upward_imports(name, imports_of(path), CES_LAYERS) == [], f"{name} imports a later stage's logic"


@pytest.mark.parametrize(
    ("name", "path"),
    [m for m in modules() if m[0].startswith(PURE)],
    ids=[m[0] for m in modules() if m[0].startswith(PURE)],
)
def test_pure_modules_import_no_kafka_faust_or_prometheus(name, path):
    assert impure_imports(imports_of(path)) == [], f"{name} is pure logic"


def test_the_checks_see_a_wrong_import(tmp_path):
    """The checks above fail when they should, also for an import inside a function."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import faust\nfrom stream.ces.registry.scales import Scale\n\ndef f():\n    from stream.pipeline.app import Pipeline\n"
    )
    found = imports_of(bad)
    assert impure_imports(found) == ["faust"]
    assert upward_imports("stream.ces.goals.windows", found) == ["stream.pipeline.app", "stream.pipeline.app.Pipeline"]
    assert upward_imports("stream.infra.topics", {"stream.observability.metrics"}) == ["stream.observability.metrics"]
    assert upward_imports("stream.tools.cli", found) == []
    assert upward_imports("stream.ces.goals.stats", {"stream.ces.users.state"}, CES_LAYERS) == [
        "stream.ces.users.state"
    ]
    assert upward_imports("stream.ces.intake.envelope", {"stream.ces.goals"}, CES_LAYERS) == ["stream.ces.goals"]


def test_modules_and_functions_stay_small():
    long_modules, long_functions = [], []
    for name, path in modules():
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES and name not in LONG_MODULES:
            long_modules.append(name)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = f"{name}.{node.name}"
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and qualified not in LONG_FUNCTIONS:
                    long_functions.append(qualified)
    assert (long_modules, long_functions) == ([], [])
