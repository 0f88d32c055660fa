"""Tests for the erasure path of stream.pipeline.users.UserStage, broker-free: state deleted, figures untouched."""

from __future__ import annotations

import json
import uuid

from stream.ces.intake import EnvelopeKind
from tests.test_stream.test_pipeline.stage_fakes import FakeEvent
from tests.test_stream.test_pipeline.test_users.test_stage import Stage, User, prompts_in


def erasure(user: User) -> FakeEvent:
    payload = json.dumps({"request_id": str(uuid.uuid4()), "requested_at": "2025-02-03T10:00:00+00:00"}).encode()
    return user.record(EnvelopeKind.erasure, payload)


def test_an_erasure_deletes_the_state_and_the_user_comes_back_new() -> None:
    stage, user = Stage(), User("customer-to-forget")
    asked, _, _ = stage.batch(user.goal_event("started", n=1))
    assert stage.stage.expiry.timers.user_ids == {user.ref: user.user_id}  # the raw id held for the deadline
    asked, _, _ = stage.batch(user.goal_event("completed", n=2))
    assert prompts_in(asked) and not stage.stored_state(user).is_empty()

    out, facts, counts = stage.batch(erasure(user))

    assert out.puts == [("users", user.partition, user.ref.encode(), None)]  # a tombstone in the changelog
    assert stage.stored_state(user).is_empty()
    assert stage.stage.expiry.timers.user_ids == {}
    assert facts == [] and dict(counts) == {} and out.topics() == set()  # no figures touched, nothing sent
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 1
    # The next completion is a new user's: prompted, where the pending prompt would have suppressed it.
    again, _, _ = stage.batch(user.goal_event("completed", n=3))
    assert [p.user_id for p in prompts_in(again)] == [user.user_id]


def test_an_erasure_for_an_unknown_user_or_sent_again_is_a_no_op() -> None:
    stage, user = Stage(), User("never-seen")
    out, facts, _ = stage.batch(erasure(user))
    assert facts == [] and out.topics() == set() and stage.stored_state(user).is_empty()
    stage.batch(erasure(user))
    assert stage.sample("ces_erasure_requests_total", outcome="unknown_user") == 2
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 0


def test_events_after_the_erasure_in_the_same_batch_start_afresh() -> None:
    stage, user = Stage(), User("customer-same-batch")
    out, _, _ = stage.batch(user.goal_event("completed", n=1), erasure(user), user.goal_event("completed", n=2))
    assert [p.user_id for p in prompts_in(out)] == [user.user_id, user.user_id]  # the second one as a new user
    assert stage.sample("ces_erasure_requests_total", outcome="erased") == 1
    assert not stage.stored_state(user).is_empty()  # the new user's state
