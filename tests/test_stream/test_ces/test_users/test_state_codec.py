"""Tests for stream.ces.users.state_codec: the stored form of a user state (format 2).

Every state must read back exactly, whatever its values: a property test over random states
(seeded, so a failure repeats), then the cases it may miss, the sizes the format is for, the
states stored as JSON before it, and malformed bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import uuid
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
import pytest

from stream.ces.users.goal_records import OpenGoal, SeenEvent
from stream.ces.users.prompt_records import AnsweredPrompt, PendingPrompt, PromptDisplay, RecordedPromptEvent
from stream.ces.users.state import UserState, may_have_deadlines
from stream.ces.users.state_codec import KNOWN

KEY_BYTES = 32  # a user_ref, the table key
NOW_MS = 1_750_000_000_123
NOW_S = NOW_MS / 1000  # a Kafka record time: whole milliseconds

# --- random states --------------------------------------------------------------------------------------------

# Texts that must stay texts although they look like UUIDs (only the canonical lower-case form is packed).
_UUID_LOOKALIKES = [
    "0B6F3E1C-8F0E-5D5E-9B7A-3F2D1C0B9A88",  # upper case
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9A88",  # one upper-case digit
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a8g",  # not hex
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a 8",  # fromhex skips spaces
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b  88",  # ... and then reads 15 bytes
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c-b9a88",  # a fifth dash
    "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c--9a88",  # two more: 15 bytes
    "0b6f3e1c08f0e05d5e09b7a03f2d1c0b9a88",  # no dashes where they belong
    "{0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a8}",
    "urn:uuid:0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a88",
    "0b6f3e1c8f0e5d5e9b7a3f2d1c0b9a88",
    "------------------------------------",
]


def _text(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind < 3:
        return str(uuid.UUID(int=rng.getrandbits(128)))  # any 128 bits, not only valid versions
    if kind == 3:
        return rng.choice(KNOWN)
    if kind == 4:
        return rng.choice(_UUID_LOOKALIKES)
    if kind == 5:
        return rng.choice(["download-invoice", "claim", "fr-CA-é", "ゴール", "nl-NL", "<30s", "2m-10m", "a" * 40])
    if kind == 6:
        return f"e-{rng.randrange(1000)}"  # event and answer ids are free strings in the contracts
    return "".join(rng.choice("ab-é\x00 7") for _ in range(rng.randrange(6)))


def _time(rng: random.Random) -> float:
    kind = rng.randrange(10)
    ms = NOW_MS + rng.randint(-10 * 86_400_000, 10 * 86_400_000)
    if kind < 5:
        return ms / 1000  # a record time or an event time to the millisecond
    if kind == 5:
        return (ms * 1000 + rng.randrange(1, 1000)) / 1e6  # to the microsecond
    if kind == 6:
        return ms / 1000 + rng.random()  # any float near now (time.time())
    if kind == 7:
        return rng.choice([0.0, -0.0, 5e-324, -1.5, 1e-3, 0.1, 2.0**53, 1e13, -1e13, 9.999e12, 1e300, -1e300])
    if kind == 8:
        return ms / 1000 + 86_400.0 * rng.randrange(1, 8)  # an expiry: created + N seconds
    return rng.uniform(-1e12, 1e12)


def _int(rng: random.Random) -> int:
    return rng.choice([-1, 0, 1, 127, 128, -33, 65_536, 2**31, rng.randrange(10**7), 2**63 - 1, -(2**63), 2**64 - 1])


def _or(rng: random.Random, default: Any, make: Callable[[], Any]) -> Any:
    """The field's default half of the time (so trailing fields are left out), else a random value."""
    return default if rng.random() < 0.5 else make()


