"""The release verdict annotations of the ``ces-goal`` and ``ces-overview`` dashboards, run on a real Prometheus.

Prometheus (Debian's package) scrapes the real /metrics exposition (``CesMetrics``) holding three release
verdicts, twice, as two jobs: two workers exporting the same goals, as in a rebalance. Each annotation's
query, with the dashboard's variables filled in, must return one series per verdict of its direction and
goals, valued at the verdict's time in milliseconds, with the labels its title, text and tags name. Its
range query, as Grafana runs it at the annotation's step, is turned into events the way Grafana's Prometheus
annotations do with "series value as timestamp": one event per verdict, at the verdict's time.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stream.ces.goals import parse_duration
from stream.ces.registry.loader import load_registry
from stream.observability.dashboards import annotation_queries, goal, overview
from stream.observability.metrics import CesMetrics
from stream.settings import Settings
from tests.monitoring_harness import Prometheus

pytestmark = pytest.mark.external("prometheus")
GOAL, OTHER = "download-invoice", "chat-with-support"
NOW = int(time.time())
# (goal, channel, direction) -> the verdict's Unix time: hours ago (the annotation is at the verdict, not at
# the scrape), with a fraction of a second (exact in milliseconds).
VERDICTS = {
    (GOAL, "web", "worse"): NOW - 3 * 3600 + 0.25,
    (GOAL, "ios", "better"): NOW - 2 * 3600 + 0.5,
    (OTHER, "web", "worse"): NOW - 3600 + 0.75,
}
TEMPLATE = re.compile(r"\{\{\s*(.+?)\s*\}\}")  # Grafana's legend format: {{label}}


def exposition() -> bytes:
    metrics = CesMetrics(goals=[GOAL, OTHER], input_topics=[], consumed_topics=[])
    for (goal_slug, channel, direction), at in VERDICTS.items():
        metrics.release_verdict_time.labels(goal_slug, channel, direction).set(at)
    return metrics.render()


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
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
    target = {"targets": [f"127.0.0.1:{server.server_port}"]}
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": job, "static_configs": [target]} for job in ("worker-a", "worker-b")],
    }
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), config)
    try:
        deadline = time.monotonic() + 60
        while not prometheus.query(f"count(ces_release_verdict_timestamp_seconds) == {2 * len(VERDICTS)}"):
            assert time.monotonic() < deadline, "Prometheus did not scrape both jobs"
            time.sleep(0.5)
        yield prometheus
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CES_")]:
            patch.delenv(name)
        settings = Settings()
    registry = load_registry("deploy/goals.yaml")
    return {"ces-goal": goal(settings, registry), "ces-overview": overview(settings, registry)}


def query_range(prometheus: Prometheus, expr: str, start: float, end: float, step: str) -> list[dict[str, Any]]:
    """The range query's result matrix, as Grafana runs an annotation's query."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/query_range?{params}", timeout=10) as response:
        body = json.loads(response.read())
    assert body.get("status") == "success", body
    assert body["data"]["resultType"] == "matrix"
    return body["data"]["result"]


def grafana_events(annotation: dict, matrix: list[dict[str, Any]], step_s: int) -> list[dict[str, Any]]:
    """What Grafana's Prometheus annotation support makes of a range query's result: per series, its
    active points (value > 0; with ``useValueForTime`` every point, at the time its value holds, in ms)
    joined while at most a step apart, titled, texted and tagged from the series' labels."""
    events = []
    for series in matrix:
        labels = series["metric"]

        def render(template: str, labels: dict[str, str] = labels) -> str:
            return TEMPLATE.sub(lambda match: labels[match.group(1)], template)

        points = [
            (math.floor(float(value)), 1.0) if annotation["useValueForTime"] else (int(at * 1000), float(value))
            for at, value in series["values"]
        ]
        latest: dict[str, Any] | None = None
        for at_ms, value in points:
            if value <= 0:
                continue
            if latest is not None and latest["timeEnd"] + step_s * 1000 >= at_ms:
                latest["timeEnd"] = at_ms
                continue
            if latest is not None:
                events.append(latest)
            latest = {
                "time": at_ms,
                "timeEnd": at_ms,
                "title": render(annotation["titleFormat"]),
                "text": render(annotation["textFormat"]),
                "tags": [labels[key] for key in labels if key in annotation["tagKeys"].split(",")],
            }
        if latest is not None:
            events.append(latest)
    return events


@pytest.mark.parametrize(
    ("board", "variables", "goals"),
    [("ces-goal", {"goal": GOAL}, {GOAL}), ("ces-overview", {}, {GOAL, OTHER})],
)
def test_release_verdict_annotations_mark_each_verdict_at_its_time(scraped, boards, board, variables, goals):
    annotations = {a["name"]: a for a in boards[board]["annotations"]["list"]}
    queries = dict(annotation_queries(boards[board], variables))
    assert set(queries) == set(annotations) == {"Release verdicts: worse", "Release verdicts: better"}
    for direction in ("worse", "better"):
        name = f"Release verdicts: {direction}"
        annotation, expr = annotations[name], queries[name]
        expected = {key: at for key, at in VERDICTS.items() if key[0] in goals and key[2] == direction}
        assert expected, name
        # The instant query: one series per verdict (not one per worker), valued at its time in ms.
        rows = scraped.query(expr)
        got = {(r["metric"]["goal"], r["metric"]["channel"], r["metric"]["direction"]): r for r in rows}
        assert set(got) == set(expected), (name, expr, rows)
        for key, row in got.items():
            assert float(row["value"][1]) == expected[key] * 1000, (name, row)
            named = set(TEMPLATE.findall(annotation["titleFormat"] + annotation["textFormat"]))
            named |= set(annotation["tagKeys"].split(","))
            assert named == {"goal", "channel", "direction"} <= set(row["metric"]), (name, row)
        # The range query as Grafana runs it, and the events Grafana makes of it: one per verdict, at its time.
        step = annotation["step"]
        end = time.time()
        matrix = query_range(scraped, expr, end - 10 * parse_duration(step), end, step)
        events = grafana_events(annotation, matrix, parse_duration(step))
        assert sorted((e["time"], e["timeEnd"], e["title"], sorted(e["tags"])) for e in events) == sorted(
            (int(at * 1000), int(at * 1000), f"{g} · {c}: release {d}", sorted(key))
            for key, at in expected.items()
            for g, c, d in [key]
        ), (name, matrix)
        for event in events:
            where = event["title"].removesuffix(f": release {direction}")
            assert event["text"].startswith(f"{where}: the new app version was found {direction} than"), event


def test_the_query_without_max_by_would_mark_a_verdict_once_per_worker(scraped):
    """The check above means something: each verdict is exported by both jobs."""
    rows = scraped.query(f'ces_release_verdict_timestamp_seconds{{goal="{GOAL}", direction="worse"}}')
    assert sorted(row["metric"]["job"] for row in rows) == ["worker-a", "worker-b"]
