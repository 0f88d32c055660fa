"""Tests for stream.ces.users.state: the JSON form, the stored form, pruning and caps (the stored form's
codec in detail: test_state_codec.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from stream.ces.users.goal_records import OpenGoal, SeenEvent
from stream.ces.users.prompt_records import AnsweredPrompt, PendingPrompt
from stream.ces.users.state import (
    ANSWER_GRACE_S,
    ANSWERED_KEEP_S,
    MAX_ANSWERED,
    MAX_OPEN_GOALS,
    MAX_PENDING,
    MAX_SEEN_EVENTS,
    SEEN_EVENTS_KEEP_S,
    UserState,
    may_have_deadlines,
)

NOW_S = 1_750_000_000.0
COOLDOWN_S = 7 * 86_400.0
EVENT_ID = "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a88"
PROMPT_ID = "5d0c6a52-6f0e-5a4b-8d57-6c9b0e2f1a33"


def _pending(created_at_s: float, goal: str = "claim") -> PendingPrompt:
    return PendingPrompt(
        goal, "completed", created_at_s, created_at_s + 1800, "five_point", (4, 5), 1, 5, False, "nl-NL", EVENT_ID
    )


def _answered(recorded_at_s: float) -> AnsweredPrompt:
    return AnsweredPrompt("a-1", 12, 4, "positive", recorded_at_s - 1.5, "claim", "abandoned", "en", recorded_at_s)


def _seen(recorded_at_s: float) -> SeenEvent:
    return SeenEvent(offset=3, goal="claim", at_s=recorded_at_s - 2, outcome="completed", recorded_at_s=recorded_at_s)


def _full_state() -> UserState:
    return UserState(
        last_prompt_at_s=NOW_S - 100.25,
        last_prompt_by_goal={"claim": NOW_S - 100.25, "policy": NOW_S - 3 * 86_400},
        open_goals={"claim": OpenGoal(EVENT_ID, NOW_S - 60, NOW_S + 840, "nl", 2)},
        pending={PROMPT_ID: _pending(NOW_S - 30)},
        answered={"p-old": _answered(NOW_S - 3600)},
        seen_events={
            EVENT_ID: SeenEvent(2, "claim", NOW_S - 60, recorded_at_s=NOW_S - 59),
            "e-2": SeenEvent(5, "claim", NOW_S - 100.25, "abandoned_inferred", PROMPT_ID, None, 6, NOW_S - 30),
            "e-3": SeenEvent(4, "policy", NOW_S - 50, "completed", None, "not_sampled", None, NOW_S - 45),
        },
        last_offset=6,
    )


# --- JSON ----------------------------------------------------------------------------------------------


def test_json_round_trip_through_text() -> None:
    state = _full_state()
    text = json.dumps(state.to_json_obj(), separators=(",", ":"))
    restored = UserState.from_json_obj(json.loads(text))
    assert restored == state
    assert restored.pending[PROMPT_ID].positive == (4, 5) and restored.pending[PROMPT_ID].inverted is False


def test_measured_effort_parts_round_trip_and_older_records_still_load() -> None:
    state = _full_state()
    state.open_goals["policy"] = OpenGoal("e-9", NOW_S - 30, NOW_S + 3570, "en", 7, "ios", NOW_S - 400, 2)
    state.pending[PROMPT_ID] = PendingPrompt(
        "claim", "completed", NOW_S, NOW_S + 1800, "five_point", (4, 5), 1, 5, False, "nl", EVENT_ID, "web", "2m-10m"
    )
    state.answered["p-band"] = AnsweredPrompt(
        "a-2", 13, 5, "positive", NOW_S - 5, "claim", "completed", "nl", NOW_S, "web", "<30s"
    )
    state.seen_events["e-4"] = SeenEvent(8, "claim", NOW_S - 9, "completed", None, None, None, NOW_S, 95.5, True)
    assert UserState.from_bytes(state.to_bytes()) == state
    # Records from before measured effort: no first start, no band, no duration.
    obj = _full_state().to_json_obj()
    restored = UserState.from_json_obj(json.loads(json.dumps(obj)))
    assert restored.open_goals["claim"].starts == 1 and restored.open_goals["claim"].first_started_at_s is None
    assert restored.pending[PROMPT_ID].effort_band == "" and restored.answered["p-old"].effort_band == ""
    assert all(seen.duration_s is None and not seen.retried for seen in restored.seen_events.values())


def test_the_channel_of_an_outcome_round_trips_and_older_records_load_without_one() -> None:
    state = _full_state()
    state.seen_events["e-5"] = SeenEvent(
        9, "claim", NOW_S - 8, "abandoned", None, "not_sampled", None, NOW_S, channel="ios"
    )
    state.seen_events["e-6"] = SeenEvent(
        10, "claim", NOW_S - 7, "completed", None, None, None, NOW_S, 12.5, True, "web"
    )
    restored = UserState.from_bytes(state.to_bytes())
    assert restored == state
    assert (restored.seen_events["e-5"].duration_s, restored.seen_events["e-5"].channel) == (None, "ios")
    assert (restored.seen_events["e-6"].duration_s, restored.seen_events["e-6"].channel) == (12.5, "web")
    # Decisions recorded before strata were counted have no channel: their facts stay out of the strata.
    older = UserState.from_json_obj(json.loads(json.dumps(_full_state().to_json_obj())))
    assert all(seen.channel == "" for seen in older.seen_events.values())


def test_empty_state_is_tiny_and_round_trips() -> None:
    state = UserState()
    assert state.to_json_obj() == {"v": 1}
    assert UserState.from_json_obj({"v": 1}) == state
    assert state.is_empty()


def test_json_uses_short_keys_and_leaves_out_empty_parts() -> None:
    obj = UserState(last_prompt_at_s=NOW_S, last_offset=4).to_json_obj()
    assert obj == {"v": 1, "lp": NOW_S, "lo": 4}
    assert set(_full_state().to_json_obj()) == {"v", "lp", "lg", "og", "pp", "an", "se", "lo"}


def test_typical_state_is_small() -> None:
    size = len(json.dumps(_full_state().to_json_obj(), separators=(",", ":")))
    assert size < 1200
    assert len(_full_state().to_bytes()) < 250  # the stored form: three open records, three decisions


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 2},
        {"v": 1, "pp": {"p": ["too", "short"]}},
        {"v": 1, "og": {"claim": "not-a-list"}},
        {"v": 1, "lg": ["not", "a", "dict"]},
        {"v": 1, "lo": "x"},
        ["not", "an", "object"],
    ],
)
def test_from_json_rejects_malformed_records(obj: Any) -> None:
    with pytest.raises(ValueError):
        UserState.from_json_obj(obj)


# --- prune ---------------------------------------------------------------------------------------------


def _prune(state: UserState, now_s: float = NOW_S) -> UserState:
    state.prune(now_s, cooldown_keep_s=COOLDOWN_S)
    return state


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        # cooldown stamps: kept while inside the longest cooldown
        (UserState(last_prompt_at_s=NOW_S - COOLDOWN_S), True),
        (UserState(last_prompt_at_s=NOW_S - COOLDOWN_S - 1), False),
        (UserState(last_prompt_by_goal={"claim": NOW_S - COOLDOWN_S}), True),
        (UserState(last_prompt_by_goal={"claim": NOW_S - COOLDOWN_S - 1}), False),
        # pending prompts: kept until expiry + answer grace
        (UserState(pending={"p": _pending(NOW_S - 1800 - ANSWER_GRACE_S)}), True),
        (UserState(pending={"p": _pending(NOW_S - 1800 - ANSWER_GRACE_S - 1)}), False),
        # answered prompt ids: kept ANSWERED_KEEP_S
        (UserState(answered={"p": _answered(NOW_S - ANSWERED_KEEP_S)}), True),
        (UserState(answered={"p": _answered(NOW_S - ANSWERED_KEEP_S - 1)}), False),
        # seen event ids: kept 48 h
        (UserState(seen_events={"e": _seen(NOW_S - SEEN_EVENTS_KEEP_S)}), True),
        (UserState(seen_events={"e": _seen(NOW_S - SEEN_EVENTS_KEEP_S - 1)}), False),
        # open goals: kept until long past their deadline (expiry should have closed them)
        (UserState(open_goals={"claim": OpenGoal(EVENT_ID, NOW_S - 10, NOW_S + 890, "nl", 1)}), True),
        (UserState(open_goals={"claim": OpenGoal(EVENT_ID, 0.0, NOW_S - SEEN_EVENTS_KEEP_S - 1, "nl", 1)}), False),
    ],
)
def test_prune_drops_what_is_no_longer_needed(state: UserState, kept: bool) -> None:
    assert _prune(state).is_empty() is (not kept)


def test_prune_keeps_a_fresh_state_intact() -> None:
    state = _full_state()
    assert _prune(_full_state()) == state


def test_prune_empties_an_old_state() -> None:
    state = _prune(_full_state(), now_s=NOW_S + 30 * 86_400)
    assert state.is_empty()
    assert state.last_offset == 6  # not a collection; kept for the caller
    assert state.to_json_obj() == {"v": 1, "lo": 6}


@pytest.mark.parametrize(
    ("attribute", "make", "limit"),
    [
        ("seen_events", lambda i: _seen(NOW_S - 10_000 + i), MAX_SEEN_EVENTS),
        ("answered", lambda i: _answered(NOW_S - 10_000 + i), MAX_ANSWERED),
        ("pending", lambda i: _pending(NOW_S - 1000 + i), MAX_PENDING),
        ("open_goals", lambda i: OpenGoal(f"e{i}", NOW_S - 1000 + i, NOW_S + i, "nl", i), MAX_OPEN_GOALS),
    ],
)
def test_prune_caps_collections_keeping_the_most_recent(attribute: str, make: Any, limit: int) -> None:
    state = UserState()
    entries = {f"k{i:04d}": make(i) for i in range(limit + 50)}
    setattr(state, attribute, dict(entries))
    _prune(state)
    kept = getattr(state, attribute)
    assert len(kept) == limit
    assert set(kept) == {f"k{i:04d}" for i in range(50, limit + 50)}


def test_caps_are_the_documented_ones() -> None:
    assert MAX_SEEN_EVENTS == 256 and MAX_ANSWERED == 256


def test_note_offset_keeps_the_highest() -> None:
    state = UserState()
    for offset in (3, 9, 4):
        state.note_offset(offset)
    assert state.last_offset == 9


def _as_json(state: UserState) -> bytes:
    """The stored form before format 2: :meth:`UserState.to_json_obj` as compact JSON."""
    return orjson.dumps(state.to_json_obj())


@pytest.mark.parametrize(
    ("state", "has_deadline"),
    [
        (UserState(), False),
        (_full_state(), True),
        (UserState(open_goals={"og": OpenGoal(EVENT_ID, NOW_S - 60, NOW_S + 840, "nl", 2)}), True),
        # Kept for measured effort only: stored under "oe", no deadline to index.
        (UserState(open_goals={"claim": OpenGoal(EVENT_ID, NOW_S - 60, NOW_S + 840, "nl", 2, infers=False)}), False),
        (UserState(last_prompt_by_goal={"og": NOW_S}, pending={PROMPT_ID: _pending(NOW_S - 30)}), None),
        (
            UserState(
                last_prompt_at_s=NOW_S,
                pending={PROMPT_ID: _pending(NOW_S - 30)},
                answered={"p-old": _answered(NOW_S - 3600)},
                seen_events={EVENT_ID: SeenEvent(2, "claim", NOW_S - 60, recorded_at_s=NOW_S - 59)},
                last_offset=6,
            ),
            False,
        ),
    ],
    ids=["empty", "full", "goal-named-og", "measured-effort-only", "other-key-named-og", "everything-but-open-goals"],
)
@pytest.mark.parametrize("write", [UserState.to_bytes, _as_json], ids=["format-2", "json"])
def test_may_have_deadlines_never_misses_a_deadline(
    state: UserState, has_deadline: bool | None, write: Callable[[UserState], bytes]
):
    """The test may say yes wrongly (in JSON, a goal named "og"), never no wrongly."""
    data = write(state)
    deadlines = [og for og in state.open_goals.values() if og.infers]
    if has_deadline is None:  # a false positive: allowed, it only costs a decode
        assert not deadlines
    else:
        assert may_have_deadlines(data) is has_deadline
    assert may_have_deadlines(data) or not deadlines
    assert may_have_deadlines(state.to_bytes()) is bool(deadlines)  # the flags byte is exact
    assert UserState.from_bytes(data) == state  # "og" and "oe" read back into one dict, each goal's kind kept


def test_the_stored_bytes_read_back_as_the_same_state():
    state = _full_state()
    state.open_goals["claim"].locale = "fr-CA-é"  # non-ASCII is kept as UTF-8
    data = state.to_bytes()
    assert data[:1] == b"\x02" and UserState.from_bytes(data) == state  # format 2
    assert len(data) * 2 < len(_as_json(state))
    assert UserState.from_bytes(_as_json(state)) == state  # states stored as JSON before format 2 still load
    with pytest.raises(ValueError):
        UserState.from_bytes(b"{not json")
    with pytest.raises(ValueError):
        UserState.from_bytes(b"\x04" + data[1:])  # a newer format