def _random_state(rng: random.Random) -> UserState:
    # A few texts reused across fields and records, as ids and slugs are in real states.
    pool = [_text(rng) for _ in range(rng.randint(1, 6))]

    def text() -> str:
        return rng.choice(pool) if rng.random() < 0.6 else _text(rng)

    def time() -> float:
        return _time(rng)

    def integer() -> int:
        return _int(rng)

    def opt(make: Callable[[], Any]) -> Any:
        return _or(rng, None, make)

    def some(make: Callable[[], Any]) -> dict[str, Any]:
        size = rng.choice([0, 0, 1, 1, 2, 3, rng.randrange(60)])
        return {text(): make() for _ in range(size)}

    def open_goal() -> OpenGoal:
        return OpenGoal(
            text(),
            time(),
            time(),
            text(),
            integer(),
            _or(rng, "", text),
            opt(time),
            _or(rng, 1, integer),
            rng.random() < 0.5,
        )

    def seen() -> SeenEvent:
        return SeenEvent(
            integer(),
            text(),
            time(),
            opt(text),
            opt(text),
            opt(text),
            opt(integer),
            time(),
            opt(lambda: rng.choice([rng.uniform(0, 9000), 95.5, 0.0, -0.0, 1e300])),
            _or(rng, False, lambda: True),
            _or(rng, "", text),
            _or(rng, "ces", text),
        )

    def pending() -> PendingPrompt:
        return PendingPrompt(
            text(),
            text(),
            time(),
            time(),
            text(),
            tuple(integer() for _ in range(rng.randrange(4))),
            integer(),
            integer(),
            rng.random() < 0.5,
            text(),
            text(),
            _or(rng, "", text),
            _or(rng, "", text),
            _or(rng, "ces", text),
            _or(rng, "", text),
        )

    def answered() -> AnsweredPrompt:
        return AnsweredPrompt(
            text(),
            integer(),
            integer(),
            text(),
            time(),
            text(),
            text(),
            text(),
            time(),
            _or(rng, "", text),
            _or(rng, "", text),
            _or(rng, "ces", text),
            _or(rng, "", text),
            _or(rng, "", text),
            _or(rng, -1, integer),
            _or(rng, "", text),
        )

    def display() -> PromptDisplay:
        def event() -> RecordedPromptEvent:
            return RecordedPromptEvent(text(), integer(), time())

        return PromptDisplay(text(), time(), time(), opt(event), opt(event), _or(rng, "ces", text))

    return UserState(
        last_prompt_at_s=opt(time),
        last_prompt_by_goal=some(time),
        open_goals=some(open_goal),
        pending=some(pending),
        answered=some(answered),
        seen_events=some(seen),
        last_offset=_or(rng, -1, integer),
        displays=some(display),
        dismissed_by_goal=some(time),
        prompt_stamps=[time() for _ in range(rng.choice([0, 0, 1, 3]))],
        last_nps_at_s=opt(time),
        high_effort_at_s=opt(time),
    )


