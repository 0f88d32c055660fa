"""Hypothesis strategies for hostile input records, and turning them into the bytes that are produced.

Used by ``tests/integration/test_hostile_input.py``. A strategy draws a :class:`Spec`: plain data
(a JSON-like document, raw bytes or None, a key, a corruption of the JSON text) in which the times
and the user ids are symbolic (:class:`At`, :class:`User`), because the record is rendered only when
it is produced: times relative to the moment it is sent, users in the namespace of one example, so
examples never share a user's state in the worker.

Each spec carries what is *certain* about it and nothing more: ``expect`` is ``"forward"`` (the intake
must forward it), ``"dead"`` (the intake must dead-letter it) or None (either is fine, the accounting
still holds), ``reason`` the intake's reason when that is certain, and ``user_expect`` what the user
stage must do with a forwarded record when that is certain (``"counted"`` or a dead-letter reason).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

MAX_EVENT_BYTES = 4096
"""The worker runs with CES_MAX_EVENT_BYTES at this value, so oversize is within reach of small inputs."""
FUTURE_SKEW_S = 300
LATE_GRACE_S = 3600
MARGIN_S = 120
"""Timestamps are drawn at least this far beyond a limit, so a slow send never flips the verdict."""
PROMPT_EXPIRY_S = 60
"""The test registry's prompt_expiry_seconds."""
ANSWER_GRACE_S = 60  # stream.ces.users.state.ANSWER_GRACE_S

# hyp-off is in the registry but disabled: its events are valid and forwarded, and never prompt.
GOALS = ("hyp-five", "hyp-ten", "hyp-off")
PROMPTING_GOALS = ("hyp-five", "hyp-ten")
USERS_PER_EXAMPLE = 5
GOAL_EVENT_FIELDS = ("event_id", "type", "goal", "user_id", "occurred_at", "channel", "locale")
GOAL_EVENT_OPTIONAL = ("schema_version", "session_id", "app_version", "attributes")
ANSWER_FIELDS = ("answer_id", "prompt_id", "user_id", "goal", "score", "answered_at", "channel")
ANSWER_OPTIONAL = ("schema_version", "comment", "survey")
TIME_FIELD = {"goal": "occurred_at", "answer": "answered_at"}
# The JSON type each field must have; a value of any other type breaks the contract for sure.
JSON_TYPE = {
    "event_id": str,
    "type": str,
    "goal": str,
    "user_id": str,
    "occurred_at": str,
    "channel": str,
    "locale": str,
    "session_id": str,
    "app_version": str,
    "attributes": dict,
    "schema_version": int,
    "answer_id": str,
    "prompt_id": str,
    "score": int,
    "answered_at": str,
    "survey": str,
    "comment": str,
}


@dataclass(frozen=True)
class At:
    """A time ``offset_s`` seconds after the record's own time (the moment it is sent, by default)."""

    offset_s: float


@dataclass(frozen=True)
class User:
    """The ``index``-th user of the example being run."""

    index: int


@dataclass(frozen=True)
class Spec:
    """One input record as drawn; :func:`render` makes the key and value bytes."""

    topic: str  # "goal" or "answer"
    label: str  # what was generated, e.g. "goal_event", "answer/drop:score", "goal/raw:binary"
    value: Any  # a JSON-like document, bytes, or None (a record without value)
    key: Any = None  # bytes, None or User
    text_op: tuple[Any, ...] | None = None  # a corruption of the rendered JSON text
    ensure_ascii: bool = True
    record_shift_s: int | None = None  # an explicit record timestamp, this far from now
    headers: tuple[tuple[str, bytes], ...] = ()
    expect: str | None = None
    reason: str | None = None
    user_expect: str | None = None
    repeat_of: int | None = None  # "send an earlier record of this phase again" (resolved by render_all)


