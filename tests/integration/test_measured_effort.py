"""Measured effort through the real broker: time from a goal's first start to its completion, and retries.

Users start a goal at constructed times in the past and complete it now; every fifth starts it
twice (a retry). Others complete without a start the worker saw, or start and abandon: neither
is timed. The duration quantiles on ``/metrics``, ``/api/goals`` and a closed summary must be
within the stated 2 % of the exact quantiles of the constructed durations, the counts exact,
also after a SIGKILL and a replay. Every prompt is answered, the slower completions lower:
CES per duration band is exact.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from stream.ces.goals import DURATION_RELATIVE_ACCURACY
from stream.ces.goals.effort import duration_band
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

GOAL = "upload-document"
QUANTILES = {"0.5": 0.5, "0.9": 0.9, "0.99": 0.99}
BANDS = (30, 120, 600)  # the default bands: <30s, 30s-2m, 2m-10m, 10m+
SCORE_BY_BAND = {"<30s": 5, "30s-2m": 4, "2m-10m": 2, "10m+": 1}  # slower, harder
API_FIELDS = {"0.5": "duration_p50_seconds", "0.9": "duration_p90_seconds", "0.99": "duration_p99_seconds"}


class Attempts(GoalTraffic):
    """One test's topics and worker env, and the goal attempts it sends with their exact durations."""

    def __init__(self, kafka_bootstrap: str, tmp_path, **env: str) -> None:
        goal = {"slug": GOAL, "scale": {"kind": "five_point"}, "measured_effort": {"max_duration_seconds": 3600}}
        super().__init__(kafka_bootstrap, tmp_path, [goal], **env)
        self.durations: list[float] = []
        self.retried = 0
        self.band_of: dict[str, str] = {}  # user -> duration band of the timed completion

    def send(self, timed: int, untimed: int, abandoned: int, seed: int = 11) -> None:
        """Starts first (in the past), then every end at one instant now."""
        rng = random.Random(seed)
        now = datetime.now(UTC)
        ends: list[tuple[str, str]] = []
        for i in range(timed):
            user = f"timed-{seed}-{i}"
            # Completion times of a form: about a minute, a long tail up to half an hour.
            duration = min(rng.lognormvariate(4.0, 1.0), 1800.0)
            first = now - timedelta(seconds=duration)
            self.start(user, first)
            if i % 5 == 0:  # a retry halfway: the duration still runs from the first start
                self.start(user, first + timedelta(seconds=duration / 2))
                self.retried += 1
            ends.append((user, "completed"))
            # Measured as the worker measures it: event times as the contract carries them.
            self.durations.append(now.timestamp() - first.timestamp())
            self.band_of[user] = duration_band(BANDS, self.durations[-1])
        for i in range(abandoned):
            user = f"abandoned-{seed}-{i}"
            self.start(user, now - timedelta(seconds=rng.uniform(5, 600)))
            ends.append((user, "abandoned"))
        ends += [(f"untimed-{seed}-{i}", "completed") for i in range(untimed)]
        self.producer.flush()  # the starts first: a completion before its start is not timed
        for user, kind in ends:
            emit_goal_event(
                self.producer, make_goal_event(GOAL, kind, user, occurred_at=now), topic=self.settings.topic_goal_events
            )
        self.producer.flush()

    def answer_timed_prompts(self, kafka_bootstrap: str) -> dict[str, tuple[int, int]]:
        """Answer the prompt of every timed completion by its band; returns (answers, positive) per band."""
        prompts = TopicReader(kafka_bootstrap, self.settings.topic_survey_prompts)
        try:
            records = prompts.wait_for(
                lambda ps: set(self.band_of) <= {p["user_id"] for p in ps},
                timeout_s=120,
                what=f"{len(self.band_of)} prompts",
            )
        finally:
            prompts.close()
        expected: dict[str, tuple[int, int]] = dict.fromkeys(SCORE_BY_BAND, (0, 0))
        for prompt in {p["prompt_id"]: p for p in records if p["user_id"] in self.band_of}.values():
            band = self.band_of[prompt["user_id"]]
            score = SCORE_BY_BAND[band]
            emit_answer(self.producer, make_answer(prompt, score), topic=self.settings.topic_survey_answers)
            answers, positive = expected[band]
            expected[band] = (answers + 1, positive + (score >= 4))
        self.producer.flush()
        return expected

    def start(self, user: str, at: datetime) -> None:
        emit_goal_event(
            self.producer, make_goal_event(GOAL, "started", user, occurred_at=at), topic=self.settings.topic_goal_events
        )

    def exact_quantile(self, quantile: float) -> float:
        """The quantile as the sketch defines it: rank floor(q * (n - 1)) of the sorted durations."""
        ordered = sorted(self.durations)
        return ordered[int(quantile * (len(ordered) - 1))]


@pytest.fixture
def attempts(kafka_bootstrap, tmp_path):
    with closing_all(lambda **env: Attempts(kafka_bootstrap, tmp_path, **env)) as make:
        yield make


