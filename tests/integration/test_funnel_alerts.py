"""The prompt funnel's alerts end to end: "not shown" and "answers stopped" each page for their own cause.

The broker, a worker, a real Prometheus with the generated rules and a real Alertmanager whose
webhook is the test, with the survey alerts' lookback at 1m and their ``for`` at 10 s. Two goals,
a completion by a new user every second each; the app reports every prompt shown and the user
answers it. Then, for goal "hidden", the app stops rendering: no prompt is shown, so none is
answered; for goal "unanswered" prompts are still shown but nobody answers. CesPromptsNotShown
must page for "hidden" and never for "unanswered"; CesAnswersStopped for "unanswered" and never
for "hidden", although its own condition (no answer while at least 10 are due) holds there.
"""

from __future__ import annotations

import shutil
import threading
import uuid

import pytest

from stream.ces.registry.loader import load_registry
from stream.infra.producer import emit_answer, emit_goal_event, emit_prompt_event, make_producer
from stream.infra.topics import create_topics
from stream.observability.rules import RUNBOOK
from tests.harness import (
    TopicReader,
    make_answer,
    make_goal_event,
    make_prompt_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)
from tests.monitoring_harness import WebhookReceiver, alerting_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("prometheus-alertmanager") is None,
        reason="Debian's prometheus and prometheus-alertmanager are not installed",
    ),
]

HIDDEN, UNANSWERED = "hidden", "unanswered"
GOALS = (HIDDEN, UNANSWERED)


class AppTraffic(threading.Thread):
    """Every second, per goal, a completion by a new user; every prompt the worker sends is reported
    shown while ``rendering[goal]`` and then answered while ``answering[goal]`` too."""

    def __init__(self, settings, producer, prompts: TopicReader) -> None:
        super().__init__(daemon=True)
        self.settings, self.producer, self.prompts = settings, producer, prompts
        self.rendering = dict.fromkeys(GOALS, True)
        self.answering = dict.fromkeys(GOALS, True)
        self.shown = dict.fromkeys(GOALS, 0)
        self.answered = dict.fromkeys(GOALS, 0)
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        sent, seen = 0, 0
        try:
            while not self.stopped.wait(1.0):  # one round a second: the traffic's pace, not a wait for a result
                sent += 1
                for goal in GOALS:
                    emit_goal_event(
                        self.producer,
                        make_goal_event(goal, "completed", f"{goal}-{sent}"),
                        topic=self.settings.topic_goal_events,
                    )
                records = self.prompts.poll()
                for prompt in records[seen:]:
                    goal = prompt["goal"]
                    if not self.rendering[goal]:
                        continue  # users cannot answer what they do not see
                    self.report_shown(prompt)
                    if self.answering[goal]:
                        emit_answer(self.producer, make_answer(prompt, 5), topic=self.settings.topic_survey_answers)
                        self.answered[goal] += 1
                seen = len(records)
                self.producer.flush()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def report_shown(self, prompt: dict) -> None:
        emit_prompt_event(self.producer, make_prompt_event(prompt, "shown"), topic=self.settings.topic_prompt_events)
        self.shown[prompt["goal"]] += 1


@pytest.fixture
def stack(kafka_bootstrap, tmp_path, start_worker):
    # Sampling rate 1 and no cooldowns (write_registry's defaults): every completion is prompted.
    registry_path = write_registry(
        tmp_path / "goals.yaml", [{"slug": slug, "scale": {"kind": "five_point"}} for slug in GOALS]
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
        "CES_GOALS_FILE": str(registry_path),
        "CES_WINDOWS": "1m,2m,5m,10m",
        "CES_BUCKET_RESOLUTIONS": "5s",
        "CES_ALERT_WINDOWS": "1m,2m",
        "CES_ALERT_SLOW_WINDOW": "5m",
        "CES_ALERT_BASELINE_WINDOW": "10m",
        "CES_ALERT_SURVEY_WINDOW": "1m",
        "CES_ALERT_SURVEY_FOR": "10s",
        "CES_TICK_INTERVAL_SECONDS": "1",
    }
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env)
    receiver = WebhookReceiver()
    try:
        registry = load_registry(registry_path)
        with alerting_stack(tmp_path, settings, registry, worker.port, receiver) as (rule_document, prometheus):
            producer = make_producer(kafka_bootstrap, linger_ms=5)
            prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
            traffic = AppTraffic(settings, producer, prompts)
            traffic.start()
            yield rule_document, prometheus, receiver, traffic
            traffic.stopped.set()
            traffic.join(10)
            prompts.close()
            producer.close()
    finally:
        receiver.stop()


