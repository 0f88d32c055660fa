"""Tests for the erasure path of stream.pipeline.users.UserStage, broker-free: state deleted, figures untouched,
and records from before the request cannot bring the state back."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from stream.ces.goals import OutcomeFact
from stream.ces.intake import Envelope, EnvelopeKind
from tests.test_stream.test_pipeline.stage_fakes import FakeEvent
from tests.test_stream.test_pipeline.test_users.test_stage import DEAD, NOW_S, PROMPTS, Stage, User, prompts_in


def stamped(event: FakeEvent, source_s: float) -> FakeEvent:
    """``event`` with the Kafka time of its source record (the intake copies it into the envelope)."""
    envelope = replace(Envelope.decode(event.message.value or b""), source_timestamp=source_s)
    return FakeEvent(replace(event.message, value=envelope.encode()))


def erasure(user: User, source_s: float = NOW_S) -> FakeEvent:
    payload = json.dumps({"request_id": str(uuid.uuid4()), "requested_at": "2025-02-03T10:00:00+00:00"}).encode()
    return stamped(user.record(EnvelopeKind.erasure, payload), source_s)


def test_an_erasure_deletes_the_state_and_the_user_comes_back_new() -> None:
    stage, user = Stage(), User("customer-to-forget")
    stage.batch(stamped(user.goal_event("started", n=1), NOW_S - 20))
    assert stage.stage.expiry.timers.user_ids == {user.ref: user.user_id}  # the raw id held for the deadline
    asked, _, _ = stage.batch(stamped(user.goal_event("completed", n=2), NOW_S - 10))
    assert prompts_in(asked) and not stage.stored_state(user).is_empty()

    out, facts, counts = stage.batch(erasure(user))

    assert ("users", user.partition, user.ref.encode(), None) in out.puts  # a tombstone in the changelog
    assert ("erasures", user.partition, user.ref.encode(), repr(NOW_S).encode()) in out.puts  # the marker
    assert stage.stored_state(user).is_empty()
    assert stage.stage.expiry.timers.user_ids == {}
    assert facts == [] and dict(counts) == {} and out.topics() == set()  # no figures touched, nothing sent
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 1
    # The next completion is a new user's: prompted, where the pending prompt would have suppressed it.
    again, _, _ = stage.batch(stamped(user.goal_event("completed", n=3), NOW_S + 5))
    assert [p.user_id for p in prompts_in(again)] == [user.user_id]


def test_a_record_from_before_the_erasure_counts_but_brings_nothing_back() -> None:
    """A crash replays inputs of every topic, a backlog delays them: the intake may forward an event the
    app sent before the erasure after it. Its facts reach the figures; no state, prompt or letter is kept."""
    stage, user = Stage(), User("customer-replayed")
    stage.batch(erasure(user, NOW_S))
    late = stamped(user.goal_event("completed", n=1), NOW_S - 2)

    out, facts, _ = stage.batch(late)

    assert facts[0] == (user.offset, OutcomeFact("claim", NOW_S - 10, "completed", "web"))  # the outcome still counts
    assert out.sent[PROMPTS] == [] and out.sent[DEAD] == []
    assert stage.stored_state(user).is_empty()
    assert ("users", user.partition, user.ref.encode(), None) in out.puts
    assert stage.stage.expiry.timers.user_ids == {}


def test_an_erasure_for_an_unknown_user_or_sent_again_is_a_no_op() -> None:
    stage, user = Stage(), User("never-seen")
    out, facts, _ = stage.batch(erasure(user))
    assert facts == [] and out.topics() == set() and stage.stored_state(user).is_empty()
    stage.batch(erasure(user, NOW_S + 1))
    assert stage.sample("ces_erasure_requests_total", outcome="unknown_user") == 2
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 0
    assert stage.stage.erasure.markers == {user.ref: NOW_S + 1}  # the latest request's time


def test_events_after_the_erasure_in_the_same_batch_start_afresh() -> None:
    stage, user = Stage(), User("customer-same-batch")
    out, _, _ = stage.batch(
        stamped(user.goal_event("completed", n=1), NOW_S - 1),
        erasure(user, NOW_S),
        stamped(user.goal_event("completed", n=2), NOW_S + 1),
    )
    assert [p.user_id for p in prompts_in(out)] == [user.user_id, user.user_id]  # the second one as a new user
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 1
    assert not stage.stored_state(user).is_empty()  # the new user's state


def test_markers_are_rebuilt_for_the_owned_partitions() -> None:
    stage, user = Stage(), User("customer-rebuilt")
    stage.batch(erasure(user, NOW_S))
    erasure_state = stage.stage.erasure
    stored = list(erasure_state.table.items())
    erasure_state.rebuild(stored, owned=set())
    assert erasure_state.markers == {}
    erasure_state.rebuild(stored, owned={user.partition})
    assert erasure_state.markers == {user.ref: NOW_S}
