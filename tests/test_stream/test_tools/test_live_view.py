"""The live view of `make run` renders known figures: CES with its interval, corrected CES, target, answers, the
share of prompts shown, trend, alerts."""

from __future__ import annotations

from rich.console import Console

from stream.ces.registry.loader import load_registry
from stream.tools.live_view import Snapshot, screen, sparkline
from tests.harness import write_registry

WORKED = {
    "answers": 100,
    "ces_ratio": 0.6,
    "wilson_lower": 0.4714,
    "wilson_upper": 0.7161,
    "response_ratio": 0.25,
    "completion_ratio": 0.75,
    "timed_completions": 80,
    "retry_ratio": 0.125,
    "duration_p50_seconds": 252.0,
    "effort_divergence": "slower but not rated harder",
}


def non_response(ces_ratio: float | None, thin: list[str]) -> dict:
    """The part of /api/goals' ``non_response`` the view reads."""
    return {"ces_ratio": ces_ratio, "lower": None, "upper": None, "thin_strata": thin}


def rendered(tmp_path, snapshot: Snapshot) -> str:
    registry = load_registry(
        write_registry(
            tmp_path / "goals.yaml",
            [
                {
                    "slug": "download-invoice",
                    "scale": {"kind": "five_point"},
                    "target_ces_ratio": 0.8,
                    "display_name": {"en": "Download invoice", "nl": "Factuur downloaden"},
                },
                {"slug": "view-policy", "scale": {"kind": "five_point"}, "target_ces_ratio": None},
            ],
        )
    )
    console = Console(record=True, width=220, color_system=None)  # every cell on one line
    console.print(screen(registry, snapshot, "10m", "24h", "ces-stream live"))
    return console.export_text()


def column(text: str, title: str) -> dict[str, str]:
    """Goal (first cell) -> the cell under ``title``, read from the rendered table's lines."""
    lines = text.splitlines()
    index = [cell.strip() for cell in next(line for line in lines if "┃ Goal" in line).split("┃")].index(title)
    rows = [[cell.strip() for cell in line.split("│")] for line in lines if line.startswith("│")]
    return {cells[1]: cells[index] for cells in rows}


def test_known_figures_render_in_their_columns(tmp_path):
    day = {**WORKED, "ces_ratio": 0.9, "wilson_lower": 0.85, "wilson_upper": 0.94}
    text = rendered(
        tmp_path,
        Snapshot(
            {"download-invoice": {"10m": WORKED, "24h": day}},
            {"download-invoice": ["CesBelowTarget(critical)"]},
            {"download-invoice": [0.9, 0.85, 0.6]},
        ),
    )
    row = next(line for line in text.splitlines() if "Download invoice" in line)
    cells = ("60% [47–72]", "90% [85–94]", "80%", "100", "25%", "75%", "CesBelowTarget(critical)", "█▇▅")
    for cell in (*cells, "4.2 min, 12% retried (slower but not rated harder)"):
        assert cell in row, cell
    quiet = next(line for line in text.splitlines() if "view-policy" in line)
    assert quiet.count("–") >= 5  # no figures yet: dashes, not zeros
    assert "Ctrl-C stops everything" in text


def test_the_corrected_ces_of_the_long_window_or_thin(tmp_path):
    # The worked example (docs/domain.md): blended 0.815, corrected 0.76.
    day = {**WORKED, "ces_ratio": 0.815, "non_response": non_response(0.76, [])}
    thin = {**WORKED, "non_response": non_response(None, ["abandoned/all"])}
    text = rendered(
        tmp_path,
        Snapshot({"download-invoice": {"10m": WORKED, "24h": day}, "view-policy": {"10m": WORKED, "24h": thin}}, None),
    )
    assert column(text, "Corr. 24h") == {"Download invoice": "76%", "view-policy": "thin"}
    assert column(text, "CES 24h")["Download invoice"] == "82% [47–72]"  # the blended CES beside it
    without_split = rendered(tmp_path, Snapshot({"download-invoice": {"10m": WORKED, "24h": WORKED}}, None))
    assert column(without_split, "Corr. 24h") == {"Download invoice": "–", "view-policy": "–"}


def test_the_share_of_prompts_shown_or_a_dash_for_an_app_that_reports_none(tmp_path):
    reports = {**WORKED, "prompts": 400, "shown": 300, "shown_ratio": 0.75, "response_ratio_shown": 1 / 3}
    silent = {**WORKED, "prompts": 400, "shown": 0, "shown_ratio": None}
    text = rendered(
        tmp_path,
        Snapshot({"download-invoice": {"10m": reports, "24h": reports}, "view-policy": {"10m": silent}}, None),
    )
    assert column(text, "Shown") == {"Download invoice": "75%", "view-policy": "–"}
    assert column(text, "Response")["Download invoice"] == "25%"  # still answers / prompts sent


def test_without_prometheus_the_view_says_alerts_are_off(tmp_path):
    text = rendered(tmp_path, Snapshot({"download-invoice": {"10m": WORKED}}, None))
    assert "alerts off" in text


def test_sparkline_scales_zero_to_one_and_leaves_gaps():
    assert sparkline([0.0, 0.5, 1.0, None]) == "▁▅█ "


def test_a_csat_goal_says_csat_and_the_nps_of_the_long_window_shows_compactly(tmp_path):
    registry = load_registry(
        write_registry(
            tmp_path / "goals.yaml",
            [
                {"slug": "buy", "scale": {"kind": "five_point"}, "nps_moment": True},
                {"slug": "chat", "scale": {"kind": "five_point"}, "survey": "csat"},
            ],
            nps={
                "question": {"en": "Recommend?", "nl": "Aanbevelen?"},
                "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
            },
        )
    )
    nps = {"nps": 0.3, "lower": 0.1722, "upper": 0.4172, "answers": 100}
    snapshot = Snapshot({"buy": {"10m": WORKED, "24h": {**WORKED, "nps": nps}}, "chat": {"24h": WORKED}}, None)
    console = Console(record=True, width=240, color_system=None)
    console.print(screen(registry, snapshot, "10m", "24h", "ces-stream live"))
    cells = column(console.export_text(), "NPS 24h")
    assert cells == {"buy": "+30 [17–42]", "chat (CSAT)": "–"}


def test_the_footer_names_the_runs_own_log_folder(tmp_path):
    registry = load_registry(
        write_registry(tmp_path / "goals.yaml", [{"slug": "view-policy", "scale": {"kind": "five_point"}}])
    )
    console = Console(record=True, width=220, color_system=None)
    console.print(screen(registry, Snapshot({}, None), "10m", "24h", "ces-stream live", logs="/tmp/my-run"))
    assert "Logs: /tmp/my-run/*.log" in console.export_text()
