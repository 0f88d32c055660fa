"""The comment themes on a real worker's CES page: a constructed month of comments in Kafka, read by
``/api/themes`` and shown by the page in headless Chromium.

The month is ``theme_month``'s (Dutch and English, three planted themes of 60, 50 and 40 comments, the sms one
rising in the second half, noise about other things), its moments moved into the last 28 days with each half
kept in its half: the first half's comments between 28 days and 14 days (less a margin) ago, the second's
between 14 days (plus a margin) and a margin ago, so the page's halves (split at 14 days ago when it asks)
hold exactly what was planted in them. Written to the feedback comments topic with their answer times as
record times, keyed by the goal, beside what the themes must leave out: NPS comments on the goal, another
goal's comments, copies of the month 35 days old and records written twice.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas import FeedbackComment
from stream.infra.topics import create_topics
from tests.browser import chromium_or_skip
from tests.chromium_page import chromium_page
from tests.harness import settings_from_env, wait_until, worker_env, write_registry
from tests.test_stream.test_ces.test_comments.theme_month import SIZES, feedback_comments, planted_month
from tests.test_stream.test_tools.test_report.theme_records import nps_comment

pytestmark = pytest.mark.integration

GOAL, OTHER = "file-claim", "download-invoice"
DAYS = 28
MARGIN = timedelta(hours=1)  # longer than the test takes from writing the month to asking for its themes
PERIOD = timedelta(days=DAYS)


def moved(at: datetime, planted_start: datetime, now: datetime) -> datetime:
    """A planted moment of the month from ``planted_start`` moved into the last DAYS up to ``now``, each half
    into its half with MARGIN at either end."""
    half = PERIOD / 2
    offset = at - planted_start
    second = offset >= half
    room = half - 2 * MARGIN
    within = (offset - half if second else offset) / half * room
    return now - PERIOD + (half if second else timedelta()) + MARGIN + within


def the_month(now: datetime) -> tuple[list[FeedbackComment], dict[str, str | None]]:
    """The month on GOAL in the last DAYS, and each comment's planted theme by its text."""
    planted_start = datetime(2025, 3, 1, tzinfo=UTC)
    month = planted_month(planted_start, days=DAYS)
    month = [replace(p, comment=replace(p.comment, at=moved(p.comment.at, planted_start, now))) for p in month]
    return feedback_comments(month, GOAL), {p.comment.text: p.theme for p in month}


def left_out(month: list[FeedbackComment], now: datetime) -> list[FeedbackComment]:
    """Comments the goal's themes must not count: NPS, another goal's, and older than the period."""
    nps = [
        nps_comment("Would never recommend: the invoice download is broken", now - timedelta(days=d)) for d in range(20)
    ]
    other = [c.model_copy(update={"goal": OTHER, "answer_id": uuid.uuid4()}) for c in month[:40]]
    old = [
        c.model_copy(update={"answer_id": uuid.uuid4(), "answered_at": now - timedelta(days=35, hours=i)})
        for i, c in enumerate(month[:30])
    ]
    return nps + other + old


def write_comments(bootstrap: str, topic: str, comments: list[FeedbackComment]) -> None:
    """Each comment keyed by its goal, with its answer time as the record's time."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    try:
        for comment in comments:
            producer.send(
                topic,
                key=comment.kafka_key().encode(),
                value=comment.model_dump_json().encode(),
                timestamp_ms=int(comment.answered_at.timestamp() * 1000),
            )
        producer.flush()
    finally:
        producer.close()


def get_json(url: str, timeout_s: float = 120.0) -> tuple[int, dict, float]:
    """(status, body, seconds) of one GET."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.perf_counter() - began


LISTED_28 = (
    "document.querySelector('#themes-file-claim ol.themes') && "
    "document.querySelector('#themes-file-claim [aria-pressed=true]').dataset.days === '28'"
)


