"""User stage: the prompt engine and the answer joiner, per pseudonymous user, in batches.

Consumes ``<app_id>-user-events`` (re-keyed goal events, answers, prompt events, erasure requests
and expiry records). Per batch and partition it runs the pure decisions (``stream.ces.users.prompt_engine``,
``stream.ces.users.answer_joiner``, ``stream.ces.users.prompt_events``), sends prompts, comments and dead letters, then writes each
touched user state once and folds the facts into per-partition partials (one table
write per touched bucket, never one per event), which travel on to the goal stage
packed into one record per goal partition. The batch is acked only after Kafka has
all of that, so a crash replays it instead of losing it. Expiry records and the timer
that sends them are in :mod:`stream.pipeline.users.expiry`. An erasure request deletes the
user's state (a tombstone in the ``users`` changelog); the anonymous partials stay.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from faust.types import AppT, StreamT, TopicT

from schemas import DeadLetterReason, GoalEvent, PromptEvent, SurveyAnswer
from schemas.survey_prompt import SurveyKind
from stream.ces.goals import (
    NPS,
    Fact,
    Partial,
    PartialExpiry,
    PartialKey,
    apply_facts,
    encode_partial,
    goal_partition,
    keys_for,
    without_releases,
    write_batch,
)
from stream.ces.intake import Envelope, EnvelopeKind, Rejection, dead_letter
from stream.ces.registry import GoalRegistry
from stream.ces.users import (
    AdaptiveRates,
    AnswerDecision,
    GoalCounts,
    PromptDecision,
    PromptEventDecision,
    UserState,
    decide_answer,
    decide_goal_event,
    decide_prompt_event,
    longest_budget_s,
    longest_cooldown_s,
)
from stream.infra.record_reader import RecordReader
from stream.observability.metrics import CesMetrics
from stream.pipeline.faust_internals import (
    BatchSender,
    ContinuityGuard,
    ack,
    batches,
    stored_items,
    stored_reader,
)
from stream.pipeline.stage_helpers import by_partition, on_signal, owned_partitions, raw_table, stage_agent
from stream.pipeline.stage_types import Output, StageEvent, required
from stream.pipeline.users.erasure import Discard, UserErasure
from stream.pipeline.users.expiry import UserExpiry
from stream.settings import Settings

log = logging.getLogger(__name__)
# Partials per goal-partials record (a record stays well under Kafka's 1 MiB default).
PARTIALS_PER_RECORD = 2000


@dataclass
class BatchEffects:
    """One batch's effects on one partition, written together: user states and facts."""

    now_s: float
    states: dict[str, UserState] = field(default_factory=dict)
    facts: list[tuple[int, Fact]] = field(default_factory=list)


def state_from(data: bytes | None) -> UserState:
    """A stored user state, or the empty state of a user with none."""
    return UserState.from_bytes(data) if data else UserState()