@dataclass
class Rendered:
    """A spec made concrete: exactly what is produced, and what is certain about it."""

    spec: Spec
    topic: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    expect: str | None
    reason: str | None
    user_expect: str | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    same_as: Rendered | None = None
    """For a repeat: the record it repeats. A repeat may overtake its first (a record without key
    goes to any partition), so the user stage must dead-letter all but one of them as duplicates."""


# --- rendering --------------------------------------------------------------------------


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _resolve(doc: Any, base: datetime, users: list[str]) -> Any:
    if isinstance(doc, At):
        return rfc3339(base + timedelta(seconds=doc.offset_s))
    if isinstance(doc, User):
        return users[doc.index % len(users)]
    if isinstance(doc, dict):
        return {k: _resolve(v, base, users) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_resolve(v, base, users) for v in doc]
    return doc


def _corrupt(text: bytes, op: tuple[Any, ...]) -> bytes:
    kind = op[0]
    at = int(op[1] * len(text)) if len(op) > 1 and isinstance(op[1], float) else 0
    if kind == "truncate":
        return text[: min(at, len(text) - 1)]
    if kind == "insert":
        return text[:at] + op[2] + text[at:]
    if kind == "delete":
        return text[:at] + text[at + op[2] :]
    if kind == "flip":
        return text[:at] + bytes([text[at] ^ op[2]]) + text[at + 1 :] if at < len(text) else text
    if kind == "prefix":
        return op[1] + text
    if kind == "suffix":
        return text + op[1]
    if kind == "single_quotes":
        return text.replace(b'"', b"'")
    if kind == "trailing_comma":
        return text[:-1] + b",}"
    raise ValueError(op)


def render(spec: Spec, users: list[str]) -> Rendered:
    """The key and value bytes of ``spec`` for an example whose users are ``users``, sent now."""
    record_s = time.time() + (spec.record_shift_s or 0)
    base = datetime.fromtimestamp(record_s, tz=UTC)
    key = users[spec.key.index % len(users)].encode() if isinstance(spec.key, User) else spec.key
    expect, reason = spec.expect, spec.reason
    value: bytes | None
    if spec.value is None or isinstance(spec.value, bytes):
        value = spec.value
    else:
        text = json.dumps(_resolve(spec.value, base, users), ensure_ascii=spec.ensure_ascii)
        try:
            value = text.encode()
        except UnicodeEncodeError:  # a lone surrogate written raw: not UTF-8, so not JSON
            value = text.encode(errors="surrogatepass")
            expect, reason = "dead", "not_json"
        if spec.text_op is not None:
            value = _corrupt(value, spec.text_op)
    # What holds for every record whatever was drawn (stream.ces.intake.validation.parse, in this order).
    if not value:
        expect, reason = "dead", "not_json"
    elif len(value) > MAX_EVENT_BYTES:
        expect, reason = "dead", "oversize"
    user_expect = spec.user_expect if expect == "forward" else None
    timestamp_ms = None if spec.record_shift_s is None else int(record_s * 1000)
    return Rendered(spec, spec.topic, key, value, timestamp_ms, expect, reason, user_expect, list(spec.headers))


def render_all(specs: list[Spec], users: list[str]) -> list[Rendered]:
    """Render a phase's specs; a repeat sends again the bytes of an earlier record that must be forwarded."""
    out: list[Rendered] = []
    for spec in specs:
        if spec.repeat_of is None:
            out.append(render(spec, users))
            continue
        earlier = [r for r in out if r.topic == spec.topic and r.expect == "forward" and r.spec.repeat_of is None]
        if not earlier:
            continue
        first = earlier[spec.repeat_of % len(earlier)]
        value = first.value
        if spec.label == "goal/same_event_id":  # the event id again, with another type: a duplicate too
            doc = json.loads(value or b"")
            doc["type"] = {"started": "completed", "completed": "abandoned", "abandoned": "started"}[doc["type"]]
            value = json.dumps(doc).encode()
        out.append(
            Rendered(spec, first.topic, first.key, value, first.timestamp_ms, "forward", None, None, same_as=first)
        )
    return out


