"""Tests for stream.pipeline.users (UserStage.process/handle and the expiry timer), broker-free.

Each batch goes through the stage as the agent hands it over: envelopes on
``<app_id>-user-events`` in, prompts, comments, dead letters and table writes out (into a
recording sender); user states persist in a fake table between batches.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from faust.types import TP

from schemas import DeadLetter, DeadLetterReason, FeedbackComment, SurveyPrompt
from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.goals import (
    AnswerFact,
    BucketCounts,
    Fact,
    OutcomeFact,
    Partial,
    PromptEventFact,
    PromptFact,
    goal_partition,
    read_batch,
)
from stream.ces.intake import Envelope, EnvelopeKind, partition_for, pseudonymise
from stream.ces.registry import GoalRegistry, Sentiment
from stream.ces.users import GoalCounts, UserState
from stream.infra.topics import goal_partials_topic, user_events_topic
from stream.observability.metrics import CesMetrics
from stream.pipeline.users import UserStage
from stream.pipeline.users.expiry import expiry_payload
from stream.settings import Settings
from tests.test_stream.test_pipeline.stage_fakes import FakeApp, FakeEvent, FakeTopic, RecordingSender, event, stand_in

NOW_S = 1_750_000_000.0
TIMEOUT_S = 900.0
SETTINGS = Settings(topic_partitions=4)
USER_EVENTS = user_events_topic(SETTINGS)
GOAL_PARTIALS = goal_partials_topic(SETTINGS)
PROMPTS, COMMENTS, DEAD = SETTINGS.topic_survey_prompts, SETTINGS.topic_feedback_comments, SETTINGS.topic_dead_letter
HIGH_EFFORT = SETTINGS.topic_high_effort_answers
RESOLUTIONS = tuple(sorted({spec.resolution_s for spec in SETTINGS.window_specs()}))
KEY = SETTINGS.pseudonym_key.get_secret_value().encode()


def _goal(slug: str, **overrides: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "display_name": {"en": slug, "nl": slug},
        "question": {"en": f"How easy was {slug}?", "nl": f"Hoe makkelijk was {slug}?"},
        "scale": {"kind": "five_point"},
        "sampling": {"rate": 1.0},
        **overrides,
    }


REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {"follow_up_question": {"en": "What could be easier?", "nl": "Wat kan makkelijker?"}},
        "goals": [
            _goal("claim", triggers={"inferred_abandonment": {"enabled": True, "timeout_seconds": TIMEOUT_S}}),
            _goal("nobody", sampling={"rate": 0.0}),
        ],
    }
)


class User:
    """One user's records on their partition of ``<app_id>-user-events``, offsets counting up."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.ref = pseudonymise(user_id, KEY)
        self.partition = partition_for(self.ref, SETTINGS.topic_partitions)
        self.offset = 100

    def record(self, kind: EnvelopeKind, payload: bytes, at_s: float = NOW_S) -> FakeEvent:
        self.offset += 1
        source = {
            EnvelopeKind.answer: SETTINGS.topic_survey_answers,
            EnvelopeKind.prompt_event: SETTINGS.topic_prompt_events,
        }.get(kind, SETTINGS.topic_goal_events)
        envelope = Envelope(kind, source, 0, self.offset + 5000, b"app-key", payload)
        return event(USER_EVENTS, self.partition, self.offset, at_s, self.ref.encode(), envelope.encode())

    def goal_event(self, kind: str = "completed", goal: str = "claim", at_s: float = NOW_S, n: int = 0) -> FakeEvent:
        payload = {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.user_id}-{kind}-{goal}-{n}")),
            "type": kind,
            "goal": goal,
            "user_id": self.user_id,
            "occurred_at": datetime.fromtimestamp(at_s - 10, tz=UTC).isoformat(),
            "channel": "web",
            "locale": "nl",
        }
        return self.record(EnvelopeKind.goal_event, json.dumps(payload).encode(), at_s)

    def answer(self, prompt: SurveyPrompt, score: int, comment: str | None, at_s: float) -> FakeEvent:
        payload = {
            "answer_id": str(uuid.uuid4()),
            "prompt_id": str(prompt.prompt_id),
            "user_id": self.user_id,
            "goal": prompt.goal,
            "score": score,
            "comment": comment,
            "answered_at": datetime.fromtimestamp(at_s - 1, tz=UTC).isoformat(),
            "channel": "web",
        }
        return self.record(EnvelopeKind.answer, json.dumps(payload).encode(), at_s)

    def prompt_event(self, prompt_id: str, kind: str, at_s: float, goal: str = "claim", n: int = 0) -> FakeEvent:
        payload = {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.user_id}-{prompt_id}-{kind}-{n}")),
            "type": kind,
            "prompt_id": prompt_id,
            "user_id": self.user_id,
            "goal": goal,
            "occurred_at": datetime.fromtimestamp(at_s - 1, tz=UTC).isoformat(),
            "channel": "web",
        }
        return self.record(EnvelopeKind.prompt_event, json.dumps(payload).encode(), at_s)