class UserStage:
    """The prompt engine and answer joiner over ``<app_id>-user-events``, with its tables and timers.

    State: the ``users`` table (one JSON state per pseudonymous user) and the
    ``partials`` table (stage-1 partials per source partition, goal and bucket), plus
    in-memory indexes derived from them (deadlines in ``expiry``, decoded partials,
    partial expiry) that are rebuilt after every rebalance.

    :param topic: the user-events Faust topic the stage consumes.
    :param goal_partials_topic: name of the topic the partials travel on to the goal stage.
    :param resolutions_s: the bucket resolutions facts are folded into.
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        metrics: CesMetrics,
        registry: GoalRegistry,
        topic: TopicT,
        goal_partials_topic: str,
        resolutions_s: tuple[int, ...],
        guard: ContinuityGuard,
        reader: RecordReader,
    ) -> None:
        s = settings
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.registry = registry
        self.topic_name = topic.get_topic_name()
        self.goal_partials_topic = goal_partials_topic
        self.resolutions = resolutions_s
        self.guard = guard
        self.reader = reader
        self.partitions = s.topic_partitions
        self.json_states = s.user_state_format == "json"
        self.cooldown_keep_s = longest_cooldown_s(registry)
        self.budget_keep_s = longest_budget_s(registry)
        nps = registry.nps_enabled
        self.nps_keep_s = 0.0 if nps is None else nps.period_seconds
        self.high_effort_keep_s = 0.0 if nps is None else nps.high_effort.window_seconds
        # An erased user's older records leave the changelog within the compaction lag (docs/personal-data.md).
        compaction_lag_ms = str(int(s.erasure_compaction_lag_hours * 3_600_000))
        self.users = raw_table(app, "users", s, {"max.compaction.lag.ms": compaction_lag_ms})
        self.partials = raw_table(app, "partials", s)
        # The owned partials, decoded: a batch touches the same few buckets again and again.
        # Only valid while the assignment stands; dropped on every rebalance.
        self.decoded_partials: dict[PartialKey, Partial] = {}
        self.partial_expiry = PartialExpiry()  # the stored partials by bucket end, for the pruner
        self.rates = AdaptiveRates(registry.goals)
        # Stage-1 partials are only needed while late facts can still reach their bucket.
        self.partial_keep_s = s.late_grace_seconds + max(resolutions_s) * 2

        stage_agent(app, topic, f"{s.app_id}.users", self.run)
        self.expiry = UserExpiry(app, s, registry, self.topic_name, reader, self.load_state)
        self.erasure = UserErasure(app, s, self.topic_name)
        app.timer(max(60.0, s.tick_interval_seconds), name=f"{s.app_id}.partials-pruner")(self.prune_partials)
        on_signal(app.on_partitions_revoked, self.forget_decoded)
        on_signal(app.on_partitions_assigned, self.forget_decoded)
        on_signal(app.on_rebalance_complete, self.after_recovery)

    # --- the agent ---------------------------------------------------------------

    async def run(self, stream: StreamT[bytes]) -> None:
        """Decide per batch at once; fold the batches' facts into partials every interval.

        Prompts and user states are in Kafka when a batch's ``send`` returns, so a prompt
        never waits for aggregation. The events are acked only after their facts are in
        the partials too: Kafka never commits past an event whose effects are not all
        written (Faust itself commits without waiting for records sent meanwhile). A
        crash replays the unacked events; their recorded decisions re-emit the same
        facts and the partials' high-water marks count each once. A rebalance waits for
        the acks, and an idle stage folds after ``aggregate_interval_seconds``.
        """
        s = self.settings
        interval_s = s.aggregate_interval_seconds
        unfolded: list[StageEvent] = []
        facts: dict[int, list[tuple[int, Fact]]] = defaultdict(list)
        folded_at = time.monotonic()
        async for events in batches(
            stream, s.batch_max_events, s.batch_linger_seconds, idle_s=interval_s, guard=self.guard
        ):
            if events:
                await self.decide(events, facts)
                unfolded.extend(events)
            if unfolded and (not events or time.monotonic() - folded_at >= interval_s):
                out = BatchSender(self.app)
                for partition, partition_facts in facts.items():
                    self.write_partials(out, partition, partition_facts)
                await out.send()
                ack(unfolded)
                unfolded, facts = [], defaultdict(list)
                folded_at = time.monotonic()

    async def decide(self, events: list[StageEvent], facts: dict[int, list[tuple[int, Fact]]]) -> None:
        """One batch: decisions, prompts, comments, dead letters and user states, all in Kafka on return."""
        out = BatchSender(self.app)
        counts: dict[str, GoalCounts] = defaultdict(GoalCounts)
        for partition, group in by_partition(events).items():
            effects = self.process(out, partition, group, counts)
            self.write_states(out, partition, effects)
            facts[partition].extend(effects.facts)
        owned = owned_partitions(self.app, self.topic_name)
        self.rates.observe(counts, len(owned) / self.partitions if owned else 1.0)
        await out.send()
        self.metrics.last_event.labels(self.topic_name).set(time.time())

    def process(
        self, out: Output, partition: int, events: Sequence[StageEvent], counts: dict[str, GoalCounts]
    ) -> BatchEffects:
        """Decide on one partition's events; their output records are queued in ``out``.

        :param counts: per goal, what the batch did, for adaptive sampling.
        """
        effects = BatchEffects(now_s=events[-1].message.timestamp)
        stored = stored_reader(self.users, partition)
        for event in events:
            message = event.message
            user_ref = required(message.key, "key").decode()
            state = effects.states.get(user_ref)
            if state is None:
                state = effects.states[user_ref] = state_from(stored(user_ref.encode()))
            try:
                env = Envelope.decode(required(message.value, "value"))
            except Exception as exc:  # not ours: keep it, do not stop
                payload = message.value or b""  # none only in a record we did not write
                env = Envelope(
                    EnvelopeKind.expiry, message.topic, message.partition, message.offset, message.key, payload
                )
                self.send_dead_letter(
                    out, env, DeadLetterReason.processing_error, f"undecodable internal record: {exc!r}"
                )
                continue
            if env.kind is EnvelopeKind.erasure:  # the state goes; the batch writes its tombstone
                self.erasure.mark(out, partition, user_ref, env, message.timestamp)
                effects.states[user_ref] = self.erase(state, user_ref)
                continue
            # A record from before its user's erasure counts in the figures, and leaves nothing else.
            before_erasure = self.erasure.from_before(user_ref, env)
            target: Output = Discard() if before_erasure else out
            if before_erasure:
                state = UserState()
            if env.kind is EnvelopeKind.expiry:  # our own record: it is its own source
                env = replace(
                    env, source_topic=message.topic, source_partition=message.partition, source_offset=message.offset
                )
            try:
                self.handle(
                    target, env, state, user_ref, message.offset, message.timestamp, effects.facts, counts, partition
                )
            except Exception as exc:  # a bug must not stop the worker or lose the record
                log.exception("user stage failed on %s:%s@%s", message.topic, message.partition, message.offset)
                self.send_dead_letter(target, env, DeadLetterReason.processing_error, f"internal error: {exc!r}")
            if before_erasure:
                self.expiry.forget_user(user_ref)
        return effects

    def handle(
        self,
        out: Output,
        env: Envelope,
        state: UserState,
        user_ref: str,
        offset: int,
        now_s: float,
        facts: list[tuple[int, Fact]],
        counts: dict[str, GoalCounts],
        partition: int,
    ) -> None:
        """One envelope of one user: a goal event, an answer, a prompt event or an expiry record."""
        if env.kind is EnvelopeKind.goal_event:
            event = GoalEvent.model_validate_json(env.payload)
            decision = decide_goal_event(
                state,
                event,
                user_ref=user_ref,
                offset=offset,
                now_s=now_s,
                registry=self.registry,
                rates=self.rates.rates,
            )
            counts[event.goal].goal_events += 1
            facts.extend(decision.facts)
            self.on_prompt_decision(out, decision, env, counts, event.occurred_at.timestamp())
            user_id: str | None = event.user_id
        elif env.kind is EnvelopeKind.answer:
            answer = SurveyAnswer.model_validate_json(env.payload)
            decision_a = decide_answer(
                state,
                answer,
                user_ref=user_ref,
                offset=offset,
                now_s=now_s,
                high_effort_window_s=self.high_effort_keep_s,
            )
            facts.extend(decision_a.facts)
            self.on_answer_decision(out, decision_a, env, answer.goal, counts)
            return
        elif env.kind is EnvelopeKind.prompt_event:
            prompt_event = PromptEvent.model_validate_json(env.payload)
            decision_d = decide_prompt_event(state, prompt_event, offset=offset, now_s=now_s)
            facts.extend(decision_d.facts)
            self.on_prompt_event_decision(out, decision_d, env)
            return
        else:
            user_id, expired = self.expiry.decide(state, env, user_ref, offset, now_s, self.rates.rates)
            for decision in expired:
                facts.extend(decision.facts)
                self.on_prompt_decision(out, decision, env, counts, None)
        self.expiry.arm(partition, state, user_ref, user_id)

    def erase(self, state: UserState, user_ref: str) -> UserState:
        """An erasure request: the user's state is replaced by none (deleted, a tombstone in the changelog).

        Idempotent: a request for a user without state, or sent again, finds nothing and changes
        nothing. Facts already folded into partials are anonymous counts and stay. The user's
        next record starts from an empty state: a new user.
        """
        self.metrics.erasure_requests.labels("unknown_user" if state.is_empty() else "erased").inc()
        self.expiry.forget_user(user_ref)
        return UserState()

    # --- outputs -------------------------------------------------------------------

    def send_dead_letter(self, out: Output, env: Envelope, reason: DeadLetterReason, detail: str) -> None:
        s = self.settings
        letter = dead_letter(
            Rejection(reason, detail),
            topic=env.source_topic,
            partition=env.source_partition,
            offset=env.source_offset,
            key=env.source_key,
            value=env.payload,
            received_at_s=time.time(),
        )
        out.add(s.topic_dead_letter, env.source_topic.encode(), letter.model_dump_json().encode())
        if env.source_topic in (s.topic_goal_events, s.topic_survey_answers, s.topic_prompt_events):
            self.metrics.events_invalid.labels(env.source_topic, reason.value).inc()

    def on_prompt_decision(
        self,
        out: Output,
        decision: PromptDecision,
        env: Envelope,
        counts: dict[str, GoalCounts],
        occurred_at_s: float | None,
    ) -> None:
        metrics = self.metrics
        if decision.dead_letter_reason is not None:
            self.send_dead_letter(out, env, decision.dead_letter_reason, decision.detail)
        # A retried event (same id, new record) never prompts twice; a replay of the same
        # record re-sends its prompt, since the first send may not have reached Kafka.
        if decision.prompt is not None and decision.dead_letter_reason is not DeadLetterReason.duplicate:
            prompt = decision.prompt
            out.add(self.settings.topic_survey_prompts, prompt.user_id.encode(), prompt.model_dump_json().encode())
            if not decision.replayed:
                if prompt.survey is SurveyKind.nps:
                    metrics.nps_prompts.labels(decision.goal).inc()
                else:
                    metrics.prompts.labels(decision.goal, prompt.outcome.value).inc()
                    counts[decision.goal].prompts_sent += 1  # the goal's adaptive sampling
                if occurred_at_s is not None:
                    metrics.decision_latency.observe(max(0.0, time.time() - occurred_at_s))
        if decision.suppressed is not None and (not decision.replayed or decision.dead_letter_reason is not None):
            metrics.prompts_suppressed.labels(decision.goal, decision.suppressed.value).inc()

    def on_prompt_event_decision(self, out: Output, decision: PromptEventDecision, env: Envelope) -> None:
        if decision.dead_letter_reason is not None:
            self.send_dead_letter(out, env, decision.dead_letter_reason, decision.detail)
        if not decision.replayed:
            for _, fact in decision.facts:
                counter = self.metrics.nps_prompt_events if fact.survey == NPS else self.metrics.prompt_events
                counter.labels(fact.goal, fact.kind).inc()

    def on_answer_decision(
        self, out: Output, decision: AnswerDecision, env: Envelope, goal: str, counts: dict[str, GoalCounts]
    ) -> None:
        if decision.dead_letter_reason is not None:
            self.send_dead_letter(out, env, decision.dead_letter_reason, decision.detail)
        if (comment := decision.comment) is not None:
            out.add(self.settings.topic_feedback_comments, goal.encode(), comment.feedback.model_dump_json().encode())
            if comment.high_effort is not None:
                high_effort = comment.high_effort.model_dump_json().encode()
                out.add(self.settings.topic_high_effort_answers, goal.encode(), high_effort)
            if not decision.replayed:
                self.metrics.feedback_comments.labels(goal).inc()
                for kind, found in comment.masked.items():
                    self.metrics.personal_data_masked.labels(kind.value).inc(found)
        if not decision.replayed:
            for _, fact in decision.facts:
                if fact.survey == NPS:
                    self.metrics.nps_answers.labels(fact.goal, fact.sentiment.value).inc()
                    continue
                self.metrics.answers.labels(fact.goal, fact.sentiment.value).inc()
                counts[goal].answers_joined += 1

    # --- state ---------------------------------------------------------------------

    def load_state(self, user_ref: str, partition: int | None = None) -> UserState:
        """A user's stored state; with ``partition`` (the user's, owned) read from that partition's store alone.

        Without it the ``rocksdb://`` store asks each partition's database in turn (``stored_reader``).
        """
        if partition is None:
            return state_from(self.users.get(user_ref.encode()))
        return state_from(stored_reader(self.users, partition)(user_ref.encode()))

    def write_states(self, out: Output, partition: int, effects: BatchEffects) -> None:
        """Write one partition's share of a batch: each touched user state once."""
        now_s = effects.now_s
        for user_ref, state in effects.states.items():
            state.prune(
                now_s,
                cooldown_keep_s=self.cooldown_keep_s,
                budget_keep_s=self.budget_keep_s,
                nps_keep_s=self.nps_keep_s,
                high_effort_keep_s=self.high_effort_keep_s,
            )
            value = None if state.is_empty() else state.to_bytes(json=self.json_states)
            out.put(self.users, partition, user_ref.encode(), value)

    def write_partials(self, out: Output, partition: int, facts: list[tuple[int, Fact]]) -> None:
        if not self.settings.release_counts:
            facts = without_releases(facts)
        current: dict[PartialKey, Partial] = {}
        for key in keys_for(partition, facts, self.resolutions):
            partial = self.decoded_partials.get(key)
            if partial is None:
                data = self.partials.get(key.encode().encode())
                partial = Partial.from_bytes(data) if data else None
            if partial is not None:
                current[key] = partial
        changed = apply_facts(current, partition, facts, self.resolutions)
        sent: list[tuple[PartialKey, int, Any]] = []
        for key in changed:
            partial = self.decoded_partials[key] = current[key]
            self.partial_expiry.add(key)
            counts = partial.counts.to_json_obj()  # once, for the table and for the goal stage
            out.put(self.partials, partition, key.encode().encode(), encode_partial(partial.hwm, counts))
            sent.append((key, partial.hwm, counts))
        self.send_partials(out, sent)

    def send_partials(self, out: Output, items: Iterable[tuple[PartialKey, int, Any]]) -> None:
        """Send partials (key, hwm, counts as a JSON object) on to the goal stage, one record per goal partition."""
        by_goal_partition: dict[int, list[tuple[PartialKey, int, Any]]] = defaultdict(list)
        for item in items:
            by_goal_partition[goal_partition(item[0].goal, self.partitions)].append(item)
        for goal_part, packed in by_goal_partition.items():
            for start in range(0, len(packed), PARTIALS_PER_RECORD):
                record = write_batch(packed[start : start + PARTIALS_PER_RECORD])
                out.add(self.goal_partials_topic, str(goal_part).encode(), record, goal_part)

    # --- the pruner and rebalances ---------------------------------------------------

    async def prune_partials(self) -> None:
        """Stage-1 partials are final once late facts can no longer reach them."""
        if self.app.rebalancing:
            return
        owned = owned_partitions(self.app, self.topic_name)
        cutoff_s = time.time() - self.partial_keep_s
        out = BatchSender(self.app)
        for key in self.partial_expiry.pop_ended_before(cutoff_s):
            if key.partition in owned:  # another worker's now: its owner prunes it
                out.put(self.partials, key.partition, key.encode().encode(), None)
                self.decoded_partials.pop(key, None)
        await out.send()

    async def after_recovery(self, sender: object = None, **kwargs: Any) -> None:
        """After recovery, derive the deadline index again and re-send the owned partials.

        A crash can persist a partial's table record but not the record sent on to the goal
        stage; the replay then adds nothing new to send. Partials are absolute and the goal
        stage keeps the highest hwm, so sending them all again is harmless and closes that gap.
        """
        self.expiry.forget()
        self.partial_expiry.clear()
        owned = owned_partitions(self.app, self.topic_name)
        held = [(PartialKey.decode(raw.decode()), data) for raw, data in list(self.partials.items()) if data]
        for key, _ in held:
            if key.partition in owned:
                self.partial_expiry.add(key)
        out = BatchSender(self.app)
        stored = ((key, Partial.from_bytes(data)) for key, data in held if key.partition in owned)
        self.send_partials(out, ((key, partial.hwm, partial.counts.to_json_obj()) for key, partial in stored))
        await out.send()
        self.expiry.start_rebuild(stored_items(self.users), owned)
        self.erasure.rebuild(list(self.erasure.table.items()), owned)

    def forget_decoded(self, sender: object = None, *args: Any, **kwargs: Any) -> None:
        self.decoded_partials.clear()