def _exact(value: Any) -> Any:
    """``value`` with every float as its bits and every type named: ``==`` alone takes -0.0 for 0.0,
    1 for 1.0 and True for 1. Dicts compare as sets of entries (their order is not kept)."""
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, *(_exact(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, dict):
        return ("dict", frozenset((_exact(k), _exact(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_exact, value))
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


def _round_trip(state: UserState) -> UserState:
    restored = UserState.from_bytes(state.to_bytes())
    assert restored == state
    assert _exact(restored) == _exact(state)
    return restored


def test_random_states_read_back_exactly() -> None:
    rng = random.Random(20261207)
    for _ in range(3000):
        state = _random_state(rng)
        data = state.to_bytes()
        restored = UserState.from_bytes(data)
        assert restored == state, data.hex()
        assert _exact(restored) == _exact(state), data.hex()
        assert may_have_deadlines(data) is any(og.infers for og in state.open_goals.values())
        versions = [p.app_version for p in (*state.pending.values(), *state.answered.values())]
        assert data[:1] == (b"\x03" if any(versions) else b"\x02")  # format 3 only where a record needs it


# --- the cases a random state may miss --------------------------------------------------------------------


@pytest.mark.parametrize(
    "at_s",
    [
        NOW_S,
        NOW_S + 0.0005,  # half a millisecond
        (NOW_MS * 1000 + 1) / 1e6,  # a microsecond
        1_750_000_000.1234567,
        0.0,
        -0.0,
        5e-324,
        -1.5,
        1e13,  # outside the range kept as milliseconds
        -1e13,
        1e300,
        math.inf,
        -math.inf,
    ],
)
def test_any_time_reads_back_as_the_same_float(at_s: float) -> None:
    state = UserState(last_prompt_at_s=NOW_S, high_effort_at_s=at_s, prompt_stamps=[at_s, NOW_S, at_s])
    _round_trip(state)


def test_nan_reads_back_as_nan() -> None:
    restored = UserState.from_bytes(UserState(high_effort_at_s=math.nan).to_bytes())
    assert restored.high_effort_at_s is not None and math.isnan(restored.high_effort_at_s)


def test_only_canonical_uuids_are_packed_and_every_other_id_stays_as_written() -> None:
    canonical = str(uuid.uuid4())
    ids = [canonical, *_UUID_LOOKALIKES, "", "e-1", "ゴール"]
    state = UserState(seen_events={eid: SeenEvent(i, "claim", NOW_S, prompt_id=eid) for i, eid in enumerate(ids)})
    _round_trip(state)
    assert canonical.encode() not in state.to_bytes() and uuid.UUID(canonical).bytes in state.to_bytes()


def test_many_distinct_texts_take_longer_references() -> None:
    """More than 128 strings in the table: references of two and three bytes."""
    state = UserState(last_prompt_by_goal={f"goal-{i}": NOW_S + i for i in range(70_000)})
    state.seen_events = {f"e-{i}": SeenEvent(i, f"goal-{i * 7 % 70_000}", NOW_S) for i in range(300)}
    _round_trip(state)


def test_every_optional_trailing_field_set_and_unset() -> None:
    state = UserState(
        open_goals={
            "claim": OpenGoal(EVENT_ID, NOW_S, NOW_S + 900, "nl", 3),
            "retried": OpenGoal("e-9", NOW_S, NOW_S + 900, "nl", 4, "ios", NOW_S - 60, 2),
            "first-start-only": OpenGoal("e-8", NOW_S, NOW_S + 900, "nl", 5, "", NOW_S - 60),  # JSON drops it
            "timed": OpenGoal("e-7", NOW_S, NOW_S + 900, "nl", 6, "web", infers=False),
        },
        pending={
            PROMPT_ID: PendingPrompt(
                "claim", "completed", NOW_S, NOW_S + 86_400, "five_point", (4, 5), 1, 5, False, "nl", EVENT_ID
            ),
            "p-2": PendingPrompt(
                "claim",
                "abandoned",
                NOW_S,
                NOW_S + 60,
                "zero_to_ten",
                (),
                0,
                10,
                True,
                "nl",
                "e-2",
                "web",
                "2m-10m",
                "nps",
            ),
            "p-3": PendingPrompt(
                "claim", "completed", NOW_S, NOW_S + 60, "yes_no", (1,), 0, 1, False, "nl", "e-3", "", "", "csat"
            ),
        },
        answered={
            "p-4": AnsweredPrompt("a-1", 7, 4, "positive", NOW_S, "claim", "completed", "nl", NOW_S),
            "p-5": AnsweredPrompt(
                "a-2",
                8,
                9,
                "positive",
                NOW_S,
                "claim",
                "completed",
                "nl",
                NOW_S,
                "ios",
                "<30s",
                "nps",
                "high_effort",
                "c-1",
                12,
            ),
            "p-6": AnsweredPrompt(
                "a-3", 9, 1, "negative", NOW_S, "claim", "completed", "nl", NOW_S, "", "", "ces", "", "c-2"
            ),
        },
        seen_events={
            EVENT_ID: SeenEvent(2, "claim", NOW_S, "completed", PROMPT_ID, None, None, NOW_S),
            "e-5": SeenEvent(
                5, "claim", NOW_S, "abandoned_inferred", None, "no_recipient", 6, NOW_S, channel="android"
            ),
            "e-6": SeenEvent(6, "claim", NOW_S, "completed", None, None, None, NOW_S, 95.5, True, "web", "csat"),
            "e-7": SeenEvent(7, "claim", NOW_S, None, None, None, None, NOW_S, None, False, "", "nps"),
        },
        displays={
            PROMPT_ID: PromptDisplay("claim", NOW_S + 86_400, NOW_S, RecordedPromptEvent("s-1", 10, NOW_S)),
            "p-4": PromptDisplay("claim", NOW_S, NOW_S, None, RecordedPromptEvent("d-1", 11, NOW_S + 1), "nps"),
        },
        dismissed_by_goal={"claim": NOW_S},
        prompt_stamps=[NOW_S - 1, NOW_S],
        last_nps_at_s=NOW_S,
        high_effort_at_s=NOW_S - 0.5,
        last_offset=-7,
    )
    restored = _round_trip(state)
    assert not restored.open_goals["timed"].infers and restored.open_goals["first-start-only"].first_started_at_s
    assert may_have_deadlines(state.to_bytes())


def test_an_app_version_makes_the_state_format_3_and_reads_back_in_both_forms() -> None:
    asked = PendingPrompt("claim", "completed", NOW_S, NOW_S + 60, "five_point", (4, 5), 1, 5, False, "nl", EVENT_ID)
    answered = AnsweredPrompt("a-1", 7, 2, "negative", NOW_S, "claim", "completed", "nl", NOW_S, "web")
    assert UserState(pending={PROMPT_ID: asked}, answered={"p-2": answered}).to_bytes()[:1] == b"\x02"
    for state in (
        UserState(pending={PROMPT_ID: dataclasses.replace(asked, app_version="web-2025.01.3")}),
        UserState(answered={"p-2": dataclasses.replace(answered, app_version="4.12.0")}),
        UserState(answered={"p-2": dataclasses.replace(answered, comment_id="c-1", app_version="4.12.0")}),
    ):
        data = state.to_bytes()
        assert data[:1] == b"\x03"
        _round_trip(state)
        assert UserState.from_json_obj(orjson.loads(orjson.dumps(state.to_json_obj()))) == state


def test_an_empty_state_and_a_state_with_only_an_offset() -> None:
    assert _round_trip(UserState()).is_empty()
    assert _round_trip(UserState(last_offset=5)).last_offset == 5
    assert UserState().to_bytes() == b"\x02\x00\x90"  # format, flags, an empty list of parts


# --- what the format is for -------------------------------------------------------------------------------------

EVENT_ID = "0b6f3e1c-8f0e-5d5e-9b7a-3f2d1c0b9a88"
PROMPT_ID = "5d0c6a52-6f0e-5a4b-8d57-6c9b0e2f1a33"


def _prompted() -> UserState:
    """A user prompted once: the prompt pending, the decision recorded (as the prompt engine leaves it)."""
    occurred_at_s = (NOW_MS - 1234) / 1000
    return UserState(
        last_prompt_at_s=NOW_S,
        last_prompt_by_goal={"download-invoice": NOW_S},
        pending={
            PROMPT_ID: PendingPrompt(
                "download-invoice",
                "completed",
                NOW_S,
                NOW_S + 86_400,
                "five_point",
                (4, 5),
                1,
                5,
                False,
                "nl-NL",
                EVENT_ID,
                "web",
            )
        },
        seen_events={
            EVENT_ID: SeenEvent(123_456, "download-invoice", occurred_at_s, "completed", PROMPT_ID, None, None, NOW_S)
        },
        last_offset=123_456,
        prompt_stamps=[NOW_S],
    )


def test_a_prompted_user_takes_at_most_200_bytes_in_the_changelog() -> None:
    state = _prompted()
    data = _round_trip(state).to_bytes()
    assert len(data) + KEY_BYTES <= 200
    assert len(data) * 3 < len(orjson.dumps(state.to_json_obj()))


def test_the_stored_form_of_a_prompted_user_is_pinned() -> None:
    """These bytes are format 2: if they change, states already stored would read differently,
    so the change needs a new format version (and a reader for this one)."""
    data = _prompted().to_bytes()
    assert data.hex() == (
        "02009c"  # format 2, no deadline, 12 parts
        "cf000001977420dc7b"  # 0: the base time, the first time written, in milliseconds
        "00"  # 1: last prompt, 0 ms from the base
        "92b0646f776e6c6f61642d696e766f69636500"  # 2: per goal, the slug in full (text 35), a time
        "c0c0"  # 3, 4: no open goals
        "92c4105d0c6a526f0e5a4b8d576c9b0e2f1a33"  # 5: pending, the prompt id as 16 bytes (text 36)
        "9c230400ce05265c0007"  # slug by reference, "completed", created, expires +1 day, "five_point"
        "9204050105c2a56e6c2d4e4c"  # positive points, min, max, not inverted, locale (text 37)
        "c4100b6f3e1c8f0e5d5e9b7a3f2d1c0b9a880e"  # the event id (text 38), "web"
        "c0"  # 6: nothing answered
        "922698ce0001e24023d1fb2e0424c0c000"  # 7: seen, the ids by reference, occurred 1 234 ms earlier
        "ce0001e240"  # 8: last offset
        "c0c0"  # 9, 10: no displays, no dismissals
        "9100"  # 11: prompt stamps; 12, 13 left out
    )
    assert UserState.from_bytes(data) == _prompted()


def test_known_strings_are_the_ones_format_2_was_written_with() -> None:
    assert len(KNOWN) == 35 and len(set(KNOWN)) == 35
    assert KNOWN[:7] == ("", "ces", "csat", "nps", "completed", "abandoned", "abandoned_inferred")


# --- states stored before format 2 --------------------------------------------------------------------------

# A state exactly as the JSON writer (format 1) stored it.
_STORED_AS_JSON = (
    b'{"v":1,"lp":1796641836.9962027,"lg":{"download-invoice":1796641836.9962027},'
    b'"pp":{"eb659e20-15d5-4a5a-8740-1bbfde28300d":["download-invoice","completed",1796641836.9962027,'
    b'1796728236.9962027,"five_point",[4,5],1,5,0,"nl-NL","22928d6d-6030-443f-b4eb-c3309b32bc13","web"]},'
    b'"se":{"22928d6d-6030-443f-b4eb-c3309b32bc13":[123456,"download-invoice",1796641836.9962027,"completed",'
    b'"eb659e20-15d5-4a5a-8740-1bbfde28300d",null,null,1796641836.9962027]},"lo":123456,"ps":[1796641836.9962027]}'
)


def test_a_state_stored_as_json_still_loads_and_is_written_again_in_format_2() -> None:
    state = UserState.from_bytes(_STORED_AS_JSON)
    now_s = 1796641836.9962027
    prompt_id, event_id = "eb659e20-15d5-4a5a-8740-1bbfde28300d", "22928d6d-6030-443f-b4eb-c3309b32bc13"
    assert state == UserState(
        last_prompt_at_s=now_s,
        last_prompt_by_goal={"download-invoice": now_s},
        pending={
            prompt_id: PendingPrompt(
                "download-invoice",
                "completed",
                now_s,
                now_s + 86_400,
                "five_point",
                (4, 5),
                1,
                5,
                False,
                "nl-NL",
                event_id,
                "web",
            )
        },
        seen_events={event_id: SeenEvent(123456, "download-invoice", now_s, "completed", prompt_id, None, None, now_s)},
        last_offset=123456,
        prompt_stamps=[now_s],
    )
    assert _round_trip(state).to_bytes()[:1] == b"\x02"
    assert len(state.to_bytes()) < 200  # times not to the millisecond (time.time()) are floats, still small


def test_random_states_stored_as_json_load_equal() -> None:
    """What the JSON writer kept of a state loads back as it did (the JSON form keeps the first start
    of a retried attempt only, and no last offset below -1: the random states here have no other)."""
    rng = random.Random(19)
    for _ in range(300):
        state = _random_state(rng)
        for og in state.open_goals.values():
            if og.starts <= 1:
                og.starts, og.first_started_at_s = 1, None
        state.last_offset = max(state.last_offset, -1)  # no offset below 0 is kept
        assert UserState.from_bytes(orjson.dumps(state.to_json_obj())) == state


# --- malformed bytes ----------------------------------------------------------------------------------------------


def _packed(*slots: Any) -> bytes:
    return b"\x02\x00" + msgpack.packb(list(slots))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02",
        b"\x02\x00",
        b"\x04\x00\x90",  # a newer format
        b"\x01{}",
        b"\x00",
        b"\x02\x80\x90",  # an unknown flag
        b"\x02\x00\xc1",  # never used in msgpack
        b"\x02\x00\x90\x90",  # extra data
        b"\x02\x00\x81\x00\x00",  # a map
        b"\x02\x00\xd4\x01\x00",  # an extension type
        b"\x02\x00\xd6\xff\x00\x00\x00\x00",  # msgpack's timestamp extension
        b"\x02\x00\xa1\xff",  # not UTF-8
        b"\x02\x00\x01",  # not a list
        _packed(None, 1.5, None, None, None, None, None, None, None, None, None, None, None, None, None),  # 15 slots
        _packed(None, 0),  # a time in milliseconds without a base time
        _packed(0, "x"),  # a text where a time belongs
        _packed(0, None, ["claim"]),  # a key without its value
        _packed(0, None, [-1, 0]),  # a negative reference
        _packed(0, None, [len(KNOWN), 0]),  # a reference to a text not written yet
        _packed(0, None, [b"\x00" * 15, 0]),  # an id of 15 bytes
        _packed(0, None, [True, 0]),
        _packed(0, None, None, None, None, ["p", ["claim"]]),  # a record too short
        _packed(
            0, None, None, None, None, ["p", ["g", "o", 0, 0, "k", [], 1, 5, False, "nl", "e", "web", "", "", "v", "x"]]
        ),  # a record longer than format 3 knows
        _packed(
            0, None, None, None, None, None, None, ["e", [1, "g", 0, None, None, None, None, 0, 1]]
        ),  # int duration
        _packed(0, None, None, None, None, ["p", ["g", "o", 0, 0, "k", 7, 1, 5, False, "nl", "e", "web"]]),
        b"{not json",
        b"[]",
    ],
)
def test_malformed_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        UserState.from_bytes(data)


def test_truncated_or_damaged_bytes_raise_value_error_or_read_as_some_state() -> None:
    """The caller handles ValueError: no other exception may come out of msgpack or the records."""
    data = _prompted().to_bytes()
    for end in range(len(data)):
        with pytest.raises(ValueError):
            UserState.from_bytes(data[:end])
    rng = random.Random(7)
    for _ in range(3000):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(2, len(damaged))] = rng.randrange(256)
        with contextlib.suppress(ValueError):
            UserState.from_bytes(bytes(damaged))


def test_may_have_deadlines_reads_the_flags_byte() -> None:
    assert not may_have_deadlines(_prompted().to_bytes())
    started = UserState(open_goals={"og": OpenGoal(EVENT_ID, NOW_S, NOW_S + 900, "og", 1)})
    assert may_have_deadlines(started.to_bytes())
    started.open_goals["og"].infers = False  # kept for measured effort only: no deadline to index
    assert not may_have_deadlines(started.to_bytes())
    assert not may_have_deadlines(b"\x02")