class Stage:
    """A user stage on fakes, and one batch at a time through it."""

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.app = FakeApp(assigned={TP(USER_EVENTS, p) for p in range(SETTINGS.topic_partitions)})
        self.metrics = CesMetrics(goals=REGISTRY.slugs, input_topics=[], consumed_topics=[], targets={})
        self.stage = UserStage(
            stand_in(self.app),
            settings,
            self.metrics,
            REGISTRY,
            stand_in(FakeTopic(USER_EVENTS)),
            GOAL_PARTIALS,
            RESOLUTIONS,
            guard=stand_in(None),
            reader=stand_in(None),
        )

    def batch(self, *events: FakeEvent) -> tuple[RecordingSender, list[tuple[int, Fact]], dict[str, GoalCounts]]:
        """One partition's batch, as ``UserStage.decide`` runs it: decisions, then each touched user state written."""
        out = RecordingSender()
        counts: dict[str, GoalCounts] = defaultdict(GoalCounts)
        partition = events[0].message.partition
        effects = self.stage.process(out, partition, list(events), counts)
        self.stage.write_states(out, partition, effects)
        return out, effects.facts, counts

    def stored_state(self, user: User) -> UserState:
        return self.stage.load_state(user.ref)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.sample_value(name, labels) or 0.0


def prompts_in(out: RecordingSender) -> list[SurveyPrompt]:
    return [SurveyPrompt.model_validate_json(sent.value or b"") for sent in out.sent[PROMPTS]]


def dead_letters_in(out: RecordingSender) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(sent.value or b"") for sent in out.sent[DEAD]]


@pytest.fixture
def stage() -> Stage:
    return Stage()


def test_the_stage_registers_its_agent_timers_and_rebalance_receivers(stage: Stage) -> None:
    app = stage.app
    assert list(app.agents) == [f"{SETTINGS.app_id}.users"]
    assert sorted(app.timers) == [
        f"{SETTINGS.app_id}.erasures-pruner",
        f"{SETTINGS.app_id}.expiry-timer",
        f"{SETTINGS.app_id}.partials-pruner",
    ]
    assert app.on_rebalance_complete.receivers == [stage.stage.after_recovery]
    assert sorted(app.tables) == ["erasures", "partials", "users"]


def test_a_completed_goal_prompts_an_eligible_user(stage: Stage) -> None:
    user = User("customer-1")
    out, facts, counts = stage.batch(user.goal_event("completed"))

    [prompt] = prompts_in(out)
    assert (prompt.user_id, prompt.goal, prompt.outcome.value) == (user.user_id, "claim", "completed")
    assert [sent.key for sent in out.sent[PROMPTS]] == [user.user_id.encode()]  # addressed to the raw user id
    assert facts == [
        (user.offset, OutcomeFact("claim", NOW_S - 10, "completed", "web")),
        (user.offset, PromptFact("claim", NOW_S - 10, "completed")),
    ]
    assert counts == {"claim": GoalCounts(goal_events=1, prompts_sent=1, answers_joined=0)}
    assert stage.sample("ces_survey_prompts_total", goal="claim", outcome="completed") == 1
    assert str(prompt.prompt_id) in stage.stored_state(user).pending  # the state went to the users table


