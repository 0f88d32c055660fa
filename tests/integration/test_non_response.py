"""The CES corrected for non-response, through the real broker (docs/metrics.md "CES corrected for non-response").

The example of the issue: 800 completions whose users answer 30 % with CES 0.85 and 200 abandonments
whose users answer 10 % with CES 0.40, every attempt prompted. Blended: (204 + 8) / 260 = 0.815;
weighed by attempts: 0.8 x 0.85 + 0.2 x 0.40 = 0.76 exactly, on /metrics, /api/goals and a closed
summary, and again after a SIGKILL and the replay it causes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from stream.ces.goals.nonresponse import corrected_ces
from stream.ces.goals.stats import z_score
from stream.infra.producer import emit_answer, emit_goal_event
from tests.harness import GoalTraffic, TopicReader, closing_all, make_answer, make_goal_event, wait_until

pytestmark = pytest.mark.integration

GOAL = "view-policy"
# outcome -> (attempts, answers, positive answers)
EXAMPLE = {"completed": (800, 240, 204), "abandoned": (200, 20, 8)}


def expected(times: int = 1):
    """The correction of ``times`` x the example, as the worker must compute it (its interval included)."""
    cells = {f"{outcome}/web": tuple(n * times for n in cell) for outcome, cell in EXAMPLE.items()}
    return corrected_ces(
        cells,
        outcomes={outcome: cell[0] * times for outcome, cell in EXAMPLE.items()},
        answers=260 * times,
        positive=212 * times,
        prompts=1000 * times,
        asked=("completed", "abandoned"),
        min_answers=10,
        z=z_score(0.99),
    )


class Example(GoalTraffic):
    """One test's goal, topics and worker env; sends the example's attempts and answers."""

    def __init__(self, kafka_bootstrap: str, tmp_path, **env: str) -> None:
        goal = {"slug": GOAL, "scale": {"kind": "five_point"}, "triggers": {"completed": True, "abandoned": True}}
        super().__init__(kafka_bootstrap, tmp_path, [goal], **env)
        self.prompts = TopicReader(kafka_bootstrap, self.settings.topic_survey_prompts)
        self.scores: dict[str, int] = {}  # user -> score, for the users who answer

    def attempt_goals(self, times: int = 1, at: datetime | None = None) -> None:
        """Every attempt from its own user; the first ``answers`` users of an outcome will answer."""
        fields = {} if at is None else {"occurred_at": at}
        for round_ in range(times):
            for outcome, (attempts, answers, positive) in EXAMPLE.items():
                for i in range(attempts):
                    user = f"{outcome}-{round_}-{i}"
                    emit_goal_event(
                        self.producer,
                        make_goal_event(GOAL, outcome, user, **fields),
                        topic=self.settings.topic_goal_events,
                    )
                    if i < answers:
                        self.scores[user] = 5 if i < positive else 2
        self.producer.flush()

    def answer(self, times: int = 1, at: datetime | None = None) -> None:
        """Answer the prompts of the users who answer (every attempt was prompted)."""
        wanted = set(self.scores)
        records = self.prompts.wait_for(
            lambda ps: len(ps) >= 1000 * times and wanted <= {p["user_id"] for p in ps},
            timeout_s=120,
            what=f"{1000 * times} prompts",
        )
        fields = {} if at is None else {"answered_at": at}
        for prompt in records:
            if prompt["user_id"] in wanted:
                emit_answer(
                    self.producer,
                    make_answer(prompt, self.scores[prompt["user_id"]], **fields),
                    topic=self.settings.topic_survey_answers,
                )
        self.producer.flush()

    def close(self) -> None:
        self.prompts.close()
        super().close()


@pytest.fixture
def example(kafka_bootstrap, tmp_path):
    with closing_all(lambda **env: Example(kafka_bootstrap, tmp_path, **env)) as make:
        yield make


def gauge(worker, name: str, window: str = "1h") -> float | None:
    return worker.metric(name, goal=GOAL, window=window)


def assert_metrics(worker, window: str, times: int = 1) -> None:
    want = expected(times)
    assert gauge(worker, "ces_goal_ces_ratio", window) == 212 / 260
    assert round(gauge(worker, "ces_goal_ces_ratio", window), 3) == 0.815
    assert gauge(worker, "ces_goal_ces_ratio_corrected", window) == 0.76
    assert gauge(worker, "ces_goal_ces_ratio_corrected_lower", window) == want.lower
    assert gauge(worker, "ces_goal_ces_ratio_corrected_upper", window) == want.upper
    assert want.lower < 0.76 < want.upper
    assert gauge(worker, "ces_goal_ces_ratio_if_silent_dissatisfied", window) == 0.212
    assert gauge(worker, "ces_goal_ces_ratio_if_silent_satisfied", window) == 0.952


def assert_json(figures: dict, times: int = 1) -> None:
    """The correction in /api/goals or a summary."""
    want = expected(times)
    correction = figures["non_response"]
    assert (figures["ces_ratio"], correction["ces_ratio"]) == (212 / 260, 0.76)
    assert (correction["lower"], correction["upper"]) == (want.lower, want.upper)
    assert (correction["if_silent_dissatisfied"], correction["if_silent_satisfied"]) == (0.212, 0.952)
    assert correction["strata"] == [
        {
            "outcome": "completed",
            "channel": "web",
            "attempts": 800 * times,
            "answers": 240 * times,
            "positive": 204 * times,
            "weight": 0.8,
            "ces_ratio": 0.85,
        },
        {
            "outcome": "abandoned",
            "channel": "web",
            "attempts": 200 * times,
            "answers": 20 * times,
            "positive": 8 * times,
            "weight": 0.2,
            "ces_ratio": 0.4,
        },
    ]
    assert (correction["thin_strata"], correction["unasked_attempts"], correction["complete"]) == ([], 0, True)
    assert correction["asked_outcomes"] == ["completed", "abandoned"]


def test_the_example_is_0_815_blended_and_0_76_corrected_on_metrics_api_and_summary(
    example, start_worker, kafka_bootstrap
):
    # The attempts and the answers in one minute, so the closed 1m summary holds all of them.
    e = example(
        CES_WINDOWS="1m,1h,24h",
        CES_BUCKET_RESOLUTIONS="5s,1m,1h",
        CES_WINDOW_CLOSE_DELAY_SECONDS="5",
        CES_SPLIT_WINDOWS="1h,24h",
    )
    worker = start_worker(e.env)
    wait_until(lambda: time.time() % 60 < 20, timeout_s=65, what="the first 20 s of a minute")  # up to 40 s away
    at = datetime.now(UTC)
    summaries = TopicReader(kafka_bootstrap, e.settings.topic_goal_summaries)
    try:
        e.attempt_goals(at=at)
        e.answer(at=at + timedelta(seconds=1))
        wait_until(lambda: gauge(worker, "ces_goal_answers") == 260, timeout_s=60, what="260 answers in the 1h window")
        assert gauge(worker, "ces_goal_prompts") == 1000
        assert_metrics(worker, "1h")
        assert_metrics(worker, "24h")
        assert gauge(worker, "ces_goal_ces_ratio_corrected", "1m") is None  # 1m is not a split window

        status, body = worker.get("/api/goals")
        assert status == 200
        assert_json(json.loads(body)[GOAL]["1h"])

        records = summaries.wait_for(
            lambda ss: [x for x in ss if x["goal"] == GOAL and x["window"] == "1m" and x["answers"] == 260],
            timeout_s=120,
            what="the closed 1m summary holding the 260 answers",
        )
        (summary,) = [x for x in records if x["goal"] == GOAL and x["window"] == "1m" and x["answers"] == 260]
        assert summary["schema_version"] == 6
        assert_json(summary)
    finally:
        summaries.close()


def test_the_correction_stays_exact_through_a_sigkill_and_replay(example, start_worker):
    times = 5  # 5 000 attempts and 1 300 answers, so the kill lands while they are being counted
    e = example(CES_STORE="rocksdb://")
    worker = start_worker(e.env, name="before-kill")
    e.attempt_goals(times)
    e.answer(times)
    wait_until(
        lambda: (gauge(worker, "ces_goal_answers") or 0) >= 200,
        timeout_s=120,
        interval_s=0.05,
        what="a part of the answers counted",
    )
    worker.kill()  # whatever was not committed is processed again after the restart
    restarted = start_worker(e.env, name="after-kill")
    wait_until(
        lambda: gauge(restarted, "ces_goal_answers") == 260 * times,
        timeout_s=180,
        what="every answer after the restart",
        describe=lambda: gauge(restarted, "ces_goal_answers"),
    )
    wait_until(
        lambda: (restarted.metric("ces_consumer_lag_messages", topic=e.settings.topic_goal_events) or 0) == 0,
        timeout_s=60,
        what="no lag on the goal events topic",
    )
    assert gauge(restarted, "ces_goal_prompts") == 1000 * times
    assert restarted.metric("ces_goal_outcomes", goal=GOAL, window="1h", outcome="completed") == 800 * times
    assert_metrics(restarted, "1h", times)
    assert_metrics(restarted, "7d", times)
    status, body = restarted.get("/api/goals")
    assert status == 200
    assert_json(json.loads(body)[GOAL]["1h"], times)
