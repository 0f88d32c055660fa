"""The CES page at ``/`` (stream/pipeline/web/ces.html) and ``/api/registry``, without a broker.

The page is checked for external URLs as text, and rendered in headless Chromium against a
stub of the worker's API: one goal with figures, one without answers, and one that another
worker serves (missing from this worker's ``/api/goals``). Its table must fit a 1280 px window.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stream.ces.registry.loader import load_registry
from stream.pipeline.page import ces_page_html, registry_json
from tests.browser import dump_dom, fields_by_goal, screenshot
from tests.harness import write_registry

EMPTY = {"answers": 0, "ces_ratio": None, "wilson_lower": None, "wilson_upper": None}


def window(answers: int, ces_ratio: float | None, lower: float | None = None, upper: float | None = None, **more):
    return {"answers": answers, "ces_ratio": ces_ratio, "wilson_lower": lower, "wilson_upper": upper, **more}


def non_response(ces_ratio, lower, upper, *, thin=(), silent=(None, None)):
    """The ``non_response`` part of a window in /api/goals (strata and cells left out: the page does not read them)."""
    return {
        "ces_ratio": ces_ratio,
        "lower": lower,
        "upper": upper,
        "min_answers_per_stratum": 10,
        "asked_outcomes": ["completed", "abandoned"],
        "strata": [],
        "cells": [],
        "thin_strata": list(thin),
        "unasked_attempts": 0,
        "complete": True,
        "if_silent_dissatisfied": silent[0],
        "if_silent_satisfied": silent[1],
    }


SPLIT_7D = {
    "by_outcome": {"completed": {"answers": 60, "ces_ratio": 50 / 60}, "abandoned": {"answers": 25, "ces_ratio": 0.24}},
    "at_exits": {"answers": 40, "ces_ratio": 0.25},
    "exit_gap": {"ces_ratio_gap": -0.5833, "lower": -0.7422, "upper": -0.3279, "significant": True},
    # The worked example (docs/domain.md): 800 completions answering 30 % with CES 0.85, 200 abandonments
    # answering 10 % with CES 0.40, every attempt prompted: 0.8 x 0.85 + 0.2 x 0.40 = 0.76; bounds 212 / 1000
    # and (212 + 740) / 1000.
    "non_response": non_response(0.76, 0.6851, 0.8349, silent=(0.212, 0.952)),
}
# The funnel of an app that reports prompt events: 400 sent, 320 shown, 96 of them dismissed, 100 answered.
FUNNEL_7D = {
    "prompts": 400,
    "shown": 320,
    "dismissed": 96,
    "response_ratio": 0.25,
    "shown_ratio": 0.8,
    "dismissal_ratio": 0.3,
    "response_ratio_shown": 0.3125,
}
# An app that sends no prompt events: nothing shown, no ratio over shown.
FUNNEL_24H = {
    "prompts": 200,
    "shown": 0,
    "dismissed": 0,
    "response_ratio": 0.25,
    "shown_ratio": None,
    "dismissal_ratio": None,
    "response_ratio_shown": None,
}
# /api/goals of a worker that owns two of the three goals; windows listed out of order on purpose.
API_GOALS = {
    "download-invoice": {
        "7d": window(100, 0.6, 0.4714, 0.7161, **SPLIT_7D, **FUNNEL_7D),
        "10m": window(0, None),
        "1h": window(
            20,
            0.7,
            0.43,
            0.88,
            timed_completions=120,
            retry_ratio=0.125,
            duration_p50_seconds=252.0,
            effort_divergence="slower but not rated harder",
        ),
        "24h": window(50, 0.64, 0.46, 0.79, **FUNNEL_24H),
    },
    "view-policy": {
        **{name: dict(EMPTY) for name in ("10m", "1h", "24h")},
        # Five completions, none prompted (nor answered): too thin to correct, no prompts for bounds.
        "7d": {**EMPTY, "non_response": non_response(None, None, None, thin=["completed/all"])},
    },
}
REGISTRY = {
    "goals": [
        {
            "slug": "download-invoice",
            "display_name": "Download invoice",
            "target_ces_ratio": 0.8,
            "scale_kind": "five_point",
        },
        {
            "slug": "view-policy",
            "display_name": "View policy",
            "target_ces_ratio": 0.75,
            "scale_kind": "five_point_inverted",
        },
        {
            "slug": "file-claim",
            "display_name": "File <b>claim</b>",
            "target_ces_ratio": 0.7,
            "scale_kind": "five_point",
        },
    ]
}


def test_the_page_loads_nothing_from_elsewhere():
    page = ces_page_html()
    assert page.startswith("<!doctype html>")
    assert re.findall(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE) == []
    assert re.findall(r"<(?:link|img|iframe)\b|\bsrc=|@import|url\(", page, re.IGNORECASE) == []
    assert "api/goals" in page and "api/registry" in page and "setInterval(refresh, REFRESH_MS)" in page
    assert "const REFRESH_MS = 15000;" in page


def test_the_page_explains_the_corrected_ces_and_writes_its_figures_as_text():
    page = ces_page_html()
    footer = " ".join(re.search(r"<footer.*?</footer>", page, re.DOTALL).group(0).split())
    assert (
        "<b>Corrected</b>: the CES weighed by attempts per outcome and channel instead of by answers "
        "(users who gave up answer less often)" in footer
    )
    assert "the <b>bounds</b> assume every prompted user who stayed silent found it hard, or easy." in footer
    corrected = re.search(r"function correctedCell\(.*?\n}\n", page, re.DOTALL).group(0)
    assert "non_response" in corrected and '"too thin"' in corrected
    assert "innerHTML" not in corrected  # figures and stratum names are text, never markup
    assert page.count("innerHTML") == 1  # only the sparkline, built from numbers and escaped labels


def test_the_page_explains_which_prompts_the_response_ratio_is_over():
    page = ces_page_html()
    footer = " ".join(re.search(r"<footer.*?</footer>", page, re.DOTALL).group(0).split())
    assert (
        "<b>Answers</b> also shows the prompts sent → shown → answered (dismissed) and the response ratio: answers "
        "over the prompts shown where the app reports which prompts it showed, else over the prompts sent "
        "(sent → answered)." in footer
    )
    answers = re.search(r"function answersCell\(.*?\n}\n", page, re.DOTALL).group(0)
    assert "response_ratio_shown" in answers and "innerHTML" not in answers


def test_registry_json_lists_every_goal_with_name_target_and_scale(tmp_path):
    path = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": "a", "display_name": {"en": "Goal A", "nl": "Doel A"}, "scale": {"kind": "five_point"}},
            {"slug": "b", "scale": {"kind": "emoticon"}, "target_ces_ratio": None},
        ],
    )
    common = {"enabled": True, "survey": "ces", "nps_moment": False}
    assert registry_json(load_registry(path)) == {
        "nps_high_effort_min_answers": None,
        "goals": [
            {"slug": "a", "display_name": "Goal A", "target_ces_ratio": 0.8, "scale_kind": "five_point", **common},
            {"slug": "b", "display_name": "b", "target_ces_ratio": None, "scale_kind": "emoticon", **common},
        ],
    }


def test_registry_json_says_which_goals_ask_csat_and_nps():
    page_registry = registry_json(load_registry("deploy/goals.yaml"))
    goals = {goal["slug"]: goal for goal in page_registry["goals"]}
    assert goals["chat-with-support"]["survey"] == "csat"
    assert goals["complete-purchase"]["nps_moment"] and goals["finish-onboarding"]["nps_moment"]
    assert not goals["chat-with-support"]["nps_moment"]
    assert page_registry["nps_high_effort_min_answers"] == 30


@pytest.fixture
def stub_worker():
    """Factory: a stub of the worker's web server (the real page unless told, fixed API answers); returns the
    page's URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(goals: dict, ready: bool = True, page: str | None = None, registry: dict | None = None) -> str:
        answers = {
            "/": ("text/html", page or ces_page_html()),
            "/api/registry": ("application/json", json.dumps(registry or REGISTRY)),
            "/api/goals": ("application/json", json.dumps(goals)),
            "/health": ("application/json", json.dumps({"ready": ready, "assigned_partitions": []})),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content_type, body = answers.get(self.path, ("text/plain", ""))
                self.send_response(200 if self.path in answers else 404)
                self.send_header("Content-Type", content_type + "; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.external("chromium")
def test_the_page_renders_served_empty_and_elsewhere_goals(stub_worker, tmp_path):
    url = stub_worker(API_GOALS)
    dom = dump_dom(url, tmp_path)
    rows = dict(fields_by_goal(dom))
    assert list(rows) == ["download-invoice", "view-policy", "file-claim"]  # registry order

    invoice = rows["download-invoice"]
    # Short and long: 1h and 7d, present here; interval, answers and the split are the 7d window's.
    assert (invoice["ces_short"], invoice["ces_long"], invoice["target"]) == ("70 %", "60 %", "80 %")
    assert (invoice["interval"], invoice["answers"]) == ("47–72 %", "100")
    assert invoice["completion_vs_exits"] == "83 % vs 25 %"
    assert invoice["completion_vs_exits_answers"] == "60 / 40 answers"
    assert invoice["exit_gap"] == "exits significantly harder"
    assert (invoice["status"], invoice["data-status"]) == ("below target", "below")  # upper 0.7161 < 0.8
    # Measured effort: the short window's.
    assert invoice["duration_median"] == "4.2 min median"
    assert invoice["effort_retried"] == "13 % retried · 120 timed"
    assert invoice["effort_divergence"] == "slower but not rated harder"
    assert "Time to complete (1h)" in dom
    assert rows["view-policy"]["duration_median"] == "–"  # no timed completions
    # The funnel of the 7d window: its app reports prompts shown, so the response ratio is over those.
    assert invoice["funnel"] == "400 → 320 → 100 (96 dismissed)"
    assert invoice["response_ratio"] == "31 % of shown"  # 100 / 320, not 100 / 400
    assert "funnel" not in rows["view-policy"] and "response_ratio" not in rows["view-policy"]  # nothing prompted
    # Corrected for non-response, of the 7d window: the worked example, with its interval and the bounds.
    assert (invoice["ces_corrected"], invoice["corrected_interval"]) == ("76 %", "69–83 %")
    assert invoice["silent_bounds"] == "bounds 21–95 %"
    assert "Corrected for non-response (7d)" in dom
    policy = rows["view-policy"]
    assert policy["ces_corrected"] == "too thin"  # and no number
    assert "corrected_interval" not in policy and "silent_bounds" not in policy
    assert "Fewer than 10 answers, too few to speak for the attempts, in: completed/all" in dom

    assert (rows["view-policy"]["status"], rows["view-policy"]["data-status"]) == ("no data", "no-data")
    assert rows["view-policy"]["ces_long"] == "–"

    claim = rows["file-claim"]
    assert claim["data-status"] == "elsewhere"
    assert claim["status"].startswith("served by another worker (this page shows one worker's goals;")
    assert claim["name"] == "File <b>claim</b>"  # a display name is text, never markup
    assert "<b>claim</b>" not in dom

    # The trend: one point per window with answers, short to long (10m has none).
    trend = re.search(r'data-goal="download-invoice".*?<svg class="spark"(.*?)</svg>', dom, re.DOTALL).group(1)
    assert "10m –, 1h 70 %, 24h 64 %, 7d 60 %" in trend
    assert trend.count("<circle") == 3
    assert "this worker serves 2 of 3 goals" in dom
    assert "CES 1h" in dom and "CES 7d" in dom
    shot = screenshot(url, tmp_path / "ces-page-stub.png", tmp_path)
    print(f"screenshot: {shot}")


@pytest.mark.external("chromium")
def test_without_1h_and_7d_the_page_uses_the_shortest_and_longest_window(stub_worker, tmp_path):
    goals = {
        goal: {name: figures for name, figures in windows.items() if name in ("10m", "24h")}
        for goal, windows in API_GOALS.items()
    }
    dom = dump_dom(stub_worker(goals, ready=False), tmp_path)
    invoice = dict(fields_by_goal(dom))["download-invoice"]
    assert (invoice["ces_short"], invoice["ces_long"], invoice["answers"]) == ("–", "64 %", "50")
    assert invoice["ces_corrected"] == "–" and "silent_bounds" not in invoice  # 24h carries no non_response here
    # An app that reports no prompts shown: sent → answered, the response ratio over the prompts sent as before.
    assert (invoice["funnel"], invoice["response_ratio"]) == ("200 → 50", "25 % of sent")
    assert "CES 10m" in dom and "CES 24h" in dom
    assert "the worker is starting or rebalancing" in dom


# Run after the page rendered: the table's width, where a 1280 px window leaves 1232 px (the body's margins are 24 px).
MEASURE_TABLE = """<style>body { width: 1232px; }</style><script>
function measureTable() {
  if (!document.querySelector("#goals tbody tr")) { setTimeout(measureTable, 100); return; }
  document.body.dataset.tableWidth = String(document.getElementById("goals").offsetWidth);
}
setTimeout(measureTable, 100);
</script></body>"""


@pytest.mark.external("chromium")
def test_the_table_fits_a_1280_px_window_with_every_figure_at_its_widest(stub_worker, tmp_path):
    widest = {
        **API_GOALS["download-invoice"]["7d"],
        "answers": 352_000,
        "prompts": 1_234_567,
        "shown": 1_172_839,
        "dismissed": 469_135,
        "response_ratio_shown": 0.3001,
    }
    goals = {**API_GOALS, "download-invoice": {**API_GOALS["download-invoice"], "7d": widest}}
    page = ces_page_html().replace("</body>", MEASURE_TABLE)
    dom = dump_dom(stub_worker(goals, page=page), tmp_path)
    width = re.search(r'data-table-width="(\d+)"', dom)
    assert width, "the page did not render its table"
    assert int(width.group(1)) <= 1232
    assert dict(fields_by_goal(dom))["download-invoice"]["funnel"] == "1234567 → 1172839 → 352000 (469135 dismissed)"


def nps_part(promoters: int, passives: int, detractors: int, lower: float, upper: float, **more) -> dict:
    """The ``nps`` of a window in /api/goals (distribution and channels left out: the page does not read them)."""
    answers = promoters + passives + detractors
    return {
        "answers": answers,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "promoter_share": promoters / answers,
        "passive_share": passives / answers,
        "detractor_share": detractors / answers,
        "nps": (promoters - detractors) / answers,
        "lower": lower,
        "upper": upper,
        "prompts": 125,
        "response_ratio": answers / 125,
        "shown": 0,
        "dismissed": 0,
        "by_channel": {},
        "high_effort": None,
        "rest": None,
        "high_effort_gap": None,
        **more,
    }


def group(promoters: int, passives: int, detractors: int) -> dict:
    answers = promoters + passives + detractors
    return {"answers": answers, "promoters": promoters, "nps": (promoters - detractors) / answers}


# The worked example of issue 21 (50 promoters, 30 passives, 20 detractors: NPS +30) on the 7d window, split by
# recent effort: 40 high-effort users at -10 against 100 others at +30; the difference -40 excludes 0.
NPS_7D = nps_part(
    50,
    30,
    20,
    0.1722,
    0.4172,
    high_effort=group(14, 8, 18),
    rest=group(50, 30, 20),
    high_effort_gap={"difference": -0.4, "lower": -0.6353, "upper": -0.1341},
)
CSAT_AND_NPS_REGISTRY = {
    "nps_high_effort_min_answers": 30,
    "goals": [
        {**REGISTRY["goals"][0], "survey": "ces", "nps_moment": True},
        {**REGISTRY["goals"][1], "survey": "csat", "nps_moment": False},
        {**REGISTRY["goals"][2], "survey": "ces", "nps_moment": True},
    ],
}


def split_rows(dom: str) -> tuple[dict, dict]:
    """(the CES table's rows, the NPS section's rows), each goal -> fields."""
    ces_part, _, nps_part_html = dom.partition('id="nps-section"')
    return dict(fields_by_goal(ces_part)), dict(fields_by_goal(nps_part_html))


@pytest.mark.external("chromium")
def test_a_csat_goal_is_labelled_csat_and_an_nps_goal_shows_its_nps_and_the_effort_split(stub_worker, tmp_path):
    goals = {
        "download-invoice": {
            **API_GOALS["download-invoice"],
            "7d": {**API_GOALS["download-invoice"]["7d"], "survey": "ces", "nps": NPS_7D},
            # 1h: a split window whose groups are still under the minimum.
            "1h": {**API_GOALS["download-invoice"]["1h"], **SPLIT_7D, "nps": nps_part(3, 1, 1, -0.2, 0.9)},
        },
        "view-policy": {
            name: {**window(40, 0.7, 0.55, 0.82), "survey": "csat", "nps": None} for name in ("1h", "24h", "7d")
        },
    }
    url = stub_worker(goals, registry=CSAT_AND_NPS_REGISTRY)
    dom = dump_dom(url, tmp_path)
    ces_rows, nps_rows = split_rows(dom)

    policy = ces_rows["view-policy"]
    assert policy["survey"] == "CSAT"
    assert (policy["ces_long"], policy["ces_long_kind"]) == ("70 %", "CSAT · satisfied")
    assert "survey" not in ces_rows["download-invoice"] and "ces_long_kind" not in ces_rows["download-invoice"]
    assert "CES / CSAT 1h" in dom and "CES / CSAT 7d" in dom
    assert "CSAT per window, short to long" in dom

    # NPS: only the served goals where it is asked (file-claim is served elsewhere, view-policy asks none).
    assert list(nps_rows) == ["download-invoice"]
    invoice = nps_rows["download-invoice"]
    assert (invoice["nps"], invoice["nps_interval"], invoice["nps_answers"]) == ("+30", "+17 to +42", "100")
    assert (invoice["nps_bands"], invoice["nps_band_counts"]) == ("50 % · 30 % · 20 %", "50 · 30 · 20")
    assert invoice["nps_response_ratio"] == "80 % of 125"
    assert invoice["nps_split"] == "\u221240 pts (\u221264 to \u221213)"
    assert invoice["nps_split_groups"] == "high effort \u221210 of 40 · rest +30 of 100"
    assert invoice["nps_split_meaning"] == (
        "Users who recently found a goal hard recommend us less than the rest, beyond sampling noise."
    )
    assert "Net Promoter Score (7d)" in dom and "High effort vs rest (7d)" in dom
    shot = screenshot(url, tmp_path / "ces-page-csat-nps.png", tmp_path)
    print(f"screenshot: {shot}")

    # Without the 7d window the long window is 24h (no split): the split comes from 1h, still under the minimum.
    short = {goal: {n: f for n, f in windows.items() if n in ("1h", "24h")} for goal, windows in goals.items()}
    short["download-invoice"]["24h"] = {**short["download-invoice"]["24h"], "nps": nps_part(8, 1, 1, 0.2, 0.95)}
    _, nps_rows = split_rows(dump_dom(stub_worker(short, registry=CSAT_AND_NPS_REGISTRY), tmp_path))
    assert nps_rows["download-invoice"]["nps"] == "+70"
    assert nps_rows["download-invoice"]["nps_split"] == "not enough answers yet (each group needs 30 answers)"


@pytest.mark.external("chromium")
def test_without_nps_goals_the_nps_section_stays_hidden(stub_worker, tmp_path):
    dom = dump_dom(stub_worker(API_GOALS), tmp_path)
    assert re.search(r'<section id="nps-section" hidden="?', dom)
    assert "CES 1h" in dom and "CSAT" not in dom.partition("<footer")[0]
