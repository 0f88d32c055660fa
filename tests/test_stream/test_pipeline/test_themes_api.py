"""``/api/themes`` without a broker: the comments a goal's themes are found in, the answer's JSON, the query, and
the results kept and shared per (goal, days).

The selection must be the report's (``ces-stream report``): the goal's own question only (no NPS), one comment
per answer, personal data masked; the newest at most. The themes of the constructed month of ``theme_month``
come back with the planted counts and the sms theme rising.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from schemas.survey_prompt import SurveyKind
from stream.ces.registry import load_registry
from stream.ces.registry.scales import default_scale
from stream.errors import CesError
from stream.infra.local_services import free_port
from stream.pipeline.themes_api import (
    CACHE_SECONDS,
    RETIRE_AFTER_COMMENTS,
    BadQuery,
    SharedResults,
    ThemesApi,
    themes_query,
)
from stream.pipeline.themes_job import MAX_COMMENTS, period_themes, select_comments
from stream.settings import Settings
from tests.harness import write_registry
from tests.paths import PROJECT_ROOT
from tests.test_stream.test_ces.test_comments.theme_month import SIZES, feedback_comments, planted_month
from tests.test_stream.test_tools.test_report.theme_records import nps_comment

GOAL = "file-claim"
NOW = datetime(2025, 3, 29, 12, tzinfo=UTC)
START = NOW - timedelta(days=28)


def comment(text: str = "The invoice won't download", at: datetime = NOW, **fields):
    return nps_comment(text, at).model_copy(update={"survey": SurveyKind.ces, "score": 2, **fields})


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def values(*comments) -> list[bytes]:
    return [c.model_dump_json().encode() for c in comments]


def test_the_selection_keeps_the_goals_own_comments_of_the_period_once_each_masked():
    own = comment("Mail me at jan.jansen@example.nl please", NOW - timedelta(days=1))
    again = own.model_copy(update={"score": 1})  # the same answer written twice: the last read counts
    before = comment(at=START - timedelta(seconds=1))
    nps = nps_comment("Would not recommend", NOW - timedelta(days=2))
    other = comment(at=NOW - timedelta(days=3), goal="download-invoice", answer_id=uuid.uuid4())
    selection = select_comments([*values(own, before, nps, other, again), None, b"{not json"], GOAL, START)
    assert [(c.answer_id, c.score) for c in selection.comments] == [(own.answer_id, 1)]
    assert selection.comments[0].comment == "Mail me at [email] please"
    assert (selection.matched, selection.invalid, selection.truncated) == (2, 1, False)


def test_the_selection_keeps_the_newest_comments_up_to_the_limit_oldest_first():
    month = [comment(at=START + timedelta(hours=hour), answer_id=uuid.uuid4()) for hour in range(50)]
    shuffled = month[1::2] + month[::2]
    selection = select_comments(values(*shuffled), GOAL, START, limit=10)
    assert [c.answered_at for c in selection.comments] == [c.answered_at for c in month[-10:]]
    assert (selection.matched, selection.truncated) == (50, True)
    assert MAX_COMMENTS == 100_000


def test_the_themes_of_the_planted_month_come_back_with_their_counts_and_the_rising_one():
    month = feedback_comments(planted_month(START, days=28), GOAL)
    selection = select_comments(values(*month), GOAL, START)
    answer = period_themes(selection, default_scale("five_point"), goal=GOAL, days=28, now=NOW, records_read=len(month))
    assert answer["comments"] == answer["comments_read"] == len(month)
    assert (answer["split_at"], answer["truncated"]) == (iso(START + timedelta(days=14)), False)
    assert (answer["period_start"], answer["period_end"]) == (iso(START), iso(NOW))
    counts = [theme["count"] for theme in answer["themes"]]
    assert counts == sorted(SIZES.values(), reverse=True)  # 60, 50, 40: each planted theme exactly
    rising = [theme for theme in answer["themes"] if theme["rising"]]
    assert len(rising) == 1 and rising[0]["count"] == SIZES["sms"]
    by_text = {c.comment: c for c in month}
    for theme in answer["themes"]:
        assert theme["share"] == pytest.approx(theme["count"] / len(month))
        assert theme["label_text"] == " · ".join(theme["label"]) and len(theme["label"]) == 3
        assert len(theme["representatives"]) == 2
        for shown in theme["representatives"]:
            assert by_text[shown["text"]].score == shown["score"]
    json.dumps(answer)  # JSON-ready as it is


def test_the_query_names_a_goal_of_the_registry_and_7_or_28_days(tmp_path):
    registry = load_registry(write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}]))
    assert themes_query(registry, GOAL, None) == (GOAL, 7)
    assert themes_query(registry, GOAL, "28") == (GOAL, 28)
    for goal, days, status in [("nope", "7", 404), (None, "7", 400), (GOAL, "14", 400), (GOAL, "x", 400)]:
        with pytest.raises(BadQuery) as bad:
            themes_query(registry, goal, days)
        assert bad.value.status == status


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_results_are_kept_for_their_time_and_shared_while_computed():
    clock = Clock()
    results: SharedResults[str, int] = SharedResults(600.0, clock)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    async def scenario() -> None:
        first = await asyncio.gather(*(results.get("a", compute) for _ in range(5)))
        assert first == [1] * 5 and calls == 1  # five requests, one computation
        clock.now += 599
        assert await results.get("a", compute) == 1  # still fresh
        assert await results.get("b", compute) == 2  # another key: its own
        clock.now += 2
        assert await results.get("a", compute) == 3  # expired: computed again

    asyncio.run(scenario())


def test_a_failure_reaches_every_waiter_and_is_not_kept_and_a_caller_that_leaves_leaves_it_running():
    results: SharedResults[str, str] = SharedResults(600.0)
    attempts = 0

    async def failing() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise CesError("broker unreachable")

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def scenario() -> None:
        outcomes = await asyncio.gather(*(results.get("a", failing) for _ in range(3)), return_exceptions=True)
        assert [str(outcome) for outcome in outcomes] == ["broker unreachable"] * 3 and attempts == 1
        with pytest.raises(CesError):
            await results.get("a", failing)
        assert attempts == 2  # not kept: asked again
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(results.get("b", slow), 0.001)
        assert results.running("b")
        assert await results.get("b", slow) == "done"  # the same computation, finished

    asyncio.run(scenario())


class CountingApi(ThemesApi):
    """The endpoint's logic with the process replaced: counts computations, fails when told."""

    def __init__(self, *args, fail: Exception | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.computed: list[tuple[str, int]] = []
        self.fail = fail

    async def _compute(self, goal: str, days: int) -> dict:
        self.computed.append((goal, days))
        await asyncio.sleep(0.01)
        if self.fail is not None:
            raise self.fail
        return {"goal": goal, "days": days}


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}]))