def test_not_shown_pages_when_the_app_stops_rendering_and_answers_stopped_when_users_stop_answering(stack):
    rule_document, prometheus, receiver, traffic = stack

    def figure(metric: str, goal: str) -> float:
        result = prometheus.query(f'{metric}{{goal="{goal}",window="1m"}}')
        return float(result[0]["value"][1]) if result else 0.0

    # Healthy for most of a minute: the 10m baseline's shown and response ratios hold enough to be "usual".
    wait_until(
        lambda: all(figure("ces_goal_prompts_shown", g) >= 40 and figure("ces_goal_answers", g) >= 40 for g in GOALS),
        timeout_s=180,
        what="both goals shown and answered in Prometheus",
        describe=lambda: (traffic.error, traffic.shown, traffic.answered),
    )
    assert receiver.alerts(alertname="CesPromptsNotShown") == receiver.alerts(alertname="CesAnswersStopped") == []
    traffic.rendering[HIDDEN] = False
    traffic.answering[UNANSWERED] = False

    def firing(alertname: str, goal: str) -> list[dict]:
        assert traffic.error is None, traffic.error
        alerts = receiver.alerts(alertname=alertname, goal=goal)
        return [a for a in alerts if a["status"] == "firing"]

    (not_shown, *_) = wait_until(
        lambda: firing("CesPromptsNotShown", HIDDEN),
        timeout_s=180,
        interval_s=0.5,
        what="CesPromptsNotShown for the goal whose app stopped rendering",
        describe=lambda: receiver.notifications[-3:],
    )
    (answers_stopped, *_) = wait_until(
        lambda: firing("CesAnswersStopped", UNANSWERED),
        timeout_s=120,
        interval_s=0.5,
        what="CesAnswersStopped for the goal whose users stopped answering",
        describe=lambda: receiver.notifications[-3:],
    )
    assert not_shown["labels"]["severity"] == answers_stopped["labels"]["severity"] == "critical"
    assert not_shown["annotations"]["summary"] == "Survey prompts go out but the app no longer shows them."
    assert not_shown["annotations"]["runbook_url"] == f"{RUNBOOK}#cespromptsnotshown"
    assert not_shown["annotations"]["description"].startswith(
        f"Goal {HIDDEN}: no prompt reported shown in the last 1m, while its prompts and its usual shown ratio would give "
    )
    assert answers_stopped["annotations"]["description"].startswith(f"Goal {UNANSWERED}: no answer in the last 1m,")

    # CesAnswersStopped's own condition (before its `unless`) holds for "hidden": no answer while 10 or more
    # are due. Wait until both pages have fired for 20 s, twice the `for`: the wrong alerts had time to fire.
    (answers_stopped_rule,) = [
        rule for group in rule_document["groups"] for rule in group["rules"] if rule.get("alert") == "CesAnswersStopped"
    ]
    no_answer_while_due = answers_stopped_rule["expr"].split("\nunless on (goal) (")[0]

    def held_20s(alertname: str, goal: str) -> bool:
        expr = f'count_over_time(ALERTS{{alertname="{alertname}",goal="{goal}",alertstate="firing"}}[1m]) >= 20'
        return bool(prometheus.query(expr))

    wait_until(
        lambda: held_20s("CesPromptsNotShown", HIDDEN) and held_20s("CesAnswersStopped", UNANSWERED),
        timeout_s=60,
        interval_s=0.5,
        what="both pages firing for 20 s",
    )
    assert {r["metric"]["goal"] for r in prometheus.query(no_answer_while_due)} == {HIDDEN, UNANSWERED}

    # Never the other way round: not in Prometheus, not pending even, and not at the receiver.
    assert prometheus.query(f'count_over_time(ALERTS{{alertname="CesPromptsNotShown",goal="{UNANSWERED}"}}[10m])') == []
    assert (
        prometheus.query(
            f'count_over_time(ALERTS{{alertname="CesAnswersStopped",goal="{HIDDEN}",alertstate="firing"}}[10m])'
        )
        == []
    )
    assert receiver.alerts(alertname="CesPromptsNotShown", goal=UNANSWERED) == []
    assert receiver.alerts(alertname="CesAnswersStopped", goal=HIDDEN) == []
