"""A worker that starts on a backlog counts every record of it exactly once.

Issue 9: a partition with no committed offset, read from the earliest offset with a
backlog larger than one fetch (``broker_max_poll_records``, 5 000), lost its first
fetch and the group then committed past it. Each case pre-produces more than one
fetch on every partition of the input in question while no worker runs, then starts
a worker and compares the exported window figures with what was produced.
"""

from __future__ import annotations

import uuid

import pytest

from stream.infra.producer import make_producer
from stream.infra.topics import create_topics, goal_partials_topic, user_events_topic
from tests.harness import (
    TopicReader,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# More than one fetch (broker_max_poll_records = 5 000) on every partition. The issue's own
# shape (8 x 12 500) is what lost a partition's first fetch on the old code (2 of 3 runs);
# 4 x 5 200 never did, so the first case keeps the issue's shape and the others are smaller.
ISSUE_SHAPE = (8, 12_500)
SMALL_SHAPE = (4, 5_200)
GOALS = ["backlog-a", "backlog-b"]
SCORES = [5, 4, 2, 5, 1]
STORES = ["memory://", "rocksdb://"]


class Backlog:
    """One test's topics, producer and worker env, with helpers to pre-produce on every partition."""

    def __init__(self, kafka_bootstrap: str, tmp_path, store: str, shape: tuple[int, int]) -> None:
        self.partitions, self.per_partition = shape
        registry = write_registry(
            tmp_path / "goals.yaml", [{"slug": g, "scale": {"kind": "five_point"}} for g in GOALS]
        )
        self.env = {
            **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", self.partitions),
            "CES_GOALS_FILE": str(registry),
            "CES_STORE": store,
            # Lag is exported on each health check: often enough to see a backlog that drains in seconds.
            "CES_HEALTH_CHECK_SECONDS": "1",
        }
        self.settings = settings_from_env(self.env)
        create_topics(self.settings)
        self.producer = make_producer(kafka_bootstrap, linger_ms=20)
        self.prompts = TopicReader(kafka_bootstrap, self.settings.topic_survey_prompts)
        self.completions = dict.fromkeys(GOALS, 0)
        self.answers = dict.fromkeys(GOALS, 0)

    def produce_completions(self, users: list[str]) -> None:
        """One completion per user, spread evenly over the goal-events partitions."""
        for i, user in enumerate(users):
            goal = GOALS[i % len(GOALS)]
            event = make_goal_event(goal, "completed", user)
            self.producer.send(
                self.settings.topic_goal_events,
                key=user.encode(),
                value=event.model_dump_json().encode(),
                partition=i % self.partitions,
            )
            self.completions[goal] += 1
        self.producer.flush()

    def wait_for_prompts(self, users: list[str], worker) -> dict[str, dict]:
        wanted = set(users)

        def state() -> dict[str, float]:
            """What a timeout should say: prompts read, and how far the worker got by its metrics."""
            s = self.settings
            topics = (s.topic_goal_events, user_events_topic(s), goal_partials_topic(s))
            return {
                "prompts read": len({p["user_id"] for p in self.prompts.records} & wanted),
                "goal events counted": sum(
                    worker.metric("ces_goal_events_total", goal=g, type="completed") or 0 for g in GOALS
                ),
                "prompts counted": sum(
                    worker.metric("ces_survey_prompts_total", goal=g, outcome="completed") or 0 for g in GOALS
                ),
                **{f"lag {t}": worker.metric("ces_consumer_lag_messages", topic=t) for t in topics},
            }

        seen: set[str] = set()
        read = [0]  # records of self.prompts already looked at

        def all_read() -> bool:
            # Only the new records each poll: rebuilding a set of 100 000 ids every 50 ms keeps the
            # GIL from this process's Kafka client threads (kafka-python warns of a blocked loop).
            records = self.prompts.poll()
            seen.update(p["user_id"] for p in records[read[0] :])
            read[0] = len(records)
            return wanted <= seen

        wait_until(all_read, timeout_s=240, interval_s=0.05, what=f"{len(users)} prompts", describe=state)
        return {p["user_id"]: p for p in self.prompts.records if p["user_id"] in wanted}

    def produce_answers(self, prompts: list[dict]) -> None:
        """One answer per prompt, spread evenly over the answers partitions."""
        for i, prompt in enumerate(prompts):
            answer = make_answer(prompt, SCORES[i % len(SCORES)])
            self.producer.send(
                self.settings.topic_survey_answers,
                key=prompt["user_id"].encode(),
                value=answer.model_dump_json().encode(),
                partition=i % self.partitions,
            )
            self.answers[prompt["goal"]] += 1
        self.producer.flush()

    @property
    def total(self) -> int:
        return self.partitions * self.per_partition

    def close(self) -> None:
        self.prompts.close()
        self.producer.close()


@pytest.fixture
def backlog(kafka_bootstrap, tmp_path, request):
    store, shape = request.param
    made = Backlog(kafka_bootstrap, tmp_path, store, shape)
    yield made
    made.close()


def users(tag: str, count: int) -> list[str]:
    return [f"{tag}-{i:06d}" for i in range(count)]


def window(worker, name: str, goal: str, **labels: str) -> float:
    return worker.metric(name, goal=goal, window="24h", **labels) or 0.0


def wait_exact(worker, backlog: Backlog) -> None:
    """Every completion and every answer counted, then nothing more (no double count)."""

    def exported() -> dict[str, tuple[float, float]]:
        return {
            g: (window(worker, "ces_goal_outcomes", g, outcome="completed"), window(worker, "ces_goal_answers", g))
            for g in GOALS
        }

    expected = {g: (float(backlog.completions[g]), float(backlog.answers[g])) for g in GOALS}
    wait_until(
        lambda: exported() == expected,
        timeout_s=240,
        interval_s=0.5,
        what=f"exact counts {expected}",
        describe=exported,
    )
    s = backlog.settings
    wait_until(
        lambda: all(
            (worker.metric("ces_consumer_lag_messages", topic=t) or 0) == 0
            for t in (s.topic_goal_events, s.topic_survey_answers)
        ),
        timeout_s=60,
        what="no lag on the inputs",
    )
    assert exported() == expected
    for goal in GOALS:
        assert window(worker, "ces_goal_prompts", goal) == backlog.completions[goal]


def prime(backlog: Backlog, start_worker, answered: int) -> tuple[list[str], dict[str, dict]]:
    """A first worker prompts one user per record of the backlog shape and counts ``answered`` answers, then stops."""
    primed = users("p", backlog.total)
    first = start_worker(backlog.env, name="primer")
    backlog.produce_completions(primed)
    prompts = backlog.wait_for_prompts(primed, first)
    backlog.produce_answers([prompts[u] for u in primed[:answered]])
    wait_until(
        lambda: (
            sum(window(first, "ces_goal_prompts", g) for g in GOALS) == len(primed)
            and sum(window(first, "ces_goal_answers", g) for g in GOALS) == answered
        ),
        timeout_s=120,
        what="every prompt and the first answers in the windows",
    )
    first.stop()  # SIGTERM: commits what it processed
    return primed, prompts


@pytest.mark.parametrize("backlog", [(store, ISSUE_SHAPE) for store in STORES], indirect=True, ids=STORES)
def test_a_backlog_on_an_input_the_group_never_committed_is_counted_exactly(backlog, start_worker):
    """The issue's shape: the group knows the goal events, the answers topic was empty while it ran."""
    primed, prompts = prime(backlog, start_worker, answered=0)
    backlog.produce_answers([prompts[u] for u in primed])  # while no worker runs
    worker = start_worker(backlog.env, name="on-backlog")
    # The lag shows the backlog before it drains (so the wait for no lag below means something).
    # The intake hands answers on to the user events topic faster than one health check
    # apart, so the backlog may show as lag on either topic; the user stage is the slow one.
    answers_path = (backlog.settings.topic_survey_answers, user_events_topic(backlog.settings))
    wait_until(
        lambda: any((worker.metric("ces_consumer_lag_messages", topic=t) or 0) > 0 for t in answers_path),
        timeout_s=60,
        interval_s=0.1,
        what="the answers backlog as consumer lag",
    )
    wait_exact(worker, backlog)


@pytest.mark.parametrize("backlog", [(store, SMALL_SHAPE) for store in STORES], indirect=True, ids=STORES)
def test_a_new_consumer_group_starting_on_a_backlog_counts_it_exactly(backlog, start_worker):
    backlog.produce_completions(users("n", backlog.total))  # before the group exists
    wait_exact(start_worker(backlog.env, name="new-group"), backlog)


@pytest.mark.parametrize("backlog", [(store, SMALL_SHAPE) for store in STORES], indirect=True, ids=STORES)
def test_a_backlog_on_both_inputs_at_once_is_counted_exactly(backlog, start_worker):
    # One answer per partition first, so the group has committed offsets on both inputs.
    primed, prompts = prime(backlog, start_worker, answered=backlog.partitions)
    backlog.produce_answers([prompts[u] for u in primed[backlog.partitions :]])
    backlog.produce_completions(users("q", backlog.total))
    wait_exact(start_worker(backlog.env, name="on-both"), backlog)
