"""The docs stay in step with the code, and every link and path in them holds.

The reference pages under ``docs/`` are checked against the code: the settings table in
``docs/configuration.md`` is generated from ``Settings`` (regenerate it with
``python -c "from stream.tools.settings_table import settings_table_markdown as t; print(t(), end='')"``);
every metric must be in ``docs/metrics.md``; every dead-letter reason and every JSON example
in ``docs/contracts.md`` must match the code. Every relative link in ``README.md`` and
``docs/`` points to a file (and heading) inside the repository, every ``stream/...`` path
they name exists, and nothing in the repository cites a document outside it.
``make docs`` (mkdocs build --strict) checks the links between pages once more.
"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

import schemas
from schemas import DeadLetterReason
from schemas.nps_summary import NpsSummary
from schemas.summary_example import NPS_EXAMPLE
from stream.observability.window_exposition import split_metric_names, window_metric_names
from stream.settings import Settings
from stream.tools.settings_table import settings_table_markdown

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS = PROJECT_ROOT / "docs"
DOC_PAGES = sorted(DOCS.glob("*.md"))
LINKED_FILES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CHANGELOG.md", *DOC_PAGES]


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


CONFIGURATION = page("configuration.md")
METRICS = page("metrics.md")
CONTRACTS = page("contracts.md")


# --- the reference pages against the code ---


def test_settings_table_is_the_generated_one() -> None:
    table = settings_table_markdown()
    assert table in CONFIGURATION, (
        "docs/configuration.md settings table is stale: paste the output of stream.tools.settings_table.settings_table_markdown()"
    )


def test_settings_table_has_a_row_per_field() -> None:
    rows = [line for line in settings_table_markdown().splitlines() if line.startswith("| `CES_")]
    assert len(rows) == len(Settings.model_fields)


def test_every_metric_is_in_the_metric_catalogue() -> None:
    observability = PROJECT_ROOT / "stream" / "observability"
    source = "".join(
        (observability / name).read_text(encoding="utf-8")
        for name in ("metrics.py", "window_exposition.py", "gateway_metrics.py")
    )
    # A metric name is the first argument of its constructor or WINDOW_GAUGES tuple, e.g.
    # Counter("ces_goal_events_total", ...) or ("ces_goal_answers", help, attribute).
    names = sorted(
        set(re.findall(r'\(\s*"(ces_[a-z0-9_]+)"', source)) | set(split_metric_names()) | set(window_metric_names())
    )
    assert len(names) >= 20  # the grep itself still finds the metric definitions
    missing = [name for name in names if f"`{name}`" not in METRICS]
    assert not missing, f"metrics missing from the docs/metrics.md catalogue: {missing}"


@pytest.mark.parametrize("reason", list(DeadLetterReason), ids=lambda r: r.value)
def test_every_dead_letter_reason_is_in_the_contracts(reason: DeadLetterReason) -> None:
    assert f"| `{reason.value}` |" in CONTRACTS


def test_every_json_example_is_a_valid_message() -> None:
    # Each example block follows a "**ModelName** (`topic`): ..." paragraph.
    blocks = re.findall(r"\*\*(\w+)\*\* \(`[a-z.-]+`\)(?:(?!\*\*|```).)*```json\n(.*?)\n```", CONTRACTS, flags=re.S)
    found = {name for name, _ in blocks}
    expected = {
        "GoalEvent",
        "SurveyPrompt",
        "SurveyAnswer",
        "PromptEvent",
        "FeedbackComment",
        "HighEffortAnswer",
        "GoalSummary",
        "ReleaseVerdict",
        "DeadLetter",
    }
    assert found == {*expected, "ErasureRequest"}
    for name, text in blocks:
        model = getattr(schemas, name)
        message = model.model_validate_json(text)
        assert json.loads(message.model_dump_json()) == json.loads(text), name


def test_the_nps_example_of_the_goal_summary_is_a_valid_nps_part() -> None:
    found = re.search(r"A goal that is an NPS moment carries `nps`(?:(?!```).)*```json\n(.*?)\n```", CONTRACTS, re.S)
    assert found, "docs/contracts.md shows the nps part of a GoalSummary"
    nps = NpsSummary.model_validate_json(found.group(1))
    assert json.loads(nps.model_dump_json()) == json.loads(found.group(1)) == NPS_EXAMPLE


# --- links and paths ---


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def heading_anchors(text: str) -> set[str]:
    """The ids mkdocs (Python-Markdown's toc) gives the headings of a page."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", without_code_blocks(text), flags=re.M):
        plain = re.sub(r"[`*]", "", heading)
        plain = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode("ascii")
        plain = re.sub(r"[^\w\s-]", "", plain).strip().lower()
        anchors.add(re.sub(r"[-\s]+", "-", plain))
    return anchors


def relative_links(path: Path) -> list[str]:
    links = re.findall(r"\]\(([^)\s]+)\)", without_code_blocks(path.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_points_into_the_repository(path: Path) -> None:
    broken = []
    for link in relative_links(path):
        target_text, _, anchor = link.partition("#")
        target = (path.parent / target_text).resolve() if target_text else path
        if not target.is_relative_to(PROJECT_ROOT):
            broken.append(f"{link}: leaves the repository")
        elif path.parent == DOCS and not target.is_relative_to(DOCS):
            broken.append(f"{link}: leaves docs/ (the site cannot link it; name the file as a code path)")
        elif not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in heading_anchors(target.read_text(encoding="utf-8")):
            broken.append(f"{link}: no such heading")
    assert not broken, broken


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = (PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in DOC_PAGES if not re.search(rf":\s*{re.escape(p.name)}\s*$", nav, flags=re.M)]
    assert not missing, f"docs pages missing from the nav of mkdocs.yml: {missing}"


# A path inside the repository as the docs write it: stream/ces/goals/stats.py, stream/ces/, tests/...
REPO_PATH = re.compile(r"(?<![\w./<-])((?:stream|schemas|tests|deploy)/[\w./-]*)")


@pytest.mark.parametrize("path", [PROJECT_ROOT / "README.md", *DOC_PAGES], ids=lambda p: p.name)
def test_every_code_path_in_the_docs_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    named = {match.rstrip(".") for match in REPO_PATH.findall(text)}
    missing = sorted(name for name in named if not (PROJECT_ROOT / name).exists())
    assert not missing, f"{path.name} names paths that do not exist: {missing}"


# Spelled in pieces, so this file does not cite them itself.
OUTSIDE_CITATIONS = (
    "DOMAIN" + ".md",
    "../" + "shared",
    "shared" + "/notes",
    "notes" + "/alerting",
    "alerting" + "-statistics",
)


def repository_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    suffixes = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".html", ""}
    return [PROJECT_ROOT / name for name in listed if Path(name).suffix in suffixes and (PROJECT_ROOT / name).is_file()]


def test_nothing_cites_a_document_outside_the_repository() -> None:
    citing = []
    for path in repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        citing += [f"{path.relative_to(PROJECT_ROOT)}: {c}" for c in OUTSIDE_CITATIONS if c in text]
    assert not citing, f"cite the docs/ page instead (docs/domain.md, docs/alert-statistics.md): {citing}"


def test_the_code_map_names_every_package_of_stream() -> None:
    architecture = page("architecture.md")
    packages = sorted(
        str(init.parent.relative_to(PROJECT_ROOT)) + "/"
        for init in (PROJECT_ROOT / "stream").rglob("__init__.py")
        if init.parent.name != "stream"
    )
    missing = [package for package in packages if f"`{package}" not in architecture]
    assert not missing, f"packages missing from the code map in docs/architecture.md: {missing}"