def test_the_page_shows_the_planted_themes_of_the_last_28_days(kafka_bootstrap, start_worker, tmp_path):
    chromium_or_skip()
    registry = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": GOAL,
                "display_name": {"en": "File claim", "nl": "Claim indienen"},
                "scale": {"kind": "five_point"},
            },
            {"slug": OTHER, "scale": {"kind": "five_point"}},
        ],
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
        "CES_GOALS_FILE": str(registry),
        "CES_RAW_ID_RETENTION_HOURS": str(24 * 60),  # the comments topic keeps 60 days: the old copies stay
    }
    settings = settings_from_env(env)
    create_topics(settings)
    now = datetime.now(UTC)
    month, planted = the_month(now)
    again = month[:10]  # outputs are at least once: an answer written twice counts once
    write_comments(kafka_bootstrap, settings.topic_feedback_comments, month + left_out(month, now) + again)
    worker = start_worker(env)

    first: list[tuple[int, dict, float]] = []
    asking = threading.Thread(target=lambda: first.append(get_json(f"{worker.url}/api/themes?goal={GOAL}&days=28")))
    asking.start()
    health_s = []
    while asking.is_alive():  # the worker answers while the themes process reads and computes
        began = time.perf_counter()
        assert worker.health()[0] == 200
        health_s.append(time.perf_counter() - began)
        asking.join(0.05)
    (status, answer, first_s) = first[0]
    assert status == 200, answer
    assert max(health_s) < 1.0, health_s
    _, cached, cached_s = get_json(f"{worker.url}/api/themes?goal={GOAL}&days=28")
    print(
        f"/api/themes of the planted month ({answer['comments']} comments of {answer['records_read']} records read): "
        f"first {first_s:.2f} s (the themes process started, then read in {answer['read_seconds']:.2f} s, themes "
        f"in {answer['compute_seconds']:.2f} s with the import of scikit-learn), cached {cached_s * 1000:.1f} ms"
    )
    assert cached == answer  # kept: the same computation
    _, week, week_s = get_json(f"{worker.url}/api/themes?goal={GOAL}&days=7")
    print(
        f"/health during the first: {len(health_s)} answers, the slowest {max(health_s) * 1000:.0f} ms; "
        f"then the last 7 days ({week['comments']} comments) in {week_s:.2f} s (read {week['read_seconds']:.2f} s, "
        f"themes {week['compute_seconds']:.2f} s)"
    )
    assert datetime.fromisoformat(answer["period_end"]) - now < MARGIN
    assert (answer["comments"], answer["comments_read"], answer["truncated"]) == (len(month), len(month) + 10, False)
    assert [theme["count"] for theme in answer["themes"]] == [SIZES["invoice"], SIZES["sms"], SIZES["form"]]
    for theme, name in zip(answer["themes"], ("invoice", "sms", "form"), strict=True):
        assert {planted[shown["text"]] for shown in theme["representatives"]} == {name}
        assert theme["rising"] is (name == "sms")
    assert get_json(f"{worker.url}/api/themes?goal=nope")[:2] == (
        404,
        {"error": "goal 'nope' is not in the goal registry"},
    )

    with chromium_page(tmp_path) as page:
        page.open(worker.url + "/")
        page.wait_for("document.querySelector('tr[data-goal=\"file-claim\"] button[data-action=themes]')", what="rows")
        page.click('tr[data-goal="file-claim"] button[data-action="themes"]')
        page.wait_for(
            "document.querySelector('#themes-file-claim [data-field=themes_summary]')",
            timeout_s=90,
            what="the themes of the last 7 days",
        )
        last_week = sum(
            1 for c in month if c.answered_at >= datetime.fromisoformat(answer["period_end"]) - timedelta(days=7)
        )
        assert page.fields("#themes-file-claim [data-field]")["themes_summary"].startswith(f"{last_week} comments ")
        page.click('#themes-file-claim button[data-days="28"]')
        page.wait_for(LISTED_28, what="the themes of the last 28 days")
        fields = page.fields("#themes-file-claim [data-field]")
        print(f"screenshot: {page.screenshot(tmp_path / 'ces-page-themes.png')}")

    assert [fields[f"theme-{n}-count"] for n in (1, 2, 3)] == ["60", "50", "40"]
    assert "theme-4-label" not in fields
    assert [name for name in fields if name.endswith("-rising")] == ["theme-2-rising"]  # the sms theme, alone
    for number, theme in enumerate(answer["themes"], start=1):
        assert fields[f"theme-{number}-label"] == " · ".join(theme["label"])
        assert fields[f"theme-{number}-comment-1"] == " ".join(theme["representatives"][0]["text"].split())
        assert fields[f"theme-{number}-comment-2"] == " ".join(theme["representatives"][1]["text"].split())
    assert fields["themes_summary"].startswith(f"{len(month)} comments on the goal's own question in the last 28 days")

    # The themes process ends with the worker.
    children = Path(f"/proc/{worker.proc.pid}/task/{worker.proc.pid}/children")
    started = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    assert started or not children.exists()  # the themes process (and multiprocessing's resource tracker)
    worker.stop()
    assert worker.proc.returncode == 0
    # The themes process is gone at once; multiprocessing's resource tracker reads its end of file first.
    wait_until(
        lambda: not [pid for pid in started if Path(f"/proc/{pid}").exists()],
        timeout_s=10,
        what="the worker's child processes ended",
    )
