"""Hostile input through the real broker: produced = forwarded + dead-lettered, message for message.

Hypothesis draws hostile records for both input topics (``tests/hostile_inputs.py``): random bytes,
almost-JSON (truncated, a byte flipped or inserted, single quotes, a BOM), valid records with a field
dropped, a wrong type, strange (control characters, lone surrogates) or huge strings, extreme
numbers, nested junk, a far future or past or malformed time, an unknown goal, a newer
``schema_version``; the same record twice, the same event id with another type, answers to prompts
nobody sent, records without value, record timestamps hours off the clock, keys of every kind (none,
binary, over 64 KiB), and fully valid records. One real worker takes them all. Each example has two
phases: goal events (some of which prompt) and hostile records of both topics; then answers to the
prompts phase 1 led to (valid, out of the scale, naming another goal, expired, twice, from another
user, mutated) and more hostile records.

After each phase, every record is identified by its source position (topic, partition, offset from
the producer's send metadata), and ``<app_id>-user-events`` and the dead-letter topic, read from the
beginning, must show:

* every produced position exactly once among the envelopes the intake forwarded and the intake's
  dead letters; a forwarded envelope carries the produced key and value unchanged;
* which stage wrote a dead letter follows from its reason (``stream/ces/intake/validation.py``,
  ``answering.py``, ``prompt_replay.py``): the user stage writes ``unknown_prompt``, ``duplicate``,
  ``expired_prompt``, ``score_out_of_range``, ``no_score``, and ``schema_violation`` only as "the answer
  names another goal or survey than its prompt" (detail ``goal: the answer names ...`` or ``survey:
  ...``); every other dead letter is
  the intake's. A user-stage dead letter must concern a forwarded position, at most one per position.
  ``processing_error`` (ces-stream failed on a record) must not occur at all;
* every dead letter holds the produced value (its first ``MAX_ORIGINAL_BYTES`` when ``truncated``),
  its size and key;
* what is certain about a record holds: a valid record is forwarded, a record missing a required
  field is dead-lettered as ``schema_violation``, a far future one as ``future_timestamp`` and so on;
  an answer to a real prompt is counted or dead-lettered for the reason its change implies; a goal
  event sent n times is dead-lettered n - 1 times as ``duplicate`` (which of them depends on the
  order the user stage sees them in: a record without key goes to any partition);
* the worker's counters agree: ``ces_events_invalid_total{topic,reason}`` equals the dead letters per
  source topic and reason, ``ces_goal_events_total{goal,type}`` the forwarded goal events,
  ``ces_survey_answers_total`` the forwarded answers with a score and without a user-stage dead
  letter (a comment sent after its score joins it and is no answer of its own),
  ``ces_survey_prompts_total`` plus ``ces_survey_prompts_suppressed_total`` the forwarded completed
  and abandoned events plus the duplicate started ones, and the prompt and comment counters the
  records on the prompts and comments topics (and the comments those counted answers carry).

A phase is done when the audit passes, or when the worker's group has committed every input and
user-events offset (nothing more will come: the audit then says what is missing), so a broken worker
fails the test in seconds. At the end, after that commit barrier, the whole audit runs once more: a
record forwarded or dead-lettered late, or twice, is caught too.

``EXAMPLES`` examples of ~15-50 records, about 1 200 in all (~35 s after a ~8 s worker start), one
worker for the test (a start costs seconds), derandomized: the same draws on every run, so CI
failures reproduce. Many small examples rather than one large corpus: each example's answers go to
the prompts its own goal events led to, which is the only way answers reach the joiner's good path
and each of its rejections, and an example is the unit the failure message lists. No shrinking: the
worker's state carries over between examples, so a shrunk replay would not be the same experiment;
a failure is reported with every offending record's bytes and the records of its example instead,
and not raised inside hypothesis (whose replay of a stateful example would report a flaky test).
Everything an example needs is drawn before anything is produced (the answers name the prompt's
fields symbolically), so the draws never depend on what the worker did; how many prompts they lead
to, and so how many answers are sent, does (the order in which the worker interleaves partitions).
"""

from __future__ import annotations

