"""The comment themes in ``ces-stream report``, without a broker: the constructed month of ``theme_month`` as
feedback comments of one goal in March 2025, the report built and rendered, and the themes read back from
the HTML (and from headless Chromium's DOM).

What the report shows is checked against :func:`~stream.ces.comments.themes.find_themes` on the same comments,
split at the middle of March, and against what was planted: three themes, the sms one rising.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from stream.ces.registry.loader import load_registry
from stream.tools.report.figures import build_report, period_of
from stream.tools.report.html import render_report
from tests.browser import dump_dom
from tests.harness import write_registry
from tests.paths import PROJECT_ROOT
from tests.report_records import CONFIDENCE, JANUARY_GOALS
from tests.test_stream.test_tools.test_report.theme_records import (
    GOAL,
    NOW,
    assert_themes_shown,
    expected_themes,
    march_comments,
    theme_fields,
)


@pytest.fixture
def html(tmp_path) -> str:
    registry = load_registry(write_registry(tmp_path / "goals.yaml", JANUARY_GOALS))
    period = period_of("month", date(2025, 3, 1), None, NOW.date())
    report = build_report(registry, [], march_comments(), period, "24h", confidence=CONFIDENCE, now=NOW, goals=[GOAL])
    return render_report(report)


def test_the_report_shows_each_theme_with_its_figures_and_comments(html):
    fields = theme_fields(html)
    assert_themes_shown(fields, expected_themes(march_comments()))
    assert "&lt;Submit&gt; button does nothing &amp;" in html  # escaped, and read back as written above
    assert "<Submit>" not in html and "<script" not in html.lower()
    assert not any("recommend" in value.lower() for name, value in fields.items() if name.startswith("theme-"))


def test_a_goal_without_enough_comments_says_why_there_are_no_themes(tmp_path):
    registry = load_registry(write_registry(tmp_path / "goals.yaml", JANUARY_GOALS))
    period = period_of("month", date(2025, 3, 1), None, NOW.date())
    few = march_comments()[:3]
    report = build_report(registry, [], few, period, "24h", confidence=CONFIDENCE, now=NOW, goals=[GOAL])
    fields = theme_fields(render_report(report))
    assert fields["no_themes"].startswith("No themes in 3 comments")
    assert "theme-1-label" not in fields


@pytest.mark.external("chromium")
def test_chromium_shows_the_themes(html, tmp_path):
    out = tmp_path / "report.html"
    out.write_text(html, encoding="utf-8")
    assert_themes_shown(theme_fields(dump_dom(out.as_uri(), tmp_path)), expected_themes(march_comments()))


@pytest.mark.external  # a Python of its own: this one has imported everything already
def test_the_command_line_loads_numpy_and_scikit_learn_only_to_build_a_report():
    code = "import sys, stream.tools.cli; print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert loaded.stdout.strip() == "[]"  # every command, the worker too, would pay a second to import them