def gauge(worker, name: str, window: str = "1h", **labels: str) -> float | None:
    return worker.metric(name, goal=GOAL, window=window, **labels)


def assert_within_stated_error(measured: float | None, exact: float, what: str) -> None:
    assert measured is not None, what
    assert abs(measured - exact) <= DURATION_RELATIVE_ACCURACY * exact, f"{what}: {measured} vs exact {exact}"


def assert_effort_metrics(worker, a: Attempts) -> None:
    assert gauge(worker, "ces_goal_timed_completions") == len(a.durations)
    assert gauge(worker, "ces_goal_retry_ratio") == a.retried / len(a.durations)
    for label, quantile in QUANTILES.items():
        measured = gauge(worker, "ces_goal_completion_duration_seconds", quantile=label)
        assert_within_stated_error(measured, a.exact_quantile(quantile), f"quantile {label}")


def test_time_to_complete_and_retries_on_metrics_api_and_summary(attempts, start_worker, kafka_bootstrap):
    a = attempts(CES_WINDOWS="1m,1h", CES_BUCKET_RESOLUTIONS="5s,1m,1h", CES_WINDOW_CLOSE_DELAY_SECONDS="5")
    worker = start_worker(a.env)
    summaries = TopicReader(kafka_bootstrap, a.settings.topic_goal_summaries)
    try:
        # Every end in one 1m period, early enough in it to be counted before it closes.
        wait_until(lambda: time.time() % 60 < 40, timeout_s=30, what="the first 40 s of a minute")
        a.send(timed=400, untimed=50, abandoned=30)
        wait_until(
            lambda: (
                gauge(worker, "ces_goal_outcomes", outcome="completed") == 450
                and gauge(worker, "ces_goal_outcomes", outcome="abandoned") == 30
            ),
            timeout_s=60,
            what="every outcome in the 1h window",
        )
        assert_effort_metrics(worker, a)

        status, body = worker.get("/api/goals")
        assert status == 200
        api = json.loads(body)[GOAL]["1h"]
        assert (api["timed_completions"], api["retried"]) == (400, a.retried)
        for label, quantile in QUANTILES.items():
            field = API_FIELDS[label]
            assert_within_stated_error(api[field], a.exact_quantile(quantile), field)

        records = summaries.wait_for(
            lambda ss: [x for x in ss if x["goal"] == GOAL and x["window"] == "1m" and x["outcomes"]["completed"]],
            timeout_s=120,
            what="the closed 1m summary of the completions",
        )
        (summary,) = [x for x in records if x["goal"] == GOAL and x["window"] == "1m" and x["outcomes"]["completed"]]
        effort = summary["measured_effort"]
        assert summary["schema_version"] == 6
        assert (effort["timed_completions"], effort["retried"], effort["retry_ratio"]) == (400, 80, 0.2)
        assert effort["relative_accuracy"] == DURATION_RELATIVE_ACCURACY
        assert_within_stated_error(effort["duration_p50_seconds"], a.exact_quantile(0.5), "summary p50")
        assert_within_stated_error(effort["duration_p99_seconds"], a.exact_quantile(0.99), "summary p99")
        assert sum(int(n) for n in effort["duration_histogram"].values()) == 400

        # CES per duration band: every timed completion's prompt answered, the slower ones lower.
        expected = a.answer_timed_prompts(kafka_bootstrap)

        def by_band() -> dict[str, tuple[int, int]]:
            status, body = worker.get("/api/goals")
            bands = json.loads(body)[GOAL]["1h"].get("by_duration_band", {}) if status == 200 else {}
            return {name: (band["answers"], band["positive"]) for name, band in bands.items()}

        wait_until(lambda: by_band() == expected, timeout_s=60, what=f"CES per band {expected}", describe=by_band)
        assert list(by_band()) == list(SCORE_BY_BAND)  # every band, in band order
        assert gauge(worker, "ces_goal_answers") == 400  # the untimed completions' prompts were not answered
    finally:
        summaries.close()


def test_measured_effort_stays_exact_through_a_sigkill_and_replay(attempts, start_worker):
    a = attempts(CES_STORE="rocksdb://")
    worker = start_worker(a.env, name="before-kill")
    a.send(timed=4000, untimed=0, abandoned=0)
    wait_until(
        lambda: (gauge(worker, "ces_goal_timed_completions") or 0) >= 400,
        timeout_s=120,
        interval_s=0.05,
        what="a part of the completions timed",
    )
    worker.kill()  # whatever was not committed is processed again after the restart
    restarted = start_worker(a.env, name="after-kill")
    wait_until(
        lambda: gauge(restarted, "ces_goal_timed_completions") == 4000,
        timeout_s=180,
        what="every completion timed after the restart",
        describe=lambda: gauge(restarted, "ces_goal_timed_completions"),
    )
    assert_effort_metrics(restarted, a)
