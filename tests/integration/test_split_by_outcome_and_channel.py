"""CES at completion vs at exits, and per channel, through the real broker.

The split (docs/metrics.md "Segments"): the worked example's 100 answers (docs/domain.md), 60 to prompts at
completion, 25 at explicit abandonment and 15 at inferred abandonment (a start without an end);
70 of the attempts on web, 30 in the iOS app. Every answer is sent from channel "other", so the
figures show that an answer counts under the channel where the goal was attempted.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from schemas.summary_example import WORKED_EXAMPLE_SPLIT
from stream.ces.goals.stats import difference_interval, wilson_interval
from stream.infra.producer import emit_answer, emit_goal_event
from tests.harness import (
    GoalTraffic,
    TopicReader,
    closing_all,
    make_answer,
    make_goal_event,
    wait_until,
)

pytestmark = pytest.mark.integration

GOAL = "file-claim"
INFERRED_TIMEOUT_S = 2
SPLIT = WORKED_EXAMPLE_SPLIT
# The same by hand: (answers, positive) per segment, and the blended figures.
BY_OUTCOME = {"completed": (60, 50), "abandoned": (25, 6), "abandoned_inferred": (15, 4)}
BY_CHANNEL = {"web": (70, 45), "ios": (30, 15), "android": (0, 0), "other": (0, 0)}
AT_EXITS = (40, 10)


class Split(GoalTraffic):
    """One test's goal, topics and worker env; sends the split's goal events and answers."""

    def __init__(self, kafka_bootstrap: str, tmp_path, **env: str) -> None:
        goal = {
            "slug": GOAL,
            "scale": {"kind": "five_point"},
            "triggers": {
                "completed": True,
                "abandoned": True,
                "inferred_abandonment": {"enabled": True, "timeout_seconds": INFERRED_TIMEOUT_S},
            },
        }
        super().__init__(kafka_bootstrap, tmp_path, [goal], **env)
        self.prompts = TopicReader(kafka_bootstrap, self.settings.topic_survey_prompts)
        self.scores: dict[str, int] = {}  # user -> score to answer

    def attempt_goals(self, times: int = 1) -> None:
        """Each user of the split attempts the goal once: completes, abandons, or starts and goes silent."""
        for round_ in range(times):
            for (outcome, channel), by_score in SPLIT.items():
                for score, count in by_score.items():
                    for i in range(count):
                        user = f"{outcome}-{channel}-{score}-{i}-{round_}"
                        event_type = "started" if outcome == "abandoned_inferred" else outcome
                        emit_goal_event(
                            self.producer,
                            make_goal_event(GOAL, event_type, user, channel=channel),
                            topic=self.settings.topic_goal_events,
                        )
                        self.scores[user] = score
        self.producer.flush()

    def answer_every_prompt(self, answered_at: datetime | None = None) -> None:
        wanted = set(self.scores)
        records = self.prompts.wait_for(
            lambda ps: wanted <= {p["user_id"] for p in ps}, timeout_s=120, what=f"{len(wanted)} prompts"
        )
        for prompt in records:
            fields = {"channel": "other"} | ({"answered_at": answered_at} if answered_at else {})
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
def split(kafka_bootstrap, tmp_path):
    with closing_all(lambda **env: Split(kafka_bootstrap, tmp_path, **env)) as make:
        yield make


def gauge(worker, name: str, window: str = "1h", **labels: str) -> float | None:
    return worker.metric(name, goal=GOAL, window=window, **labels)


def expected_gap(times: int = 1) -> tuple[float, float, float]:
    (exits, exits_positive), (completions, completions_positive) = AT_EXITS, BY_OUTCOME["completed"]
    p_exit, p_done = exits_positive / exits, completions_positive / completions
    lower, upper = difference_interval(
        p_exit,
        wilson_interval(exits_positive * times, exits * times, 0.99),
        p_done,
        wilson_interval(completions_positive * times, completions * times, 0.99),
    )
    return p_exit - p_done, lower, upper


def assert_split_metrics(worker, window: str = "1h", times: int = 1) -> None:
    for outcome, (answers, positive) in BY_OUTCOME.items():
        assert gauge(worker, "ces_goal_answers_by_outcome", window, outcome=outcome) == answers * times, outcome
        assert gauge(worker, "ces_goal_positive_answers_by_outcome", window, outcome=outcome) == positive * times
        assert gauge(worker, "ces_goal_ces_ratio_by_outcome", window, outcome=outcome) == positive / answers
        bounds = wilson_interval(positive * times, answers * times, 0.99)
        assert gauge(worker, "ces_goal_ces_ratio_wilson_lower_by_outcome", window, outcome=outcome) == bounds[0]
        assert gauge(worker, "ces_goal_ces_ratio_wilson_upper_by_outcome", window, outcome=outcome) == bounds[1]
    for channel, (answers, positive) in BY_CHANNEL.items():
        assert gauge(worker, "ces_goal_answers_by_channel", window, channel=channel) == answers * times, channel
        # A segment without answers exports its count only.
        assert gauge(worker, "ces_goal_positive_answers_by_channel", window, channel=channel) == (
            positive * times if answers else None
        )
        assert gauge(worker, "ces_goal_ces_ratio_by_channel", window, channel=channel) == (
            positive / answers if answers else None
        )
    gap, lower, upper = expected_gap(times)
    assert gauge(worker, "ces_goal_exit_ces_gap", window) == gap
    assert (
        gauge(worker, "ces_goal_exit_ces_gap_lower", window),
        gauge(worker, "ces_goal_exit_ces_gap_upper", window),
    ) == (lower, upper)
    # The blended series are what they were before the split existed.
    assert gauge(worker, "ces_goal_answers", window) == 100 * times
    assert gauge(worker, "ces_goal_ces_ratio", window) == 0.60
    assert gauge(worker, "ces_goal_mean_score", window) == 3.45


def assert_split_json(figures: dict) -> None:
    """The split in /api/goals or a summary (one times the split)."""
    for outcome, (answers, positive) in BY_OUTCOME.items():
        segment = figures["by_outcome"][outcome]
        assert (segment["answers"], segment["positive"], segment["ces_ratio"]) == (
            answers,
            positive,
            positive / answers,
        )
    assert figures["by_outcome"]["abandoned"]["distribution"] == {"1": 10, "2": 7, "3": 2, "4": 3, "5": 3}
    assert figures["by_outcome"]["completed"]["mean_score"] == (35 * 5 + 15 * 4 + 2 * 3 + 4 * 2 + 4 * 1) / 60
    for channel, (answers, positive) in BY_CHANNEL.items():
        segment = figures["by_channel"][channel]
        assert (segment["answers"], segment["positive"]) == (answers, positive), channel
    assert figures["by_channel"]["ios"]["distribution"] == {"1": 7, "2": 6, "3": 2, "4": 5, "5": 10}
    assert (figures["at_exits"]["answers"], figures["at_exits"]["ces_ratio"]) == (40, 0.25)
    gap, lower, upper = expected_gap()
    assert figures["exit_gap"] == {
        "ces_ratio_gap": gap,
        "lower": lower,
        "upper": upper,
        "significant": True,
        "exit_answers": 40,
        "completion_answers": 60,
    }
    assert figures["completion_vs_all"] == {
        "completion_only_ces_ratio": 50 / 60,
        "all_outcomes_ces_ratio": 0.6,
        "overstatement": 50 / 60 - 0.6,
    }
    assert (figures["answers"], figures["ces_ratio"], figures["mean_score"]) == (100, 0.6, 3.45)


def test_ces_at_completion_vs_at_exits_and_per_channel_on_metrics_api_and_summary(split, start_worker, kafka_bootstrap):
    # A 1m window closes within a minute; the answers all carry one answered_at.
    s = split(
        CES_WINDOWS="1m,1h,24h",
        CES_BUCKET_RESOLUTIONS="5s,1m,1h",
        CES_WINDOW_CLOSE_DELAY_SECONDS="5",
        CES_SPLIT_WINDOWS="1h,24h",
    )
    worker = start_worker(s.env)
    s.attempt_goals()
    wait_until(lambda: gauge(worker, "ces_goal_prompts") == 100, timeout_s=60, what="100 prompts (15 inferred)")
    # All answers in one 1m period, early enough in it that they are counted before it closes.
    wait_until(lambda: time.time() % 60 < 40, timeout_s=30, what="the first 40 s of a minute")
    answered_at = datetime.now(UTC)
    summaries = TopicReader(kafka_bootstrap, s.settings.topic_goal_summaries)
    try:
        s.answer_every_prompt(answered_at)
        wait_until(lambda: gauge(worker, "ces_goal_answers") == 100, timeout_s=60, what="100 answers in the 1h window")
        assert_split_metrics(worker, "1h")
        assert_split_metrics(worker, "24h")
        assert (
            gauge(worker, "ces_goal_answers_by_outcome", "1m", outcome="completed") is None
        )  # 1m is not a split window

        status, body = worker.get("/api/goals")
        assert status == 200
        api = json.loads(body)[GOAL]
        assert_split_json(api["1h"])
        assert api["1m"]["by_outcome"]["completed"]["answers"] in (0, 60)  # every window carries the split in the API

        records = summaries.wait_for(
            lambda ss: [x for x in ss if x["goal"] == GOAL and x["window"] == "1m" and x["answers"] == 100],
            timeout_s=120,
            what="the closed 1m summary holding the 100 answers",
        )
        (summary,) = [x for x in records if x["goal"] == GOAL and x["window"] == "1m" and x["answers"] == 100]
        assert summary["schema_version"] == 6
        assert_split_json(summary)
    finally:
        summaries.close()


def test_split_figures_stay_exact_through_a_sigkill_and_replay(split, start_worker):
    times = 20  # 2 000 answers, so the kill lands while they are being counted
    s = split(CES_STORE="rocksdb://")
    worker = start_worker(s.env, name="before-kill")
    s.attempt_goals(times)
    wait_until(lambda: gauge(worker, "ces_goal_prompts") == 100 * times, timeout_s=120, what="every prompt")
    s.answer_every_prompt()
    wait_until(
        lambda: (gauge(worker, "ces_goal_answers") or 0) >= 400,
        timeout_s=120,
        interval_s=0.05,
        what="a part of the answers counted",
    )
    worker.kill()  # whatever was not committed is processed again after the restart
    restarted = start_worker(s.env, name="after-kill")
    wait_until(
        lambda: gauge(restarted, "ces_goal_answers") == 100 * times,
        timeout_s=180,
        what="every answer after the restart",
        describe=lambda: gauge(restarted, "ces_goal_answers"),
    )
    wait_until(
        lambda: (restarted.metric("ces_consumer_lag_messages", topic=s.settings.topic_survey_answers) or 0) == 0,
        timeout_s=60,
        what="no lag on the answers topic",
    )
    assert_split_metrics(restarted, "1h", times)
    assert_split_metrics(restarted, "7d", times)