def test_the_api_answers_404_400_and_shares_one_computation_per_goal_and_period(registry):
    api = CountingApi(Settings(), registry)

    async def scenario() -> None:
        assert await api.answer("nope", "7") == (404, {"error": "goal 'nope' is not in the goal registry"})
        assert (await api.answer(GOAL, "14"))[0] == 400
        answers = await asyncio.gather(api.answer(GOAL, "28"), api.answer(GOAL, "28"), api.answer(GOAL, None))
        assert answers == [(200, {"goal": GOAL, "days": 28})] * 2 + [(200, {"goal": GOAL, "days": 7})]
        assert await api.answer(GOAL, "28") == (200, {"goal": GOAL, "days": 28})
        assert api.computed == [(GOAL, 28), (GOAL, 7)]

    asyncio.run(scenario())


def test_a_failure_or_a_timeout_is_a_503_with_the_reason(registry):
    async def scenario() -> None:
        failing = CountingApi(Settings(), registry, fail=CesError("cannot read the comments"))
        assert await failing.answer(GOAL, "7") == (503, {"error": "cannot read the comments"})
        broken = CountingApi(Settings(), registry, fail=ZeroDivisionError("no"))
        status, body = await broken.answer(GOAL, "7")
        assert (status, body["error"]) == (503, "the themes could not be computed: ZeroDivisionError: no")
        slow = CountingApi(Settings(), registry, wait_timeout_s=0.001)
        status, body = await slow.answer(GOAL, "7")
        assert status == 503 and "still being computed" in body["error"]

    asyncio.run(scenario())


def test_the_process_is_kept_for_small_goals_retired_after_a_large_one_and_stopped_with_the_worker(registry):
    executors: list[ThreadPoolExecutor] = []

    def executor() -> ThreadPoolExecutor:  # a thread stands in for the process
        executors.append(ThreadPoolExecutor(max_workers=1))
        return executors[-1]

    def job(settings, goal, scale, days, now) -> dict:
        assert scale == default_scale("five_point") and now.tzinfo is UTC
        return {"goal": goal, "comments": RETIRE_AFTER_COMMENTS if days == 28 else 10}

    api = ThemesApi(Settings(), registry, job=job, make_executor=executor)

    async def scenario() -> None:
        assert (await api.answer(GOAL, "7"))[0] == 200
        assert (await api.answer(GOAL, "28"))[1]["comments"] == RETIRE_AFTER_COMMENTS
        assert len(executors) == 1 and executors[0]._shutdown  # retired after the large one
        api.results = SharedResults(CACHE_SECONDS)  # forget what was kept
        assert (await api.answer(GOAL, "7"))[0] == 200
        assert len(executors) == 2 and not executors[1]._shutdown  # a new one, kept after a small goal
        await api.stop()
        assert executors[1]._shutdown
        api.results = SharedResults(CACHE_SECONDS)
        assert await api.answer(GOAL, "7") == (503, {"error": "the worker is stopping"})

    asyncio.run(scenario())


@pytest.mark.external  # a process of its own, and a bootstrap that waits for a broker that is not there
def test_an_unreachable_broker_is_a_503_from_the_themes_process(registry):
    api = ThemesApi(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}"), registry)

    async def scenario() -> tuple[int, dict]:
        try:
            return await api.answer(GOAL, "7")
        finally:
            await api.stop()

    status, body = asyncio.run(scenario())
    assert status == 503 and body["error"].startswith("cannot read ") and "Unable to bootstrap" in body["error"]


@pytest.mark.external  # a Python of its own: this one has imported everything already
def test_the_worker_imports_neither_numpy_nor_scikit_learn():
    code = (
        "import sys, stream.pipeline.app, stream.pipeline.themes_api; "
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert loaded.stdout.strip() == "[]"
