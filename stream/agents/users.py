"""User stage: the prompt engine and the answer joiner, per pseudonymous user, in batches.

Consumes ``<app_id>-user-events`` (re-keyed goal events, answers and expiry
records). Per batch and partition it runs the pure decisions (``stream.prompting``,
``stream.answering``), sends prompts, comments and dead letters, then writes each
touched user state once and folds the facts into per-partition partials (one table
write per touched bucket, never one per event), which travel on to the goal stage
packed into one record per goal partition. The batch is acked only after Kafka has
all of that, so a crash replays it instead of losing it.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any


from schemas import DeadLetterReason, GoalEvent, SurveyAnswer
from stream.agents.glue import BatchSender, ContinuityGuard, ack, batches, by_partition, owned_partitions, raw_table
from stream.answering import AnswerDecision, decide_answer
from stream.buckets import Fact
from stream.envelope import Envelope, EnvelopeKind
from stream.partials import Partial, PartialExpiry, PartialKey, apply_facts, encode_batch, goal_partition, keys_for
from stream.prompting import PromptDecision, decide_goal_event, expire_open_goals, longest_cooldown_s, next_deadline_s
from stream.pseudonym import partition_for
from stream.record_lookup import user_id_from_record
from stream.sampling import AdaptiveRate
from stream.user_state import UserState
from stream.validation import Rejection, dead_letter

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
# Partials per goal-partials record (a record stays well under Kafka's 1 MiB default).
PARTIALS_PER_RECORD = 2000


class ExpiryTimers:
    """In-memory index of inferred-abandonment deadlines, derived from the user table.

    It holds the raw user id (needed to address a prompt) only in memory, never in
    state; after a restart the index is rebuilt from the table without it, and the
    expiry timer reads the id back from the started event (``stream.record_lookup``).
    """

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.user_ids: dict[str, str] = {}

    def push(self, partition: int, deadline_s: float, user_ref: str, user_id: str | None) -> None:
        heapq.heappush(self._heaps[partition], (deadline_s, user_ref))
        if user_id is not None:
            self.user_ids[user_ref] = user_id

    def pop_due(self, partition: int, now_s: float) -> list[str]:
        heap = self._heaps.get(partition, [])
        due: list[str] = []
        while heap and heap[0][0] <= now_s:
            due.append(heapq.heappop(heap)[1])
        return list(dict.fromkeys(due))

    def clear(self) -> None:
        self._heaps.clear()
        self.user_ids.clear()


@dataclass
class BatchEffects:
    """One batch's effects on one partition, written together: user states and facts."""

    now_s: float
    states: dict[str, UserState] = field(default_factory=dict)
    facts: list[tuple[int, Fact]] = field(default_factory=list)


class AdaptiveRates:
    """Current sampling rate of every goal that targets answers per day instead of a fixed rate."""

    def __init__(self, pipeline: "Pipeline") -> None:
        self.controllers: dict[str, AdaptiveRate] = {}
        for goal in pipeline.registry.goals:
            sampling = goal.sampling
            if sampling.target_answers_per_day is not None:
                self.controllers[goal.slug] = AdaptiveRate(
                    target_answers_per_day=sampling.target_answers_per_day,
                    min_rate=sampling.min_rate,
                    max_rate=sampling.max_rate,
                )
        self.rates: dict[str, float] = {slug: c.rate for slug, c in self.controllers.items()}
        self._last_s = time.monotonic()

    def observe(self, counts: dict[str, list[int]], share_of_traffic: float) -> None:
        """Feed one batch's (events, prompts, answers) per goal, scaled to the whole stream."""
        if not self.controllers:
            return
        now = time.monotonic()
        elapsed, self._last_s = now - self._last_s, now
        scale = 1.0 / share_of_traffic if share_of_traffic > 0 else 1.0
        for slug, controller in self.controllers.items():
            events, prompts, answers = counts.get(slug, (0, 0, 0))
            self.rates[slug] = controller.observe(
                elapsed, events=round(events * scale), prompts=round(prompts * scale), answers=round(answers * scale)
            )


