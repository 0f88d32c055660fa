"""The records the simulator sends and the plans it makes for a prompt, with the answer records.

An answer is one record with the score (``schema_version`` 2, naming the prompt's ``survey``), its comment
inline or, for a share of the comments (:data:`~stream.tools.simulator.comments.COMMENT_AFTER_SHARE`),
a second record some seconds later with the comment and no score, as an app that asks the follow-up
question on a screen of its own sends it.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stream.tools.simulator.comments import COMMENT_AFTER_SECONDS, COMMENT_AFTER_SHARE


@dataclass(frozen=True)
class SimRecord:
    """One record to produce: ``topic`` is ``goal_events``, ``answers`` or ``prompt_events``; ``kind`` a type
    (of goal event or prompt event), ``answer``, ``comment`` (a comment sent after its score) or a bad kind."""

    at_s: float
    topic: str
    key: bytes
    value: bytes
    kind: str
    goal: str | None = None


@dataclass(frozen=True)
class AnswerPlan:
    """How (and when) one user answers one prompt; ``comment_record`` when the comment follows the score."""

    due_s: float
    score: int
    comment: str | None
    record: SimRecord
    survey: str = "ces"
    comment_record: SimRecord | None = None


@dataclass(frozen=True)
class PromptPlan:
    """What the app and its user do with one prompt: the app shows it (``shown``) or never renders it (all
    ``None``); then the user answers it, closes it (``dismissed``), or leaves it be."""

    shown: SimRecord | None
    dismissed: SimRecord | None
    answer: AnswerPlan | None

    def records(self) -> list[SimRecord]:
        """Its records to send, in the order they fall due."""
        answer = self.answer
        found = [self.shown, self.dismissed]
        if answer is not None:
            found += [answer.record, answer.comment_record]
        return sorted((record for record in found if record is not None), key=lambda record: record.at_s)


NOT_RENDERED = PromptPlan(None, None, None)


def timestamp(epoch_s: float) -> str:
    """RFC 3339 in UTC with milliseconds, as the apps write it."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def to_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def answer_plan(
    rng: random.Random,
    prompt: Mapping[str, Any],
    channel: str,
    due_s: float,
    score: int,
    comment: str | None,
    start_epoch_s: float,
    latest_s: float,
) -> AnswerPlan:
    """The answer records of a score (and comment) due at ``due_s``; a comment sent on its own comes before
    ``latest_s``, model seconds, so also before the prompt expires."""
    survey = str(prompt.get("survey", "ces"))
    key, goal = prompt["user_id"].encode(), prompt["goal"]
    answer = {
        "schema_version": 2,
        "answer_id": new_uuid(rng),
        "prompt_id": prompt["prompt_id"],
        "user_id": prompt["user_id"],
        "goal": goal,
        "score": score,
        "answered_at": timestamp(start_epoch_s + due_s),
        "channel": channel,
        "survey": survey,
    }
    comment_record = None
    if comment is not None and rng.random() < COMMENT_AFTER_SHARE:
        after_s = min(rng.lognormvariate(math.log(COMMENT_AFTER_SECONDS), 0.6), max(latest_s - due_s, 0.001))
        later = {**answer, "answer_id": new_uuid(rng), "answered_at": timestamp(start_epoch_s + due_s + after_s)}
        del later["score"]
        later["comment"] = comment
        comment_record = SimRecord(due_s + after_s, "answers", key, to_json(later), "comment", goal)
    elif comment is not None:
        answer["comment"] = comment
    record = SimRecord(due_s, "answers", key, to_json(answer), "answer", goal)
    return AnswerPlan(due_s, score, comment, record, survey, comment_record)