def test_user_states_are_written_compact_or_as_json_and_either_is_read() -> None:
    """CES_USER_STATE_FORMAT=json writes what versions before compact states read (a rolling upgrade)."""
    user = User("customer-1")
    json_stage = Stage(SETTINGS.model_copy(update={"user_state_format": "json"}))
    json_stage.batch(user.goal_event("completed"))
    [stored] = json_stage.app.tables["users"].values()
    assert stored.startswith(b'{"v":1,')
    compact_stage = Stage()
    compact_stage.app.tables["users"].update(json_stage.app.tables["users"])  # the json state, read
    compact_stage.batch(user.goal_event("completed", n=1))
    [rewritten] = compact_stage.app.tables["users"].values()
    assert rewritten[:1] == b"\x02"  # compact, format 2
    assert len(rewritten) < len(stored)
    state = compact_stage.stored_state(user)
    assert len(state.seen_events) == 2  # the json state's decision kept, the new one added


def test_a_user_outside_the_sample_gets_no_prompt(stage: Stage) -> None:
    user = User("customer-2")
    out, facts, counts = stage.batch(user.goal_event("completed", goal="nobody"))
    assert out.sent[PROMPTS] == []
    assert facts == [(user.offset, OutcomeFact("nobody", NOW_S - 10, "completed", "web"))]
    assert counts == {"nobody": GoalCounts(goal_events=1)}


def test_an_answer_is_joined_to_its_prompt_and_yields_its_fact_and_comment(stage: Stage) -> None:
    user = User("customer-3")
    asked, _, _ = stage.batch(user.goal_event("completed"))
    [prompt] = prompts_in(asked)

    out, facts, counts = stage.batch(user.answer(prompt, 2, "  too many steps ", at_s=NOW_S + 60))

    assert facts == [(user.offset, AnswerFact("claim", NOW_S + 59, 2, Sentiment.negative, "completed", "web"))]
    assert counts == {"claim": GoalCounts(answers_joined=1)}
    [sent] = out.sent[COMMENTS]
    comment = FeedbackComment.model_validate_json(sent.value or b"")
    assert sent.key == b"claim" and comment.comment == "too many steps" and comment.score == 2
    assert out.sent[DEAD] == []
    assert stage.sample("ces_survey_answers_total", goal="claim", sentiment="negative") == 1
    assert stage.sample("ces_feedback_comments_total", goal="claim") == 1
    assert stage.stored_state(user).pending == {}  # answered: no longer pending


def test_personal_data_in_a_comment_is_masked_before_the_comments_topic_and_counted_once(stage: Stage) -> None:
    user = User("customer-3m")
    [prompt] = prompts_in(stage.batch(user.goal_event("completed"))[0])
    answer = user.answer(prompt, 1, "Bel 06-12345678 of mail a.b@example.nl, IBAN NL91ABNA0417164300", at_s=NOW_S + 60)

    out, _, _ = stage.batch(answer)
    again, _, _ = stage.batch(answer)  # the same record after a crash: the comment is re-sent, not recounted

    for sent in out.sent[COMMENTS] + again.sent[COMMENTS]:
        comment = FeedbackComment.model_validate_json(sent.value or b"")
        assert comment.comment == "Bel [phone] of mail [email], IBAN [iban]"
    assert len(again.sent[COMMENTS]) == 1
    # A score of 1 is a hard experience: the answer is in the feed too, as masked, once per send.
    for sent in out.sent[HIGH_EFFORT] + again.sent[HIGH_EFFORT]:
        high_effort = HighEffortAnswer.model_validate_json(sent.value or b"")
        assert sent.key == b"claim" and high_effort.comment == "Bel [phone] of mail [email], IBAN [iban]"
    assert len(out.sent[HIGH_EFFORT]) == len(again.sent[HIGH_EFFORT]) == 1
    masked = {
        kind: stage.sample("ces_comment_personal_data_masked_total", kind=kind)
        for kind in ("phone", "email", "iban", "bsn")
    }
    assert masked == {"phone": 1, "email": 1, "iban": 1, "bsn": 0}