def register(p: "Pipeline") -> None:
    s = p.settings
    app = p.app
    metrics = p.metrics
    registry = p.registry
    partitions = s.topic_partitions
    resolutions = p.resolutions_s
    cooldown_keep_s = longest_cooldown_s(registry)
    topic_name = p.user_events_topic.get_topic_name()
    users = raw_table(app, "users", partitions)
    partials = raw_table(app, "partials", partitions)
    timers = ExpiryTimers()
    lookup = p.record_reader
    guard = ContinuityGuard(app, p.record_reader, metrics)
    # The owned partials, decoded: a batch touches the same few buckets again and again.
    # Only valid while the assignment stands; dropped on every rebalance.
    decoded_partials: dict[PartialKey, Partial] = {}
    expiry = PartialExpiry()  # the stored partials by bucket end, for the pruner
    rates = AdaptiveRates(p)
    # Stage-1 partials are only needed while late facts can still reach their bucket.
    partial_keep_s = s.late_grace_seconds + max(resolutions) * 2

    def load_state(user_ref: str) -> UserState:
        data = users.get(user_ref.encode())
        return UserState.from_json_obj(json.loads(data)) if data else UserState()

    prompts_topic, comments_topic = s.topic_survey_prompts, s.topic_feedback_comments
    goal_partials = p.goal_partials_topic.get_topic_name()

    def send_dead_letter(out: BatchSender, env: Envelope, reason: DeadLetterReason, detail: str) -> None:
        letter = dead_letter(
            Rejection(reason, detail), topic=env.source_topic, partition=env.source_partition,
            offset=env.source_offset, key=env.source_key, value=env.payload, received_at_s=time.time(),
        )
        out.add(s.topic_dead_letter, env.source_topic.encode(), letter.model_dump_json().encode())
        if env.source_topic in (s.topic_goal_events, s.topic_survey_answers):
            metrics.events_invalid.labels(env.source_topic, reason.value).inc()

    def on_prompt_decision(out: BatchSender, decision: PromptDecision, env: Envelope, counts: dict[str, list[int]],
                           occurred_at_s: float | None) -> None:
        if decision.dead_letter_reason is not None:
            send_dead_letter(out, env, decision.dead_letter_reason, decision.detail)
        # A retried event (same id, new record) never prompts twice; a replay of the same
        # record re-sends its prompt, since the first send may not have reached Kafka.
        if decision.prompt is not None and decision.dead_letter_reason is not DeadLetterReason.duplicate:
            prompt = decision.prompt
            out.add(prompts_topic, prompt.user_id.encode(), prompt.model_dump_json().encode())
            if not decision.replayed:
                metrics.prompts.labels(decision.goal, prompt.outcome.value).inc()
                counts[decision.goal][1] += 1
                if occurred_at_s is not None:
                    metrics.decision_latency.observe(max(0.0, time.time() - occurred_at_s))
        if decision.suppressed is not None and (not decision.replayed or decision.dead_letter_reason is not None):
            metrics.prompts_suppressed.labels(decision.goal, decision.suppressed.value).inc()

    def on_answer_decision(out: BatchSender, decision: AnswerDecision, env: Envelope, goal: str,
                           counts: dict[str, list[int]]) -> None:
        if decision.dead_letter_reason is not None:
            send_dead_letter(out, env, decision.dead_letter_reason, decision.detail)
        if decision.feedback is not None:
            out.add(comments_topic, goal.encode(), decision.feedback.model_dump_json().encode())
            if not decision.replayed:
                metrics.feedback_comments.labels(goal).inc()
        if not decision.replayed:
            for _, fact in decision.facts:
                metrics.answers.labels(fact.goal, fact.sentiment.value).inc()  # type: ignore[union-attr]
                counts[goal][2] += 1

    def handle(out: BatchSender, env: Envelope, state: UserState, user_ref: str, offset: int, now_s: float,
                     facts: list[tuple[int, Fact]], counts: dict[str, list[int]], partition: int) -> None:
        if env.kind is EnvelopeKind.goal_event:
            event = GoalEvent.model_validate_json(env.payload)
            decision = decide_goal_event(state, event, user_ref=user_ref, offset=offset, now_s=now_s,
                                         registry=registry, rates=rates.rates)
            counts[event.goal][0] += 1
            facts.extend(decision.facts)
            on_prompt_decision(out, decision, env, counts, event.occurred_at.timestamp())
            deadline = next_deadline_s(state)
            if deadline is not None:
                timers.push(partition, deadline, user_ref, event.user_id)
        elif env.kind is EnvelopeKind.answer:
            answer = SurveyAnswer.model_validate_json(env.payload)
            decision_a = decide_answer(state, answer, user_ref=user_ref, offset=offset, now_s=now_s)
            facts.extend(decision_a.facts)
            on_answer_decision(out, decision_a, env, answer.goal, counts)
        else:
            user_id = json.loads(env.payload).get("user_id")
            for decision in expire_open_goals(state, now_s, registry, offset=offset, user_ref=user_ref,
                                              user_id=user_id, rates=rates.rates):
                facts.extend(decision.facts)
                on_prompt_decision(out, decision, env, counts, None)
            deadline = next_deadline_s(state)
            if deadline is not None:
                timers.push(partition, deadline, user_ref, user_id)

    def write_partials(out: BatchSender, partition: int, facts: list[tuple[int, Fact]]) -> None:
        current: dict[PartialKey, Partial] = {}
        for key in keys_for(partition, facts, resolutions):
            partial = decoded_partials.get(key)
            if partial is None:
                data = partials.get(key.encode().encode())
                partial = Partial.from_bytes(data) if data else None
            if partial is not None:
                current[key] = partial
        changed = apply_facts(current, partition, facts, resolutions)
        for key in changed:
            decoded_partials[key] = current[key]
            expiry.add(key)
            out.put(partials, partition, key.encode().encode(), current[key].to_bytes())
        send_partials(out, ((key, current[key]) for key in changed))

    def send_partials(out: BatchSender, items: Any) -> None:
        """Send partials on to the goal stage, packed into one record per goal partition."""
        by_goal_partition: dict[int, list[tuple[PartialKey, Partial]]] = defaultdict(list)
        for key, partial in items:
            by_goal_partition[goal_partition(key.goal, partitions)].append((key, partial))
        for goal_part, packed in by_goal_partition.items():
            for start in range(0, len(packed), PARTIALS_PER_RECORD):
                out.add(goal_partials, str(goal_part).encode(), encode_batch(packed[start : start + PARTIALS_PER_RECORD]), goal_part)

    def write_states(out: BatchSender, partition: int, effects: BatchEffects) -> None:
        """Write one partition's share of a batch: each touched user state once."""
        now_s = effects.now_s
        for user_ref, state in effects.states.items():
            state.prune(now_s, cooldown_keep_s=cooldown_keep_s)
            value = None if state.is_empty() else json.dumps(state.to_json_obj(), separators=(",", ":")).encode()
            out.put(users, partition, user_ref.encode(), value)

    def process(out: BatchSender, partition: int, events: list[Any], counts: dict[str, list[int]]) -> BatchEffects:
        """Decide on one partition's events; their output records are queued in ``out``.

        :param counts: per goal, [events, prompts, answers] of the batch, for adaptive sampling.
        """
        effects = BatchEffects(now_s=events[-1].message.timestamp)
        for event in events:
            message = event.message
            user_ref = message.key.decode()
            state = effects.states.get(user_ref)
            if state is None:
                state = effects.states[user_ref] = load_state(user_ref)
            try:
                env = Envelope.decode(message.value)
            except Exception as exc:  # not ours: keep it, do not stop
                env = Envelope(EnvelopeKind.expiry, message.topic, message.partition, message.offset, message.key, message.value)
                send_dead_letter(out, env, DeadLetterReason.processing_error, f"undecodable internal record: {exc!r}")
                continue
            if env.kind is EnvelopeKind.expiry:  # our own record: it is its own source
                env = replace(env, source_topic=message.topic, source_partition=message.partition, source_offset=message.offset)
            try:
                handle(out, env, state, user_ref, message.offset, message.timestamp, effects.facts, counts, partition)
            except Exception as exc:  # a bug must not stop the worker or lose the record
                log.exception("user stage failed on %s:%s@%s", message.topic, message.partition, message.offset)
                send_dead_letter(out, env, DeadLetterReason.processing_error, f"internal error: {exc!r}")
        return effects

    @app.agent(p.user_events_topic, name=f"{s.app_id}.users")
    async def user_stage(stream: Any) -> None:
        """Decide per batch at once; fold the batches' facts into partials every interval.

        Prompts and user states are in Kafka when a batch's ``send`` returns, so a prompt
        never waits for aggregation. The events are acked only after their facts are in
        the partials too: Kafka never commits past an event whose effects are not all
        written (Faust itself commits without waiting for records sent meanwhile). A
        crash replays the unacked events; their recorded decisions re-emit the same
        facts and the partials' high-water marks count each once. A rebalance waits for
        the acks, and an idle stage folds after ``aggregate_interval_seconds``.
        """
        interval_s = s.aggregate_interval_seconds
        unfolded: list[Any] = []
        facts: dict[int, list[tuple[int, Fact]]] = defaultdict(list)
        folded_at = time.monotonic()
        async for events in batches(stream, s.batch_max_events, s.batch_linger_seconds, idle_s=interval_s, guard=guard):
            if events:
                out = BatchSender(app)
                counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
                for partition, group in by_partition(events).items():
                    effects = process(out, partition, group, counts)
                    write_states(out, partition, effects)
                    facts[partition].extend(effects.facts)
                owned = owned_partitions(app, topic_name)
                rates.observe(counts, len(owned) / partitions if owned else 1.0)
                await out.send()
                unfolded.extend(events)
                metrics.last_event.labels(topic_name).set(time.time())
            if unfolded and (not events or time.monotonic() - folded_at >= interval_s):
                out = BatchSender(app)
                for partition, partition_facts in facts.items():
                    write_partials(out, partition, partition_facts)
                await out.send()
                ack(unfolded)
                unfolded, facts = [], defaultdict(list)
                folded_at = time.monotonic()

    async def recipient_of(state: UserState, partition: int, user_ref: str, now_s: float) -> str | None:
        """The raw user id, read back from the started event of a due open goal (never stored)."""
        for goal in sorted(state.open_goals.values(), key=lambda og: og.deadline_s):
            if goal.deadline_s > now_s:
                break
            record = await lookup.read(topic_name, partition, goal.offset)
            user_id = user_id_from_record(*record, user_ref, goal.event_id) if record else None
            if user_id is not None:
                return user_id
        return None

    @app.timer(s.tick_interval_seconds, name=f"{s.app_id}.expiry-timer")
    async def expire_due_goals() -> None:
        """Fire inferred abandonment even when no further events arrive for that user."""
        if app.rebalancing:
            return
        now_s = time.time()
        out = BatchSender(app)
        for partition in owned_partitions(app, topic_name):
            for user_ref in timers.pop_due(partition, now_s):
                state = load_state(user_ref)
                deadline = next_deadline_s(state)
                if deadline is None:
                    timers.user_ids.pop(user_ref, None)  # the goal ended normally
                    continue
                if deadline > now_s:
                    timers.push(partition, deadline, user_ref, None)
                    continue
                user_id = timers.user_ids.pop(user_ref, None)
                if user_id is None:  # opened before this worker started: ask the started event
                    user_id = await recipient_of(state, partition, user_ref, now_s)
                payload = json.dumps({"user_id": user_id}).encode()
                env = Envelope(EnvelopeKind.expiry, topic_name, partition, -1, None, payload)
                out.add(topic_name, user_ref.encode(), env.encode(), partition)
        await out.send()

    @app.timer(max(60.0, s.tick_interval_seconds), name=f"{s.app_id}.partials-pruner")
    async def prune_partials() -> None:
        """Stage-1 partials are final once late facts can no longer reach them."""
        if app.rebalancing:
            return
        owned = owned_partitions(app, topic_name)
        cutoff_s = time.time() - partial_keep_s
        out = BatchSender(app)
        for key in expiry.pop_ended_before(cutoff_s):
            if key.partition in owned:  # another worker's now: its owner prunes it
                out.put(partials, key.partition, key.encode().encode(), None)
                decoded_partials.pop(key, None)
        await out.send()

    async def after_recovery(sender: Any = None, **kwargs: Any) -> None:
        """After recovery, derive the deadline index again and re-send the owned partials.

        A crash can persist a partial's table record but not the record sent on to the goal
        stage; the replay then adds nothing new to send. Partials are absolute and the goal
        stage keeps the highest hwm, so sending them all again is harmless and closes that gap.
        """
        timers.clear()
        expiry.clear()
        owned = owned_partitions(app, topic_name)
        held = [(PartialKey.decode(raw.decode()), data) for raw, data in list(partials.items()) if data]
        for key, _ in held:
            if key.partition in owned:
                expiry.add(key)
        out = BatchSender(app)
        send_partials(out, ((key, Partial.from_bytes(data)) for key, data in held if key.partition in owned))
        await out.send()
        for raw_key, data in list(users.items()):
            user_ref = raw_key.decode()
            partition = partition_for(user_ref, partitions)
            if partition not in owned or not data:
                continue
            deadline = next_deadline_s(UserState.from_json_obj(json.loads(data)))
            if deadline is not None:
                timers.push(partition, deadline, user_ref, None)

    def forget_decoded(sender: Any = None, *args: Any, **kwargs: Any) -> None:
        decoded_partials.clear()

    app.on_partitions_revoked.connect(forget_decoded)
    app.on_partitions_assigned.connect(forget_decoded)
    app.on_rebalance_complete.connect(after_recovery)