# --- strategies -------------------------------------------------------------------------


def _text(max_size: int = 24) -> st.SearchStrategy[str]:
    """Any Unicode text: control characters, the private use area, astral planes (valid in a record)."""
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


def _raw_text(max_size: int = 24) -> st.SearchStrategy[str]:
    """Any code points, lone surrogates too: not Unicode text, so ces-stream reads it as not JSON."""
    return st.text(st.characters(codec=None, categories=None), max_size=max_size)


def _junk(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), text)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=12,
    )


json_junk = _junk(_raw_text())
"""Nested JSON-ish junk: NaN and infinities (written as bare tokens), huge integers, lone surrogates."""
valid_json_junk = _junk(_text()).filter(lambda v: "NaN" not in json.dumps(v) and "Infinity" not in json.dumps(v))
"""Nested junk that is still JSON (no NaN or infinity, no lone surrogate): fine in an unknown field."""
extreme_numbers = st.sampled_from(
    [0, -1, 2**31, 2**63, 2**64, 10**30, -(10**30), 1e308, -0.0, 5.0, 1e-320, float("inf"), float("nan")]
)
weird_timestamps = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "2025-02-30T10:00:00Z",
        "2025-01-01T00:00:00",
        "2025-01-01",
        "1700000000",
        "2025-01-01T00:00:00+24:00",
        "+12025-01-01T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "",
        "now",
        "2025-01-01T00:00:00.1234567890123Z",
    ]
)
unknown_goals = st.from_regex(r"\A[a-z0-9](?:[a-z0-9_-]{0,20}[a-z0-9])?\Z").filter(lambda g: g not in GOALS)
keys = st.one_of(
    st.none(),
    st.builds(User, st.integers(0, USERS_PER_EXAMPLE - 1)),
    st.binary(max_size=40),
    _raw_text(16).map(lambda s: s.encode(errors="surrogatepass")),
    st.integers(65_537, 70_000).map(lambda n: b"k" * n),  # over the 64 KiB a dead letter keeps of a key
)
users = st.builds(User, st.integers(0, USERS_PER_EXAMPLE - 1))
near_now = st.builds(At, st.integers(-30, 0))
headers = st.lists(
    st.tuples(st.text(st.characters(codec="utf-8"), max_size=10), st.binary(max_size=16)), max_size=2
).map(tuple)


def goal_event_doc(
    types: tuple[str, ...] = ("started", "completed", "abandoned"),
    goals: tuple[str, ...] = GOALS,
) -> st.SearchStrategy[dict[str, Any]]:
    """A valid goal event (a registered goal, now), some optional fields present."""
    return st.fixed_dictionaries(
        {
            "event_id": st.uuids().map(str),
            "type": st.sampled_from(types),
            "goal": st.sampled_from(goals),
            "user_id": users,
            "occurred_at": near_now,
            "channel": st.sampled_from(["web", "ios", "android", "other"]),
            "locale": st.sampled_from(["en", "nl", "nl-NL", "en-GB", "de"]),
        },
        optional={
            "schema_version": st.just(1),
            "session_id": _text(40),
            "app_version": _text(20),
            "attributes": st.dictionaries(_text(10), _text(20), max_size=3),
        },
    )


def answer_doc() -> st.SearchStrategy[dict[str, Any]]:
    """A valid answer to a prompt nobody sent (a random prompt id)."""
    return st.fixed_dictionaries(
        {
            "answer_id": st.uuids().map(str),
            "prompt_id": st.uuids().map(str),
            "user_id": users,
            "goal": st.sampled_from(GOALS),
            "score": st.integers(1, 10),
            "answered_at": near_now,
            "channel": st.sampled_from(["web", "ios", "android", "other"]),
        },
        optional={
            "schema_version": st.just(1),
            "comment": _text(60),
            "survey": st.sampled_from(["ces", "csat", "nps"]),
        },
    )


