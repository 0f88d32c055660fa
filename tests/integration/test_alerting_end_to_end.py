"""On-call end to end: the broker, the worker, a real Prometheus with the generated rules, a real Alertmanager.

Short windows (1m and 2m page, min 10 answers, `for` 10 s) so a drop is caught in about a
minute. Goal "steady" stays at CES 0.9; goals "drops" (owned by team "checkout") and
"drops-unowned" (no team) go from 0.9 to 0.35 and back. The test is Alertmanager's webhook
receiver: the page for "drops" must arrive at the team's page receiver (its webhook path)
with its goal, team, severity, summary and runbook_url, the page for "drops-unowned" at the
default page receiver without a team, nothing for "steady", and the resolved notifications
once both recover. While the page is firing, every panel query of every generated dashboard
(variables filled in) must return data from that Prometheus.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stream.ces.registry.loader import load_registry
from stream.infra.producer import emit_answer, emit_goal_event, emit_prompt_event, make_producer
from stream.infra.topics import create_topics
from stream.observability.dashboards import dashboards, panel_queries
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
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("prometheus-alertmanager") is None,
        reason="Debian's prometheus and prometheus-alertmanager are not installed",
    ),
]

STEADY, DROPS, DROPS_UNOWNED = "steady", "drops", "drops-unowned"
TEAM = "checkout"  # owns DROPS; the others have no team
HEALTHY, DROPPED = 0.9, 0.35
TARGET = 0.7


class Traffic(threading.Thread):
    """Goal attempts for both goals every second (a start, then a completion or, a quarter, an abandonment);
    the app reports every prompt shown, and the user answers it or, one in ten, dismisses it.

    ``share[goal]`` is the positive share of the answers, in a fixed pattern (no randomness).
    """

    def __init__(self, settings, producer, prompts: TopicReader) -> None:
        super().__init__(daemon=True)
        self.settings, self.producer, self.prompts = settings, producer, prompts
        self.share = {STEADY: HEALTHY, DROPS: HEALTHY, DROPS_UNOWNED: HEALTHY}
        self.answered = dict.fromkeys(self.share, 0)
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        sent, seen = 0, 0
        try:
            while not self.stopped.wait(1.0):  # one round a second: the traffic's pace, not a wait for a result
                for goal in self.share:
                    for _ in range(4):
                        sent += 1
                        event_type = "abandoned" if sent % 4 == 0 else "completed"
                        started_at = datetime.now(UTC) - timedelta(seconds=5 + sent % 30)  # measured effort
                        emit_goal_event(
                            self.producer,
                            make_goal_event(goal, "started", f"{goal}-{sent}", occurred_at=started_at),
                            topic=self.settings.topic_goal_events,
                        )
                        emit_goal_event(
                            self.producer,
                            make_goal_event(goal, event_type, f"{goal}-{sent}"),
                            topic=self.settings.topic_goal_events,
                        )
                records = self.prompts.poll()
                for k, prompt in enumerate(records[seen:], start=seen):
                    self.report(prompt, "shown")
                    if k % 10 == 9:
                        self.report(prompt, "dismissed")
                        continue
                    goal = prompt["goal"]
                    n = self.answered[goal] = self.answered[goal] + 1
                    score = 5 if n % 20 < self.share[goal] * 20 else 1
                    emit_answer(self.producer, make_answer(prompt, score), topic=self.settings.topic_survey_answers)
                seen = len(records)
                self.producer.flush()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def report(self, prompt: dict, kind: str) -> None:
        """What the app reports of a prompt (its funnel panels need data)."""
        emit_prompt_event(self.producer, make_prompt_event(prompt, kind), topic=self.settings.topic_prompt_events)


def webhook_path(team: str | None, severity: str) -> str:
    """Where the generated Alertmanager config sends an alert of ``team`` (None: no team) and ``severity``."""
    receiver = "page" if severity == "critical" else "ticket"
    return f"/ces-stream/{team}/{receiver}" if team else f"/ces-stream/{receiver}"


@pytest.fixture
def stack(kafka_bootstrap, tmp_path, start_worker):
    registry_path = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": slug, "scale": {"kind": "five_point"}, "target_ces_ratio": TARGET, "alerting": {"min_answers": 10}}
            | ({"team": TEAM} if slug == DROPS else {})
            for slug in (STEADY, DROPS, DROPS_UNOWNED)
        ],
    )
    env = {
        **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
        "CES_GOALS_FILE": str(registry_path),
        "CES_WINDOWS": "1m,2m,5m,10m",
        "CES_BUCKET_RESOLUTIONS": "5s",
        "CES_SPLIT_WINDOWS": "2m,10m",
        "CES_SPLIT_MIN_ANSWERS": "5",
        "CES_ALERT_WINDOWS": "1m,2m",
        "CES_ALERT_SLOW_WINDOW": "5m",
        "CES_ALERT_BASELINE_WINDOW": "10m",
        "CES_ALERT_FOR": "10s",
        "CES_TICK_INTERVAL_SECONDS": "1",
    }
    settings = settings_from_env(env)
    create_topics(settings)
    registry = load_registry(registry_path)
    worker = start_worker(env)
    receiver = WebhookReceiver()
    try:
        with alerting_stack(tmp_path, settings, registry, worker.port, receiver) as (_, prometheus):
            producer = make_producer(kafka_bootstrap, linger_ms=5)
            prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
            traffic = Traffic(settings, producer, prompts)
            traffic.start()
            yield settings, registry, prometheus, receiver, traffic
            traffic.stopped.set()
            traffic.join(10)
            prompts.close()
            producer.close()
    finally:
        receiver.stop()


def test_a_ces_drop_pages_its_team_or_the_default_receiver_and_resolves_and_every_panel_has_data(stack):
    settings, registry, prometheus, receiver, traffic = stack
    dropping = (DROPS, DROPS_UNOWNED)

    def answers_in(goal: str, window: str) -> float:
        result = prometheus.query(f'ces_goal_answers{{goal="{goal}",window="{window}"}}')
        return float(result[0]["value"][1]) if result else 0.0

    wait_until(
        lambda: all(answers_in(goal, "2m") >= 40 for goal in traffic.share),
        timeout_s=180,
        what="every goal answered in Prometheus",
        describe=lambda: (traffic.error, traffic.answered),
    )
    for goal in dropping:
        traffic.share[goal] = DROPPED

    def paged() -> dict[str, dict]:
        """The first firing page of each dropped goal, once both have one."""
        assert traffic.error is None, traffic.error
        firing = [
            a for a in receiver.alerts(alertname="CesBelowTarget", severity="critical") if a["status"] == "firing"
        ]
        first = {goal: next((a for a in firing if a["labels"]["goal"] == goal), None) for goal in dropping}
        return first if all(first.values()) else {}

    pages = wait_until(
        paged,
        timeout_s=240,
        interval_s=0.5,
        what="the pages for both dropped goals",
        describe=lambda: receiver.notifications[-3:],
    )
    page = pages[DROPS]
    assert page["labels"]["window"] in ("1m", "2m")
    assert page["annotations"]["summary"] == "CES of a goal is significantly below its target."
    assert page["annotations"]["runbook_url"] == f"{RUNBOOK}#cesbelowtarget"
    assert f"Goal {DROPS}:" in page["annotations"]["description"] and "answers" in page["annotations"]["description"]
    # The owned goal's alerts carry its team and reach only that team's receivers (critical its page), the
    # other goal's the default ones.
    assert page["labels"]["team"] == TEAM
    assert "team" not in pages[DROPS_UNOWNED]["labels"]
    for goal, team in ((DROPS, TEAM), (DROPS_UNOWNED, None)):
        sent = {
            (n["commonLabels"]["severity"], n["path"])
            for n in list(receiver.notifications)
            if n["commonLabels"].get("goal") == goal
        }
        assert ("critical", webhook_path(team, "critical")) in sent, sent
        assert all(path == webhook_path(team, severity) for severity, path in sent), sent

    # While it fires: every panel query of every dashboard returns data.
    empty = []
    for name, model in dashboards(settings, registry).items():
        for title, expr in panel_queries(model, {"goal": DROPS, "window": "2m", "split_window": "10m"}):
            if not prometheus.query(expr):
                empty.append(f"{name} / {title}: {expr}")
    assert not empty, "panel queries without data:\n" + "\n".join(empty)

    for goal in dropping:
        traffic.share[goal] = HEALTHY

    def all_resolved() -> bool:
        """Every window that paged, of both goals, has a resolved notification after its last firing one."""
        last: dict[tuple[str, str], str] = {}
        for alert in receiver.alerts(alertname="CesBelowTarget"):
            last[alert["labels"]["goal"], alert["labels"]["window"]] = alert["status"]
        return set(dropping) <= {goal for goal, _ in last} and set(last.values()) == {"resolved"}

    wait_until(
        all_resolved,
        timeout_s=300,
        interval_s=0.5,
        what="the resolved notifications",
        describe=lambda: receiver.notifications[-3:],
    )
    assert receiver.alerts(goal=STEADY) == [], "nothing may arrive for the healthy goal"
