"""The README's reference sections stay in step with the code.

The settings table is generated from ``Settings`` (regenerate it with
``python -c "from stream.settings import settings_table_markdown as t; print(t(), end='')"``);
every metric, every dead-letter reason and every JSON example must match the code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import schemas
from schemas import DeadLetterReason
from stream.observability.metrics import split_metric_names
from stream.settings import Settings, settings_table_markdown

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_is_the_generated_one() -> None:
    table = settings_table_markdown()
    assert table in README, (
        "README settings table is stale: paste the output of stream.settings.settings_table_markdown()"
    )


def test_settings_table_has_a_row_per_field() -> None:
    rows = [line for line in settings_table_markdown().splitlines() if line.startswith("| `CES_")]
    assert len(rows) == len(Settings.model_fields)


def test_every_metric_is_in_the_readme() -> None:
    source = (PROJECT_ROOT / "stream" / "observability" / "metrics.py").read_text(encoding="utf-8")
    # A metric name is the first argument of its constructor or WINDOW_GAUGES tuple, e.g.
    # Counter("ces_goal_events_total", ...) or ("ces_goal_answers", help, attribute).
    names = sorted(set(re.findall(r'\(\s*"(ces_[a-z0-9_]+)"', source)) | set(split_metric_names()))
    assert len(names) >= 20  # the grep itself still finds the metric definitions
    missing = [name for name in names if f"`{name}`" not in README]
    assert not missing, f"metrics missing from the README metric catalogue: {missing}"


@pytest.mark.parametrize("reason", list(DeadLetterReason), ids=lambda r: r.value)
def test_every_dead_letter_reason_is_in_the_readme(reason: DeadLetterReason) -> None:
    assert f"| `{reason.value}` |" in README


def test_every_json_example_is_a_valid_message() -> None:
    # Each example block follows a "**ModelName** (`topic`): ..." paragraph.
    blocks = re.findall(r"\*\*(\w+)\*\* \(`[a-z.-]+`\)(?:(?!\*\*|```).)*```json\n(.*?)\n```", README, flags=re.S)
    found = {name for name, _ in blocks}
    assert found == {"GoalEvent", "SurveyPrompt", "SurveyAnswer", "FeedbackComment", "GoalSummary", "DeadLetter"}
    for name, text in blocks:
        model = getattr(schemas, name)
        message = model.model_validate_json(text)
        assert json.loads(message.model_dump_json()) == json.loads(text), name