import itertools
import json
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas import MAX_KEY_BYTES, MAX_ORIGINAL_BYTES, DeadLetter, GoalEvent, SurveyAnswer
from stream.ces.intake.envelope import Envelope, EnvelopeKind
from stream.infra.producer import make_producer
from stream.infra.topics import create_topics
from tests.harness import WorkerProcess, settings_from_env, wait_until, write_registry
from tests.hostile_inputs import (
    MAX_EVENT_BYTES,
    PROMPT_EXPIRY_S,
    USERS_PER_EXAMPLE,
    AnswerPlan,
    Rendered,
    Spec,
    answer_plans,
    answers_for,
    hostile_record,
    prompted_goal_events,
    render_all,
)

pytestmark = pytest.mark.integration

EXAMPLES = 45
USER_STAGE_REASONS = {"unknown_prompt", "duplicate", "expired_prompt", "score_out_of_range", "no_score"}
# stream.ces.users.answer_joiner: the user stage's schema_violations (a goal or survey mix-up)
PROMPT_MISMATCHES = ("goal: the answer names ", "survey: the answer names ")
Position = tuple[str, int, int]


def stage_of(letter: DeadLetter) -> str:
    """Which stage wrote a dead letter (the rule in the module docstring)."""
    reason = letter.reason.value
    if reason in USER_STAGE_REASONS or (reason == "schema_violation" and letter.detail.startswith(PROMPT_MISMATCHES)):
        return "user"
    return "intake"