def test_an_answer_to_no_known_prompt_is_dead_lettered_with_its_original_bytes(stage: Stage) -> None:
    user = User("customer-4")
    [stranger] = prompts_in(stage.batch(User("customer-5").goal_event())[0])  # another user's prompt
    answer = user.answer(stranger, 5, None, at_s=NOW_S + 5)

    out, facts, counts = stage.batch(answer)

    assert facts == [] and counts == {}
    [letter] = dead_letters_in(out)
    assert letter.reason is DeadLetterReason.unknown_prompt
    original = Envelope.decode(answer.message.value or b"")
    assert base64.b64decode(letter.original) == original.payload
    assert (letter.source_topic, letter.source_offset) == (original.source_topic, original.source_offset)


def test_a_replayed_record_resends_its_prompt_but_counts_it_once(stage: Stage) -> None:
    user = User("customer-6")
    first = user.goal_event("completed")
    stage.batch(first)

    out, facts, counts = stage.batch(first)  # the same record again, after a crash before the commit

    assert [p.prompt_id for p in prompts_in(out)] != []
    assert counts["claim"].prompts_sent == 0
    assert stage.sample("ces_survey_prompts_total", goal="claim", outcome="completed") == 1
    assert facts == [
        (first.message.offset, OutcomeFact("claim", NOW_S - 10, "completed", "web")),
        (first.message.offset, PromptFact("claim", NOW_S - 10, "completed")),
    ]  # the same facts at the same offset: the partials count them once


def test_the_same_event_in_a_new_record_is_a_duplicate(stage: Stage) -> None:
    user = User("customer-7")
    stage.batch(user.goal_event("completed"))
    out, _, counts = stage.batch(user.goal_event("completed"))  # same event id, next offset
    assert out.sent[PROMPTS] == [] and counts["claim"].prompts_sent == 0
    assert [letter.reason for letter in dead_letters_in(out)] == [DeadLetterReason.duplicate]


def test_an_undecodable_internal_record_is_dead_lettered_and_the_batch_goes_on(stage: Stage) -> None:
    user = User("customer-8")
    garbage = event(USER_EVENTS, user.partition, 1, NOW_S, user.ref.encode(), b"not an envelope")
    out, _, counts = stage.batch(garbage, user.goal_event("completed"))

    [letter] = dead_letters_in(out)
    assert letter.reason is DeadLetterReason.processing_error
    assert base64.b64decode(letter.original) == b"not an envelope"
    assert (letter.source_topic, letter.source_offset) == (USER_EVENTS, 1)
    assert len(out.sent[PROMPTS]) == 1 and counts["claim"].goal_events == 1


def test_a_started_goal_arms_the_expiry_timer_and_an_expiry_record_infers_abandonment(stage: Stage) -> None:
    user = User("customer-9")
    started_at = NOW_S
    out, _, _ = stage.batch(user.goal_event("started", at_s=started_at))
    assert out.sent[PROMPTS] == []
    deadline = started_at - 10 + TIMEOUT_S
    timers = stage.stage.expiry.timers
    assert timers.pop_due(user.partition, deadline - 1) == []
    assert timers.pop_due(user.partition, deadline) == [user.ref]
    assert timers.user_ids == {user.ref: user.user_id}

    out, facts, counts = stage.batch(user.record(EnvelopeKind.expiry, expiry_payload(user.user_id), deadline + 1))

    [prompt] = prompts_in(out)
    assert (prompt.user_id, prompt.outcome.value) == (user.user_id, "abandoned_inferred")
    assert (user.offset, OutcomeFact("claim", deadline, "abandoned_inferred", "web")) in facts
    assert counts["claim"].prompts_sent == 1
    assert stage.stored_state(user).open_goals == {}


