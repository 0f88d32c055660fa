"""``ces-stream report`` against the real broker: records on fresh topics in, one HTML file out.

The January 2025 scenario of ``tests/report_records.py`` is produced to the test's own
summaries and comments topics, with two records that do not validate and a compaction
tombstone; the report, its releases block included, is read back by headless Chromium. The
screenshot stays under the test's tmp_path (its path is printed). The same topics also carry a month of comments with planted
themes (March 2025, ``theme_records``), whose report of that one goal shows its comment themes.
"""

from __future__ import annotations

import argparse
import uuid

import pytest

from stream.infra.producer import make_producer
from stream.infra.topics import create_topics
from stream.tools.report.command import add_arguments, run
from tests.browser import chromium_or_skip, dump_dom, screenshot
from tests.harness import settings_from_env, worker_env, write_registry
from tests.report_records import JANUARY_GOALS, assert_january_report, january_records
from tests.test_stream.test_tools.test_report.theme_records import (
    GOAL,
    assert_themes_shown,
    expected_themes,
    march_comments,
    theme_fields,
)

pytestmark = pytest.mark.integration


def produce(kafka_bootstrap: str, settings) -> None:
    summaries, comments = january_records()
    producer = make_producer(kafka_bootstrap, linger_ms=20)
    try:
        for summary in summaries:
            producer.send(
                settings.topic_goal_summaries,
                key=summary.kafka_key().encode(),
                value=summary.model_dump_json().encode(),
            )
        current = f'"schema_version":{summaries[0].schema_version}'
        version_1 = summaries[0].model_dump_json().replace(current, '"schema_version":1').encode()
        assert b'"schema_version":1,' in version_1  # a version no reader takes
        producer.send(settings.topic_goal_summaries, key=b"download-invoice|24h|2025-01-09T00:00:00Z", value=version_1)
        producer.send(settings.topic_goal_summaries, key=b"junk", value=b"not json")
        producer.send(settings.topic_goal_summaries, key=b"download-invoice|24h|2025-01-08T00:00:00Z", value=None)
        for comment in comments + march_comments():
            producer.send(
                settings.topic_feedback_comments,
                key=comment.kafka_key().encode(),
                value=comment.model_dump_json().encode(),
            )
        producer.flush()
    finally:
        producer.close()


def test_report_of_a_month_from_the_topics(kafka_bootstrap, tmp_path, capsys):
    chromium_or_skip()
    registry = write_registry(tmp_path / "goals.yaml", JANUARY_GOALS)
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(registry)}
    settings = settings_from_env(env)
    create_topics(settings)
    produce(kafka_bootstrap, settings)

    out = tmp_path / "ces-report.html"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--period", "month", "--from", "2025-01-20", "--window", "24h", "--out", str(out)])
    assert run(settings, args) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: January 2025, 3 goals, 3 24h summaries" in printed
    assert "skipped 2 summary and 0 comment records that do not validate" in printed

    html = out.read_text()
    assert_january_report(html)
    assert "Left out: 2 summary records that do not validate" in html
    dom = dump_dom(out.as_uri(), tmp_path)
    assert_january_report(dom)
    shot = screenshot(out.as_uri(), tmp_path / "ces-report.png", tmp_path, size="1100,2800")
    with capsys.disabled():
        print(f"\nreport: {out}\nscreenshot: {shot}")

    # The same topics, March 2025, one goal: the comment themes of its planted month.
    themes_out = tmp_path / "ces-report-themes.html"
    args = parser.parse_args(["--period", "month", "--from", "2025-03-01", "--goals", GOAL, "--out", str(themes_out)])
    assert run(settings, args) == 0
    expected = expected_themes(march_comments())
    assert_themes_shown(theme_fields(themes_out.read_text()), expected)
    assert_themes_shown(theme_fields(dump_dom(themes_out.as_uri(), tmp_path)), expected)