class TopicTail:
    """Every record of a topic from the beginning; ``catch_up`` reads up to the current end offsets."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        self.partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        assert self.partitions, f"topic {topic} has no partitions"
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.records: list[Any] = []
        self.parsed: list[Any] = []

    def read(self, parse: Callable[[bytes], Any]) -> list[tuple[Any, Any]]:
        """Every record so far with its value parsed (each record parsed once)."""
        records = self.catch_up()
        self.parsed.extend(parse(r.value) for r in records[len(self.parsed) :])
        return list(zip(records, self.parsed, strict=False))

    def catch_up(self) -> list[Any]:
        ends = self.consumer.end_offsets(self.partitions)
        deadline = time.monotonic() + 30
        while any(self.consumer.position(tp) < ends[tp] for tp in self.partitions):
            assert time.monotonic() < deadline, f"could not read {self.partitions[0].topic} up to {ends}"
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
        return self.records

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Produced:
    record: Rendered
    topic: str
    partition: int
    offset: int
    example: int

    def describe(self) -> str:
        value = self.record.value
        shown = repr(value if value is None or len(value) <= 300 else value[:300] + b"...")
        key = self.record.key
        key_shown = repr(key if key is None or len(key) <= 60 else key[:60] + b"...")
        size = "no value" if value is None else f"{len(value)} bytes"
        return (
            f"{self.topic}:{self.partition}@{self.offset} (example {self.example}, {self.record.spec.label}, "
            f"{size}, key {key_shown}): {shown}"
        )


class Ledger:
    """What was produced, and the audit of what the worker made of it."""

    def __init__(self, settings: Any, worker: WorkerProcess) -> None:
        self.settings = settings
        self.worker = worker
        bootstrap = settings.kafka_bootstrap
        self.producer = make_producer(bootstrap)
        self.user_events_topic = f"{settings.app_id}-user-events"
        self.topic_of = {"goal": settings.topic_goal_events, "answer": settings.topic_survey_answers}
        self.produced: dict[Position, Produced] = {}
        self.forwarded = TopicTail(bootstrap, self.user_events_topic)
        self.dead_letters = TopicTail(bootstrap, settings.topic_dead_letter)
        self.prompts = TopicTail(bootstrap, settings.topic_survey_prompts)
        self.comments = TopicTail(bootstrap, settings.topic_feedback_comments)
        self.prompts_answered = 0
        # Answer plans not bound to a prompt yet: how many prompts an example's phase 1 has led to by the
        # time it settles depends on the machine's load, so plans are bound in their drawn order across
        # examples (the same plans reach the same number of prompts on a loaded CI machine as here).
        self.plans: list[AnswerPlan] = []
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.ends = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        self.tracked = [
            TopicPartition(topic, p)
            for topic in (*self.topic_of.values(), self.user_events_topic)
            for p in range(settings.topic_partitions)
        ]
        self.coverage: Counter[str] = Counter()
        self.failure: str | None = None
        self.models: dict[Position, Any] = {}
        self.last: tuple[Any, Any] = ({}, {})

    def close(self) -> None:
        self.producer.close()
        for tail in (self.forwarded, self.dead_letters, self.prompts, self.comments):
            tail.close()
        self.ends.close()
        self.admin.close()

    # --- producing ---------------------------------------------------------------------

    def produce(self, records: list[Rendered], example: int) -> None:
        futures = [
            (
                record,
                self.producer.send(
                    self.topic_of[record.topic],
                    key=record.key,
                    value=record.value,
                    timestamp_ms=record.timestamp_ms,
                    headers=record.headers or None,
                ),
            )
            for record in records
        ]
        self.producer.flush()
        for record, future in futures:
            meta = future.get(timeout=30)
            position = (meta.topic, meta.partition, meta.offset)
            assert position not in self.produced
            self.produced[position] = Produced(record, meta.topic, meta.partition, meta.offset, example)
            self.coverage[f"kind:{record.spec.label.split('+')[0].split(':')[0]}"] += 1

    def run_example(self, n: int, first: list[Spec], plans: list[AnswerPlan], more: list[Spec]) -> None:
        """Phase 1: ``first``; phase 2: answers to the prompts phase 1 led to, and ``more``. Audit after each."""
        users = [f"hyp{n}-user{i}" for i in range(USERS_PER_EXAMPLE)]
        try:
            self.produce(render_all(first, users), n)
            if self.settle(f"example {n}, phase 1", n):
                self.plans += plans
                bound = list(zip(self.new_prompts(), self.plans, strict=False))
                del self.plans[: len(bound)]
                answers = [spec for prompt, plan in bound for spec in answers_for(prompt, plan)]
                self.produce(render_all(answers + more, users), n)
                self.settle(f"example {n}, phase 2", n)
        except Exception:
            self.failure = f"example {n} raised:\n{traceback.format_exc()}"

    def new_prompts(self) -> list[dict[str, Any]]:
        records = self.prompts.catch_up()
        fresh = [json.loads(r.value) for r in records[self.prompts_answered :]]
        self.prompts_answered = len(records)
        return fresh

    # --- waiting -----------------------------------------------------------------------

    def uncommitted(self) -> dict[str, tuple[int, int]]:
        """The input and user-events partitions whose committed offset is short of the end: (committed, end)."""
        group = self.settings.app_id
        committed = self.admin.list_group_offsets({group: self.tracked}).get(group, {})
        ends = self.ends.end_offsets(self.tracked)
        # -1: nothing committed yet (also for a partition that never held a record)
        at = {tp: max(0, committed[tp].offset) if committed.get(tp) is not None else 0 for tp in self.tracked}
        return {f"{tp.topic}:{tp.partition}": (at[tp], ends[tp]) for tp in self.tracked if at[tp] < ends[tp]}

    def committed_everything(self) -> bool:
        """The worker's group has committed every offset of the inputs and of user-events."""
        return not self.uncommitted()

    def settle(self, what: str, example: int) -> bool:
        """Wait until the audit passes (the worker accounted for everything) or nothing more will come.

        :returns: True when the audit passes; else the failure is kept in ``self.failure``.
        """
        try:
            wait_until(lambda: not self.audit() or self.committed_everything(), timeout_s=30, interval_s=0.1, what=what)
            stuck = ""
        except AssertionError as exc:  # the worker neither accounted for everything nor committed it
            stuck = f"{exc}; not committed (committed, end): {self.uncommitted()}\n"
        problems = self.audit()
        proc = self.worker.proc
        if proc is not None and proc.poll() is not None:
            stuck += f"the worker exited with {proc.returncode}:\n{self.worker.log_tail()}\n"
        if problems or stuck:
            records = [p.describe() for p in self.produced.values() if p.example == example]
            self.failure = (
                f"{what}: {stuck}{len(problems)} problem(s):\n"
                + "\n".join(problems[:40])
                + f"\n--- the {len(records)} records of example {example}:\n"
                + "\n".join(records)
            )
        return not self.failure

    # --- the audit -------------------------------------------------------------------------

    def audit(self) -> list[str]:
        """Everything that does not add up, one line each; empty when produced = processed + dead-lettered."""
        problems: list[str] = []
        inputs = set(self.topic_of.values())
        forwarded: dict[Position, list[Envelope]] = defaultdict(list)
        for _, env in self.forwarded.read(Envelope.decode):
            if env.kind is not EnvelopeKind.expiry:
                forwarded[(env.source_topic, env.source_partition, env.source_offset)].append(env)
        letters: dict[str, dict[Position, list[DeadLetter]]] = {"intake": defaultdict(list), "user": defaultdict(list)}
        by_topic_reason: Counter[tuple[str, str]] = Counter()
        for r, letter in self.dead_letters.read(DeadLetter.model_validate_json):
            position = (letter.source_topic, letter.source_partition, letter.source_offset)
            letters[stage_of(letter)][position].append(letter)
            by_topic_reason[(letter.source_topic, letter.reason.value)] += 1
            if r.key != letter.source_topic.encode():
                problems.append(f"dead letter of {position} keyed {r.key!r}, not by its source topic")
            if letter.source_topic not in inputs or position not in self.produced:
                problems.append(
                    f"dead letter of a record nobody produced: {position} {letter.reason.value} {letter.detail}"
                )
        for position in forwarded.keys() - self.produced.keys():
            problems.append(f"forwarded a record nobody produced: {position}")

        for position, produced in self.produced.items():
            problems.extend(
                self.audit_record(produced, forwarded[position], letters["intake"][position], letters["user"][position])
            )
        problems.extend(self.audit_repeats(letters["user"]))
        problems.extend(self.audit_counters(forwarded, letters["user"], by_topic_reason))
        self.last = (forwarded, letters)
        return problems

    def audit_record(
        self, produced: Produced, envelopes: list[Envelope], intake: list[DeadLetter], user: list[DeadLetter]
    ) -> list[str]:
        """One produced record: forwarded or dead-lettered by the intake exactly once, bytes intact."""
        record = produced.record
        value, key = record.value or b"", record.key
        out: list[str] = []

        def bad(problem: str) -> None:
            out.append(f"{problem}: {produced.describe()}")

        if len(envelopes) + len(intake) != 1:
            reasons = [f"{dl.reason.value} ({dl.detail[:80]})" for dl in intake]
            bad(f"forwarded {len(envelopes)}x and dead-lettered by the intake {len(intake)}x {reasons}")
        kind = EnvelopeKind.goal_event if record.topic == "goal" else EnvelopeKind.answer
        for env in envelopes:
            if (env.kind, env.payload, env.source_key) != (kind, value, key):
                bad(f"forwarded as {env.kind.value} with other bytes (key {env.source_key!r:.60})")
        for letter in intake + user:
            truncated = len(value) > MAX_ORIGINAL_BYTES or (key is not None and len(key) > MAX_KEY_BYTES)
            kept_key = None if key is None else key[:MAX_KEY_BYTES]
            if (letter.original_bytes(), letter.original_size, letter.truncated, letter.source_key_bytes()) != (
                value[:MAX_ORIGINAL_BYTES],
                len(value),
                truncated,
                kept_key,
            ):
                bad(
                    f"{letter.reason.value} dead letter lost the original (size {letter.original_size}, "
                    f"truncated {letter.truncated}, {len(letter.original_bytes())} bytes kept)"
                )
        if user and not envelopes:
            bad(f"user-stage dead letter {[dl.reason.value for dl in user]} of a record never forwarded")
        if len(user) > 1:
            bad(f"{len(user)} user-stage dead letters {[dl.reason.value for dl in user]}")
        for letter in intake + user:
            if letter.reason.value == "processing_error":
                bad(f"processing_error ({letter.detail[:200]})")
        if record.expect == "forward" and not envelopes:
            bad(f"a valid record was not forwarded ({[dl.reason.value for dl in intake]})")
        if record.expect == "dead" and not intake:
            bad("an invalid record was not dead-lettered by the intake")
        if record.reason is not None and intake and intake[0].reason.value != record.reason:
            bad(f"dead-lettered as {intake[0].reason.value} ({intake[0].detail[:120]}), expected {record.reason}")
        if record.user_expect == "counted" and user:
            bad(f"a good answer was dead-lettered as {user[0].reason.value} ({user[0].detail[:120]})")
        elif record.user_expect not in (None, "counted") and [dl.reason.value for dl in user] != [record.user_expect]:
            bad(f"user stage: {[dl.reason.value for dl in user]}, expected {record.user_expect}")
        return out

    def audit_repeats(self, user: dict[Position, list[DeadLetter]]) -> list[str]:
        """A goal event sent n times: the user stage dead-letters all but one of them as duplicates."""
        position_of = {id(p.record): position for position, p in self.produced.items()}
        groups: dict[int, list[Position]] = defaultdict(list)
        for position, produced in self.produced.items():
            first = produced.record.same_as
            if produced.record.topic == "goal" and first is not None and first.expect == "forward":
                groups[id(first)].append(position)
        out = []
        for first, repeats in groups.items():
            sent = [position_of[first], *repeats]
            reasons = [dl.reason.value for position in sent for dl in user[position]]
            if reasons != ["duplicate"] * len(repeats):
                out.append(
                    f"a goal event sent {len(sent)} times led to user-stage dead letters {reasons}, "
                    f"not {len(repeats)} duplicate(s): " + "; ".join(self.produced[p].describe() for p in sent)
                )
        return out

    def model(self, position: Position, model: Any, payload: bytes) -> Any:
        """A forwarded payload as its contract model (parsed once)."""
        if position not in self.models:
            self.models[position] = model.model_validate_json(payload)
        return self.models[position]

    def audit_counters(
        self,
        forwarded: dict[Position, list[Envelope]],
        user: dict[Position, list[DeadLetter]],
        by_topic_reason: Counter[tuple[str, str]],
    ) -> list[str]:
        """The worker's counters against the topics."""
        samples = self.worker.samples()
        if not samples:
            return ["/metrics did not answer"]

        def by_labels(name: str, *labels: str) -> Counter[tuple[str, ...]]:
            out: Counter[tuple[str, ...]] = Counter()
            for (sample, label_set), value in samples.items():
                if sample == name and value:
                    label = dict(label_set)
                    out[tuple(label[k] for k in labels)] += int(value)
            return out

        goal_events: Counter[tuple[str, ...]] = Counter()
        answers = outcome_decisions = comments = 0
        for position, envelopes in forwarded.items():
            if not envelopes:
                continue
            if envelopes[0].kind is EnvelopeKind.goal_event:
                event = self.model(position, GoalEvent, envelopes[0].payload)
                goal_events[(event.goal, event.type.value)] += len(envelopes)
                if event.type.value != "started" or user[position]:
                    outcome_decisions += 1
            elif not user[position]:  # an answer the joiner took, or a comment it joined to its score
                answer = self.model(position, SurveyAnswer, envelopes[0].payload)
                answers += answer.score is not None
                comments += bool((answer.comment or "").strip())
        expected = {
            "ces_events_invalid_total by topic and reason": (
                by_labels("ces_events_invalid_total", "topic", "reason"),
                by_topic_reason,
            ),
            "ces_goal_events_total by goal and type": (by_labels("ces_goal_events_total", "goal", "type"), goal_events),
            "ces_survey_answers_total": (sum(by_labels("ces_survey_answers_total").values()), answers),
            "ces_survey_prompts_total + ces_survey_prompts_suppressed_total": (
                sum(by_labels("ces_survey_prompts_total").values())
                + sum(by_labels("ces_survey_prompts_suppressed_total").values()),
                outcome_decisions,
            ),
            "ces_survey_prompts_total vs the prompts topic": (
                sum(by_labels("ces_survey_prompts_total").values()),
                len(self.prompts.catch_up()),
            ),
            "ces_feedback_comments_total vs the comments topic": (
                sum(by_labels("ces_feedback_comments_total").values()),
                len(self.comments.catch_up()),
            ),
            "ces_feedback_comments_total vs the answers with a comment": (
                sum(by_labels("ces_feedback_comments_total").values()),
                comments,
            ),
        }
        out = []
        for what, (got, want) in expected.items():
            if isinstance(got, Counter):  # only the labels that differ
                differ = {k: (got[k], want[k]) for k in sorted(got.keys() | want.keys()) if got[k] != want[k]}
                if differ:
                    out.append(f"{what} (worker, topics): {differ}")
            elif got != want:
                out.append(f"{what}: worker says {got}, topics say {want}")
        return out

    def note_coverage(self) -> None:
        forwarded, letters = self.last
        for stage, by_position in letters.items():
            for dls in by_position.values():
                for letter in dls:
                    self.coverage[f"{stage}:{letter.reason.value}"] += 1
        for position, produced in self.produced.items():
            if produced.record.user_expect == "counted" and forwarded[position] and not letters["user"][position]:
                self.coverage["answers counted"] += 1
            if produced.record.value is not None and len(produced.record.value) > MAX_ORIGINAL_BYTES:
                self.coverage["truncated"] += 1
        self.coverage["prompts"] = len(self.prompts.records)
        self.coverage["comments"] = len(self.comments.records)