async def test_the_expiry_timer_sends_an_expiry_record_for_a_quiet_user(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Sender(RecordingSender):
        def __init__(self, app: object) -> None:
            super().__init__()
            sent.append(self)

        async def send(self) -> None:
            return None

    sent: list[Sender] = []
    monkeypatch.setattr("stream.pipeline.users.expiry.BatchSender", Sender)
    user = User("customer-10")
    stage.batch(user.goal_event("started", at_s=NOW_S))
    deadline = NOW_S - 10 + TIMEOUT_S

    monkeypatch.setattr("stream.pipeline.users.expiry.time.time", lambda: deadline - 1)
    await stage.stage.expiry.expire_due_goals()
    monkeypatch.setattr("stream.pipeline.users.expiry.time.time", lambda: deadline + 1)
    await stage.stage.expiry.expire_due_goals()

    assert [dict(s.sent) for s in sent[:1]] == [{}]  # not due yet
    [record] = sent[1].sent[USER_EVENTS]
    assert (record.key, record.partition) == (user.ref.encode(), user.partition)
    envelope = Envelope.decode(record.value or b"")
    assert envelope.kind is EnvelopeKind.expiry and json.loads(envelope.payload) == {"user_id": user.user_id}


def test_facts_fold_into_partials_sent_on_by_goal_once(stage: Stage) -> None:
    user = User("customer-11")
    _, facts, _ = stage.batch(user.goal_event("completed"))

    out = RecordingSender()
    stage.stage.write_partials(out, user.partition, facts)
    [record] = out.sent[GOAL_PARTIALS]
    assert record.partition == goal_partition("claim", SETTINGS.topic_partitions)
    packed = [(key, Partial(hwm, BucketCounts.from_json_obj(c))) for key, hwm, c in read_batch(record.value or b"")]
    assert {key.resolution_s for key, _ in packed} == set(RESOLUTIONS)
    assert all(key.partition == user.partition and partial.hwm == user.offset for key, partial in packed)
    assert len(stage.stage.partials) == len(packed)
    stored = {key: Partial.from_bytes(stage.stage.partials[key.encode().encode()]) for key, _ in packed}
    assert stored == dict(packed)  # the goal stage gets what the table holds

    again = RecordingSender()
    stage.stage.write_partials(again, user.partition, facts)  # replayed facts: already counted
    assert again.sent[GOAL_PARTIALS] == [] and again.puts == []


def test_prompt_events_count_once_and_a_bad_one_is_dead_lettered_with_its_source_topic(stage: Stage) -> None:
    user = User("customer-40")
    out, _, _ = stage.batch(user.goal_event("completed"))
    [prompt] = prompts_in(out)
    prompt_id = str(prompt.prompt_id)
    shown = user.prompt_event(prompt_id, "shown", NOW_S + 2)
    out, facts, _ = stage.batch(shown, user.prompt_event(prompt_id, "dismissed", NOW_S + 30))
    assert facts == [
        (shown.message.offset, PromptEventFact("claim", NOW_S + 1, "shown")),
        (user.offset, PromptEventFact("claim", NOW_S + 29, "dismissed")),
    ]
    assert stage.sample("ces_survey_prompt_events_total", goal="claim", type="shown") == 1
    assert stage.sample("ces_survey_prompt_events_total", goal="claim", type="dismissed") == 1
    assert stored_displays(stage, user) == {prompt_id: ("shown", "dismissed")}
    # A second shown (another event id) and one for a prompt never sent: dead letters, nothing counted.
    out, facts, _ = stage.batch(
        user.prompt_event(prompt_id, "shown", NOW_S + 40, n=1),
        user.prompt_event(str(uuid.uuid4()), "shown", NOW_S + 41),
    )
    assert facts == []
    assert [letter.reason for letter in dead_letters_in(out)] == [
        DeadLetterReason.duplicate,
        DeadLetterReason.unknown_prompt,
    ]
    assert {letter.source_topic for letter in dead_letters_in(out)} == {SETTINGS.topic_prompt_events}
    assert stage.sample("ces_survey_prompt_events_total", goal="claim", type="shown") == 1
    assert stage.sample("ces_events_invalid_total", topic=SETTINGS.topic_prompt_events, reason="unknown_prompt") == 1


def stored_displays(stage: Stage, user: User) -> dict[str, tuple[str, ...]]:
    state = stage.stored_state(user)
    return {
        pid: tuple(kind for kind, event in (("shown", d.shown), ("dismissed", d.dismissed)) if event is not None)
        for pid, d in state.displays.items()
    }