@st.composite
def mutation(draw: st.DrawFn, doc: dict[str, Any], topic: str) -> tuple[dict[str, Any], str, str | None, str | None]:
    """One change to a valid document: (document, label, certain verdict, certain reason)."""
    required = GOAL_EVENT_FIELDS if topic == "goal" else ANSWER_FIELDS
    optional = GOAL_EVENT_OPTIONAL if topic == "goal" else ANSWER_OPTIONAL
    fields = list(required) + list(optional)
    kind = draw(
        st.sampled_from(
            [
                "drop",
                "wrong_type",
                "weird_string",
                "huge_string",
                "extreme_number",
                "extra_junk",
                "junk_in_field",
                "future",
                "old",
                "weird_time",
                "unknown_goal",
                "newer_version",
                "strip_to_partial",
            ]
        )
    )
    doc = dict(doc)
    time_field = TIME_FIELD[topic]
    if kind == "drop":
        present = [f for f in fields if f in doc]
        if not present:  # an earlier mutation left nothing: "{}"
            return doc, "drop:-", "dead", "schema_violation"
        name = draw(st.sampled_from(present))
        del doc[name]
        verdict, reason = ("dead", "schema_violation") if name in required else ("forward", None)
        return doc, f"drop:{name}", verdict, reason
    if kind == "wrong_type":
        name = draw(st.sampled_from(fields))
        expected = JSON_TYPE[name]
        junk = draw(json_junk.filter(lambda v: not (type(v) is expected or (v is None and name in optional))))
        doc[name] = junk
        return doc, f"wrong_type:{name}", "dead", "schema_violation"
    if kind in ("weird_string", "huge_string"):
        name = draw(st.sampled_from([f for f in fields if JSON_TYPE[f] is str]))
        doc[name] = draw(_raw_text(80)) if kind == "weird_string" else draw(_text(3)) * draw(st.integers(100, 3000))
        return doc, f"{kind}:{name}", None, None
    if kind == "extreme_number":
        name = draw(st.sampled_from(["score", "schema_version"] if topic == "answer" else ["schema_version"]))
        doc[name] = draw(extreme_numbers)
        return doc, f"extreme_number:{name}", None, None
    if kind == "extra_junk":  # unknown fields are ignored: still valid
        doc["x_" + draw(_text(10))] = draw(valid_json_junk)
        return doc, "extra_junk", "forward", None
    if kind == "junk_in_field":
        name = draw(st.sampled_from(fields))
        doc[name] = draw(json_junk)
        return doc, f"junk_in_field:{name}", None, None
    if kind == "future":
        doc[time_field] = At(draw(st.integers(FUTURE_SKEW_S + MARGIN_S, 10**9)))
        return doc, "future", "dead", "future_timestamp"
    if kind == "old":
        doc[time_field] = At(-draw(st.integers(LATE_GRACE_S + MARGIN_S, 10**9)))
        return doc, "old", "dead", "too_late"
    if kind == "weird_time":
        doc[time_field] = draw(weird_timestamps)
        return doc, "weird_time", "dead", None
    if kind == "unknown_goal":
        doc["goal"] = draw(unknown_goals)
        return doc, "unknown_goal", "dead", "unknown_goal"
    if kind == "newer_version":  # answers read version 2 too (a comment sent after its score)
        doc["schema_version"] = draw(st.integers(3 if topic == "answer" else 2, 10**12))
        return doc, "newer_version", "dead", "schema_violation"
    # strip_to_partial: a JSON object with only some of the fields (a required one always missing)
    missing = draw(st.sampled_from(required))
    others = [k for k in doc if k != missing]
    kept = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
    return {k: doc[k] for k in kept}, "partial", "dead", "schema_violation"


