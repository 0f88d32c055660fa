"""A POST body of the gateway read into the input contracts, with the intake's own checks.

A body is one JSON object (one record) or a JSON array of them (a batch). Each record is judged
alone, on its own bytes, by the intake's validation (:mod:`stream.ces.intake.validation`) with the
time of the request as its record time, exactly as the intake judges a Kafka record: the same
reasons (:class:`~schemas.DeadLetterReason`) and the same dead letter with the original bytes. The
bytes of an item of a batch are its exact text in the body. A record the gateway accepts goes to
its input topic unchanged, with the request time as its Kafka timestamp, so the intake decides the
same once more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from schemas import DeadLetter, DeadLetterReason, GoalEvent, PromptEvent, SurveyAnswer
from stream.ces.intake.validation import (
    Limits,
    Rejection,
    dead_letter,
    validate_answer,
    validate_goal_event,
    validate_prompt_event,
)

Record = GoalEvent | SurveyAnswer | PromptEvent
Validator = Callable[[bytes | None, float, frozenset[str], Limits], Record | Rejection]

#: Appended to the detail of a dead letter the gateway writes: the record never was on its topic, so
#: its ``source_partition`` and ``source_offset`` (0) name no record.
GATEWAY_DETAIL = " (refused by the HTTP gateway: never on the topic, so partition and offset are 0)"
_JSON_WHITESPACE = b" \t\r\n"
# A JSON string (skipped whole) or a structural character; the body is valid JSON when this runs.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)


class InputKind(StrEnum):
    """What an endpoint takes (its path after ``/v1/``)."""

    goal_events = "goal-events"
    answers = "answers"
    prompt_events = "prompt-events"


VALIDATORS: dict[InputKind, Validator] = {
    InputKind.goal_events: validate_goal_event,
    InputKind.answers: validate_answer,
    InputKind.prompt_events: validate_prompt_event,
}


@dataclass(frozen=True, slots=True)
class Item:
    """One record of a body: its position, its exact bytes, and the contract it fits or why not."""

    index: int
    raw: bytes
    result: Record | Rejection

    @property
    def record_id(self) -> str | None:
        """The id the workers de-duplicate on: ``answer_id`` of an answer, else ``event_id`` (None if rejected)."""
        result = self.result
        if isinstance(result, Rejection):
            return None
        return str(result.answer_id) if isinstance(result, SurveyAnswer) else str(result.event_id)


@dataclass(frozen=True, slots=True)
class Body:
    """The records of one body, in order; ``batch`` when it was an array."""

    items: tuple[Item, ...]
    batch: bool


@dataclass(frozen=True, slots=True)
class BodyProblem:
    """A body refused as a whole.

    :param status: the HTTP status (400: not JSON or an empty array; 413: too many items).
    :param error: a short code for the response (``not_json``, ``empty_batch``, ``too_many_items``).
    :param rejection: when the Kafka path would dead-letter the body (an array that is not JSON): why.
    """

    status: int
    error: str
    detail: str
    rejection: Rejection | None = None


def split_array(body: bytes) -> list[bytes]:
    """The exact bytes of each element of a JSON array (``body`` must be a valid JSON array)."""
    items: list[bytes] = []
    depth, start = 0, 0
    for token in _TOKENS.finditer(body):
        char = body[token.start()]
        if char in b"[{":
            depth += 1
            if depth == 1:
                start = token.end()
        elif char in b"]}":
            depth -= 1
            if depth == 0:
                last = body[start : token.start()].strip(_JSON_WHITESPACE)
                if last:
                    items.append(last)
                break
        elif char == ord(",") and depth == 1:
            items.append(body[start : token.start()].strip(_JSON_WHITESPACE))
            start = token.end()
    return items


def read_body(
    body: bytes, kind: InputKind, known_goals: frozenset[str], limits: Limits, now_s: float, max_items: int
) -> Body | BodyProblem:
    """Every record of ``body`` judged as the intake judges it, with ``now_s`` as the record time."""
    validate = VALIDATORS[kind]
    if body.lstrip(_JSON_WHITESPACE)[:1] != b"[":
        return Body((Item(0, body, validate(body, now_s, known_goals, limits)),), batch=False)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        detail = f"not JSON: {exc}"
        return BodyProblem(400, "not_json", detail, Rejection(DeadLetterReason.not_json, detail))
    if not isinstance(document, list) or not document:
        return BodyProblem(400, "empty_batch", "the array holds no record")
    if len(document) > max_items:
        return BodyProblem(413, "too_many_items", f"{len(document)} items > limit of {max_items} per request")
    raws = split_array(body)
    return Body(tuple(Item(i, raw, validate(raw, now_s, known_goals, limits)) for i, raw in enumerate(raws)), True)


def lenient_user_id(raw: bytes) -> str | None:
    """The ``user_id`` of a record that may break the contract (for the key of its dead letter), if it has one."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    user_id = document.get("user_id") if isinstance(document, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def gateway_dead_letter(
    rejection: Rejection, *, topic: str, key: bytes | None, value: bytes, now_s: float
) -> DeadLetter:
    """The dead letter of a record the gateway refused: as the intake writes it, from the input topic it would
    have gone to, with partition and offset 0 and the detail saying so."""
    return dead_letter(
        Rejection(rejection.reason, rejection.detail + GATEWAY_DETAIL),
        topic=topic,
        partition=0,
        offset=0,
        key=key,
        value=value,
        received_at_s=now_s,
    )
