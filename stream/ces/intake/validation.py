"""Input validation: raw Kafka record bytes in, a contract model or a rejection out.

Pure and stateless (no Faust, no Kafka). Every kind of bad input has a stable
:class:`~schemas.DeadLetterReason`; the caller sends rejections to the
dead-letter topic with the original bytes. Checks that need state (unknown
prompt, duplicate, score against the prompt's scale) happen in the user stage.

Lateness and future dates are judged against the Kafka record timestamp (when
the app produced the event), not the wall clock, so a replay after a crash or a
backlog decides exactly as the first pass did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas import DeadLetter, DeadLetterReason, ErasureRequest, GoalEvent, PromptEvent, SurveyAnswer

ModelT = TypeVar("ModelT", bound=BaseModel)
EventT = TypeVar("EventT", GoalEvent, SurveyAnswer, PromptEvent)
MAX_DETAIL_ERRORS = 3


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input was refused: a stable reason code and a human detail."""

    reason: DeadLetterReason
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds every input is held to (from Settings)."""

    max_event_bytes: int
    future_skew_s: float
    late_grace_s: float


def _schema_detail(exc: ValidationError) -> tuple[DeadLetterReason, str]:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        return DeadLetterReason.not_json, f"not JSON: {errors[0]['msg']}"
    parts = []
    for err in errors[:MAX_DETAIL_ERRORS]:
        path = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{path}: {err['msg']}")
    if len(errors) > MAX_DETAIL_ERRORS:
        parts.append(f"and {len(errors) - MAX_DETAIL_ERRORS} more")
    return DeadLetterReason.schema_violation, "; ".join(parts)


def parse(raw: bytes | None, model: type[ModelT], limits: Limits) -> ModelT | Rejection:
    """Size, JSON and schema checks."""
    if raw is None or not raw:
        return Rejection(DeadLetterReason.not_json, "empty record value")
    if len(raw) > limits.max_event_bytes:
        return Rejection(DeadLetterReason.oversize, f"{len(raw)} bytes > limit of {limits.max_event_bytes}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        reason, detail = _schema_detail(exc)
        return Rejection(reason, detail)


def check_event_time(event_time: datetime, record_time_s: float, limits: Limits) -> Rejection | None:
    """Future-dated beyond the skew allowance, or older than the grace period, relative to the record time."""
    event_s = event_time.timestamp()
    if event_s - record_time_s > limits.future_skew_s:
        return Rejection(
            DeadLetterReason.future_timestamp,
            f"event time {event_time.isoformat()} is {event_s - record_time_s:.0f} s after the record time "
            f"(allowed skew {limits.future_skew_s:.0f} s)",
        )
    if record_time_s - event_s > limits.late_grace_s:
        return Rejection(
            DeadLetterReason.too_late,
            f"event time {event_time.isoformat()} is {record_time_s - event_s:.0f} s before the record time "
            f"(grace {limits.late_grace_s:.0f} s)",
        )
    return None


def _validate(
    raw: bytes | None,
    model: type[EventT],
    event_time: str,
    record_time_s: float,
    known_goals: frozenset[str],
    limits: Limits,
) -> EventT | Rejection:
    parsed = parse(raw, model, limits)
    if isinstance(parsed, Rejection):
        return parsed
    goal = parsed.goal
    if goal not in known_goals:
        return Rejection(DeadLetterReason.unknown_goal, f"goal {goal!r} is not in the goal registry")
    return check_event_time(getattr(parsed, event_time), record_time_s, limits) or parsed


def validate_goal_event(
    raw: bytes | None, record_time_s: float, known_goals: frozenset[str], limits: Limits
) -> GoalEvent | Rejection:
    """A valid GoalEvent for a registered goal, or why not."""
    return _validate(raw, GoalEvent, "occurred_at", record_time_s, known_goals, limits)


def validate_answer(
    raw: bytes | None, record_time_s: float, known_goals: frozenset[str], limits: Limits
) -> SurveyAnswer | Rejection:
    """A valid SurveyAnswer for a registered goal, or why not (the prompt is checked later)."""
    return _validate(raw, SurveyAnswer, "answered_at", record_time_s, known_goals, limits)


def validate_prompt_event(
    raw: bytes | None, record_time_s: float, known_goals: frozenset[str], limits: Limits
) -> PromptEvent | Rejection:
    """A valid PromptEvent for a registered goal, or why not (the prompt is checked later)."""
    return _validate(raw, PromptEvent, "occurred_at", record_time_s, known_goals, limits)


def validate_erasure_request(raw: bytes | None, limits: Limits) -> ErasureRequest | Rejection:
    """A valid ErasureRequest, or why not. Never refused for its age: an erasure is due however late it comes."""
    return parse(raw, ErasureRequest, limits)


def erasure_payload(request: ErasureRequest) -> bytes:
    """What the user stage gets of an erasure request: its id and time, not the raw user id (the key says whose)."""
    body = {"request_id": str(request.request_id), "requested_at": request.requested_at.isoformat()}
    return json.dumps(body, separators=(",", ":")).encode()


def dead_letter(
    rejection: Rejection,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    received_at_s: float,
) -> DeadLetter:
    """The dead-letter record for a rejected input, carrying its original bytes."""
    return DeadLetter.from_record(
        reason=rejection.reason,
        detail=rejection.detail,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value or b"",
        received_at=datetime.fromtimestamp(received_at_s, tz=UTC),
    )
