"""The CSAT and NPS panels of the ``ces-goal`` dashboard, every query run on a real Prometheus (Debian's package).

Prometheus scrapes the real /metrics exposition (``CesMetrics``) of a CSAT goal that asks NPS, with the worked
example of issue 21 (50 promoters, 30 passives, 20 detractors on web; 30 high-effort answers on iOS) on a split
window; each query of the panels this module's dashboard code adds must return data, and the ``survey``
variable's query must name the goal CSAT.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stream.ces.goals import HIGH_EFFORT, REST
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.nps import nps_window_figures
from stream.ces.goals.stats import figures
from stream.ces.goals.windows import WindowSpec
from stream.ces.registry.loader import load_registry
from stream.ces.registry.scales import Sentiment, scale_of
from stream.observability.dashboards import goal, panel_queries
from stream.observability.dashboards.nps_panels import SURVEY_KIND_QUERY
from stream.observability.metrics import CesMetrics
from stream.settings import Settings
from tests.monitoring_harness import Prometheus
from tests.window_rows import RowsSource

pytestmark = pytest.mark.external("prometheus")
NPS_SCALE = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))
HOUR = WindowSpec("1h", 3600, 60)
WORKED_EXAMPLE = [0, 3, 5, 6] * 5 + [7, 8] * 15 + [9, 10] * 25
HIGH_EFFORT_ANSWERS = [0, 2, 4, 6, 6, 7, 8, 9, 10, 10] * 3
NEW_TITLES = {
    "$survey",
    "$survey over time",
    "NPS over time",
    "NPS answers per band",
    "NPS response ratio",
    "NPS: high effort vs rest",
    "NPS gap: high effort minus rest",
}


def exposition() -> bytes:
    counts = BucketCounts()
    for score in (5, 4, 1):
        sentiment = Sentiment.positive if score >= 4 else Sentiment.negative
        counts.add_answer(score, sentiment, "completed", "web")
    nps = counts.nps_part()
    for scores, channel, group in ((WORKED_EXAMPLE, "web", REST), (HIGH_EFFORT_ANSWERS, "ios", HIGH_EFFORT)):
        for score in scores:
            nps.add_answer(score, NPS_SCALE.classify(score), channel, group)
    nps.prompts += 200
    fig = figures(counts, (1, 2, 3, 4, 5), 1, 0.99, segment_min_answers=30)
    fig.nps = nps_window_figures(counts.nps, 0.99, 30)
    metrics = CesMetrics(goals=["g"], input_topics=[], consumed_topics=[], surveys={"g": "csat"})
    metrics.windows.source = RowsSource([("g", HOUR, fig)])
    return metrics.render()


@pytest.fixture
def scraped(tmp_path):
    body = exposition()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "ces", "static_configs": [{"targets": [f"127.0.0.1:{server.server_port}"]}]}],
    }
    prometheus = Prometheus(tmp_path / "prometheus", config)
    try:
        deadline = time.monotonic() + 60
        while not prometheus.query("ces_goal_nps_high_effort_gap"):
            assert time.monotonic() < deadline, "Prometheus did not scrape the exposition"
            time.sleep(0.5)
        yield prometheus
    finally:
        prometheus.__exit__(None, None, None)
        server.shutdown()
        server.server_close()


def test_every_csat_and_nps_panel_query_returns_data_on_prometheus(scraped):
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CES_")]:
            patch.delenv(name)
        settings = Settings(windows=("1h",), split_windows=("1h",))
    board = goal(settings, load_registry("deploy/goals.yaml"))
    queries = [
        (title, expr)
        for title, expr in panel_queries(board, {"goal": "g", "window": "1h", "split_window": "1h"})
        if title in NEW_TITLES and ":" not in expr.split("{")[0]  # recording rules: the end-to-end test's
    ]
    assert {title for title, _ in queries} == NEW_TITLES
    empty = [f"{title}: {expr}" for title, expr in queries if not scraped.query(expr)]
    assert not empty, "panel queries without data:\n" + "\n".join(empty)
    bands = scraped.query('max by (band) (ces_goal_nps_answers_by_band{goal="g", window="1h"})')
    assert {row["metric"]["band"]: float(row["value"][1]) for row in bands} == {
        "promoter": 59,
        "passive": 36,
        "detractor": 35,
    }
    # The survey variable: Grafana's query_result() runs the PromQL inside it.
    inner = SURVEY_KIND_QUERY.removeprefix("query_result(").removesuffix(")").replace("$goal", "g")
    assert [row["metric"]["kind"] for row in scraped.query(inner)] == ["CSAT"]