@st.composite
def mutated_record(draw: st.DrawFn, topic: str) -> Spec:
    """A valid document with one or two mutations; only a single mutation has a certain verdict."""
    doc = draw(goal_event_doc() if topic == "goal" else answer_doc())
    count = draw(st.integers(1, 2))
    labels, verdict, reason = [], None, None
    for _ in range(count):
        doc, label, verdict, reason = draw(mutation(doc, topic))
        labels.append(label)
    if count > 1:
        verdict, reason = None, None
    user_expect = "unknown_prompt" if topic == "answer" and verdict == "forward" else None
    return Spec(
        topic,
        f"{topic}/" + "+".join(labels),
        doc,
        key=draw(keys),
        ensure_ascii=draw(st.booleans()),
        expect=verdict,
        reason=reason,
        user_expect=user_expect,
    )


text_ops = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 8)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("prefix"), st.sampled_from([b"\xef\xbb\xbf", b" \n\t", b"[", b"\x00", b"//x\n"])),
    st.tuples(st.just("suffix"), st.sampled_from([b"}", b",", b"\x00", b" garbage", b"\n{}", b" "])),
    st.tuples(st.just("single_quotes")),
    st.tuples(st.just("trailing_comma")),
)


@st.composite
def almost_json(draw: st.DrawFn, topic: str) -> Spec:
    """The JSON text of a valid record, corrupted: truncated, a byte flipped, quotes changed, a BOM..."""
    doc = draw(goal_event_doc() if topic == "goal" else answer_doc())
    op = draw(text_ops)
    # A truncated object or one with a trailing comma is never JSON; other changes may leave it valid.
    certain = ("dead", "not_json") if op[0] in ("truncate", "trailing_comma", "single_quotes") else (None, None)
    return Spec(topic, f"{topic}/text:{op[0]}", doc, key=draw(keys), text_op=op, expect=certain[0], reason=certain[1])