def test_every_hostile_record_is_forwarded_or_dead_lettered_exactly_once(unique_env, start_worker, tmp_path: Path):
    env = dict(unique_env)
    env["CES_GOALS_FILE"] = str(
        write_registry(
            tmp_path / "goals.yaml",
            [
                {"slug": "hyp-five", "scale": {"kind": "five_point"}},
                {"slug": "hyp-ten", "scale": {"kind": "ten_point"}},
                {"slug": "hyp-off", "scale": {"kind": "five_point"}, "enabled": False},
            ],
            prompt_expiry_seconds=PROMPT_EXPIRY_S,
        )
    )
    env["CES_MAX_EVENT_BYTES"] = str(MAX_EVENT_BYTES)
    settings = settings_from_env(env)
    assert set(create_topics(settings).values()) == {"created"}
    worker = start_worker(env)
    ledger = Ledger(settings, worker)
    examples = itertools.count()
    started = time.monotonic()

    @settings_for_examples
    @given(data=st.data())
    def one_example(data: st.DataObject) -> None:
        # Everything is drawn first, the answers too (they name the prompts symbolically): the
        # draws never depend on what the worker did, so hypothesis sees a consistent generator.
        first: list[Spec] = data.draw(prompted_goal_events(), label="goal events that prompt")
        first += data.draw(st.lists(hostile_record(), min_size=10, max_size=30), label="hostile records")
        first = data.draw(st.permutations(first), label="phase 1")
        plans = data.draw(answer_plans(), label="answers to the first prompts (phase 2)")
        more = data.draw(st.lists(hostile_record(), min_size=2, max_size=8), label="more hostile records (phase 2)")
        # A failure is kept, not raised: the worker's state carries over, so hypothesis could not
        # replay a failing example alike (it would report a flaky test instead of the failure).
        if ledger.failure is None:
            ledger.run_example(next(examples), first, plans, more)

    try:
        one_example()
        if ledger.failure is not None:
            pytest.fail(ledger.failure, pytrace=False)
        # Nothing late, nothing twice: once the worker has committed everything, audit once more.
        wait_until(ledger.committed_everything, timeout_s=30, what="the worker's group to commit every offset")
        problems = ledger.audit()
        assert not problems, "after the last commit:\n" + "\n".join(problems[:40])
        ledger.note_coverage()
    finally:
        ledger.close()
    elapsed = time.monotonic() - started
    coverage = dict(sorted(ledger.coverage.items()))
    print(f"{len(ledger.produced)} records in {next(examples)} examples, {elapsed:.0f} s; {coverage}")
    assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    # The strategies reach every intake verdict and every answer path (fixed: the examples are derandomized).
    for needed in (
        "intake:not_json",
        "intake:schema_violation",
        "intake:unknown_goal",
        "intake:future_timestamp",
        "intake:too_late",
        "intake:oversize",
        "user:unknown_prompt",
        "user:duplicate",
        "user:expired_prompt",
        "user:score_out_of_range",
        "user:schema_violation",
        "answers counted",
        "comments",
        "prompts",
        "truncated",
    ):
        assert coverage.get(needed), f"no example reached {needed}: {coverage}"


settings_for_examples: Callable[[Any], Any] = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: see the module docstring
    # Examples are large on purpose, and each runs against the broker for about a second.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