@st.composite
def raw_record(draw: st.DrawFn, topic: str) -> Spec:
    """Bytes that are not a record of the contract: random binary, JSON of another shape, no value, huge."""
    kind = draw(st.sampled_from(["binary", "json_other", "none", "empty", "huge"]))
    if kind == "binary":
        value: Any = draw(st.binary(max_size=200))
    elif kind == "json_other":
        value = json.dumps(draw(json_junk)).encode()
    elif kind == "none":
        value = None
    elif kind == "empty":
        value = b""
    else:  # beyond the 256 KiB a dead letter keeps: cut, flagged and sized
        chunk, size = draw(st.binary(min_size=1, max_size=8)), draw(st.integers(262_145, 300_000))
        value = (chunk * (size // len(chunk) + 1))[:size]
    # A record without value needs a key (a Kafka client refuses to send neither).
    key = draw(keys.filter(lambda k: k is not None) if value is None else keys)
    return Spec(topic, f"{topic}/raw:{kind}", value, key=key, expect="dead")


@st.composite
def valid_record(draw: st.DrawFn, topic: str) -> Spec:
    """A record of the contract, as an app sends it (answers here name a prompt nobody sent)."""
    if topic == "goal":
        return Spec("goal", "goal_event", draw(goal_event_doc()), key=draw(keys), expect="forward")
    return Spec(
        "answer",
        "answer/unknown_prompt",
        draw(answer_doc()),
        key=draw(keys),
        expect="forward",
        user_expect="unknown_prompt",
    )


@st.composite
def shifted_clock(draw: st.DrawFn) -> Spec:
    """A valid goal event whose record timestamp (set by the producer) is off the clock.

    Up to 2 h back, and at most 30 min ahead: Kafka 4 brokers refuse records more than an hour
    ahead of their clock (``message.timestamp.after.max.ms``)."""
    spec = draw(valid_record("goal"))
    return replace(
        spec,
        label="goal_event/record_time_shifted",
        record_shift_s=draw(st.integers(-7200, 1800)),
        headers=draw(headers),
    )


def hostile_record() -> st.SearchStrategy[Spec]:
    """Any hostile (or valid) record for either input topic; mutated contract records the most."""

    def of_kind(kind_and_topic: tuple[str, str]) -> st.SearchStrategy[Spec]:
        kind, topic = kind_and_topic
        if kind == "mutated":
            return mutated_record(topic)
        if kind == "almost_json":
            return almost_json(topic)
        if kind == "raw":
            return raw_record(topic)
        if kind == "valid":
            return valid_record(topic)
        if kind == "shifted_clock":
            return shifted_clock()
        # the same bytes again; for a goal event also the same event id with another type
        labels = [f"{topic}/repeat"] + ([f"{topic}/same_event_id"] if topic == "goal" else [])
        return st.builds(
            lambda label, i: Spec(topic, label, None, repeat_of=i), st.sampled_from(labels), st.integers(0, 50)
        )

    kinds = st.sampled_from(["mutated"] * 4 + ["almost_json", "raw", "valid", "shifted_clock", "repeat"])
    return st.tuples(kinds, st.sampled_from(["goal", "answer"])).flatmap(of_kind)


def prompted_goal_events() -> st.SearchStrategy[list[Spec]]:
    """Completed and abandoned events of prompting goals for distinct users: prompts to answer later."""

    def spec(doc: dict[str, Any], index: int) -> Spec:
        doc = doc | {"user_id": User(index)}
        return Spec("goal", "goal_event/prompting", doc, key=User(index), expect="forward")

    doc = goal_event_doc(("completed", "abandoned"), PROMPTING_GOALS)
    return st.lists(doc, min_size=1, max_size=3).map(lambda docs: [spec(d, i) for i, d in enumerate(docs)])


# --- answers to the prompts an example's goal events led to ----------------------------
# The answers are planned before the prompts exist (so hypothesis draws the same things whatever
# the worker did, and a failing example replays alike): a plan's document names the prompt's
# fields symbolically (`FromPrompt`, `Score`), bound to a real prompt by `answers_for`.

ANSWER_ACTIONS = (
    "valid",
    "valid",
    "out_of_range",
    "wrong_goal",
    "expired",
    "twice_same",
    "twice_new_id",
    "wrong_user",
    "mutated",
    "wrong_survey",
    "comment_after",
    "comment_first",
    "comment_twice",
)
ANSWERED_PROMPTS = 5
"""Prompts answered per example (more are left unanswered)."""


@dataclass(frozen=True)
class FromPrompt:
    """The value of the prompt's ``field`` (``suffix`` appended: another user)."""

    field: str
    suffix: str = ""


@dataclass(frozen=True)
class Score:
    """A score relative to the prompt's scale: a point of it ("in"), or ``n`` + 1 below or above it."""

    where: str
    n: int


@dataclass(frozen=True)
class AnswerPlan:
    action: str
    doc: dict[str, Any]
    second_answer_id: str
    other_goal: int
    mutated: tuple[dict[str, Any], str, str | None, str | None]


@st.composite
def answer_plan(draw: st.DrawFn) -> AnswerPlan:
    """What to answer to one prompt, and with which bytes (prompt fields still symbolic)."""
    doc: dict[str, Any] = {
        "answer_id": str(draw(st.uuids())),
        "prompt_id": FromPrompt("prompt_id"),
        "user_id": FromPrompt("user_id"),
        "goal": FromPrompt("goal"),
        "score": Score("in", draw(st.integers(0, 100))),
        "answered_at": At(0),
        "channel": draw(st.sampled_from(["web", "ios", "android", "other"])),
    }
    if draw(st.booleans()):
        doc["comment"] = draw(st.one_of(_text(60), st.sampled_from(["", "   ", "Quick.", "Te veel stappen!"])))
    return AnswerPlan(
        action=draw(st.sampled_from(ANSWER_ACTIONS)),
        doc=doc,
        second_answer_id=str(draw(st.uuids())),
        other_goal=draw(st.integers(0, 1)),
        mutated=draw(mutation(doc, "answer")),
    )


def answer_plans() -> st.SearchStrategy[list[AnswerPlan]]:
    return st.lists(answer_plan(), min_size=ANSWERED_PROMPTS, max_size=ANSWERED_PROMPTS)


def _bind(doc: Any, prompt: dict[str, Any]) -> Any:
    if isinstance(doc, FromPrompt):
        return prompt[doc.field] + doc.suffix
    if isinstance(doc, Score):
        low, high = prompt["scale"]["min_score"], prompt["scale"]["max_score"]
        return {"in": low + doc.n % (high - low + 1), "below": low - 1 - doc.n, "above": high + 1 + doc.n}[doc.where]
    if isinstance(doc, dict):
        return {k: _bind(v, prompt) for k, v in doc.items()}
    return doc


def answers_for(prompt: dict[str, Any], plan: AnswerPlan) -> list[Spec]:
    """The answer records of ``plan`` for one prompt read from the prompts topic."""
    key = prompt["user_id"].encode()
    doc = plan.doc

    def one(
        d: dict[str, Any],
        label: str,
        user_expect: str | None,
        expect: str | None = "forward",
        reason: str | None = None,
    ) -> Spec:
        return Spec(
            "answer",
            f"answer_to_prompt/{label}",
            _bind(d, prompt),
            key=key,
            expect=expect,
            reason=reason,
            user_expect=user_expect,
        )

    action = plan.action
    if action == "valid":
        return [one(doc, "valid", "counted")]
    if action == "out_of_range":
        score = Score("below" if doc["score"].n % 2 else "above", doc["score"].n)
        return [one(doc | {"score": score}, "out_of_range", "score_out_of_range")]
    if action == "wrong_goal":  # a registered goal, not the prompt's: caught by the answer joiner
        other = [g for g in GOALS if g != prompt["goal"]][plan.other_goal]
        return [one(doc | {"goal": other}, "wrong_goal", "schema_violation")]
    if action == "expired":  # after expiry and grace, yet within the future skew of the record time
        expires_s = datetime.fromisoformat(prompt["expires_at"].replace("Z", "+00:00")).timestamp()
        late = At(expires_s + ANSWER_GRACE_S + 30 - time.time())
        return [one(doc | {"answered_at": late}, "expired", "expired_prompt")]
    if action == "twice_same":
        return [one(doc, "valid", "counted"), one(doc, "same_again", "duplicate")]
    if action == "twice_new_id":
        second = doc | {"answer_id": plan.second_answer_id}
        return [one(doc, "valid", "counted"), one(second, "second_answer", "duplicate")]
    if action == "wrong_survey":  # the prompts here ask CES: an answer naming NPS is a mix-up
        return [one(doc | {"survey": "nps"}, "wrong_survey", "schema_violation")]
    if action in ("comment_after", "comment_first", "comment_twice"):
        # Version 2: the comment as a record of its own, after the score (joined once), before it
        # (no score yet), or sent twice (the second a duplicate).
        scored = {k: v for k, v in doc.items() if k != "comment"}
        comment = {k: v for k, v in scored.items() if k != "score"} | {
            "schema_version": 2,
            "answer_id": plan.second_answer_id,
            "comment": "Te veel stappen!",
        }
        if action == "comment_first":
            return [one(comment, "comment_first", "no_score"), one(scored, "valid", "counted")]
        records = [one(scored, "valid", "counted"), one(comment, "comment_after", "counted")]
        if action == "comment_twice":
            records.append(one(comment, "comment_again", "duplicate"))
        return records
    if action == "wrong_user":  # another user's id: that user has no such prompt
        return [one(doc | {"user_id": FromPrompt("user_id", "-other")}, "wrong_user", "unknown_prompt")]
    mutated, label, verdict, reason = plan.mutated
    # A mutated answer that is still valid (an optional field dropped, junk added) is counted.
    return [one(mutated, f"mutated:{label}", "counted" if verdict == "forward" else None, verdict, reason)]
