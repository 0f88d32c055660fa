"""The records of the bad-input scenario: what the worker must dead-letter, one kind at a time.

Broken bytes, broken contracts, unknown goals, timestamps from the future, oversize records and answers
to prompts nobody sent, each built from a valid goal event of the simulated traffic.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection
from typing import Any

BAD_KINDS = {
    "not_json": 0.25,
    "schema_violation": 0.25,
    "unknown_goal": 0.25,
    "future_timestamp": 0.10,
    "unknown_prompt": 0.10,
    "oversize": 0.05,
}
UNKNOWN_GOALS = ("legacy-checkout", "beta-wizard", "download-invoice-v2")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def bad_value(
    rng: random.Random,
    kind: str,
    event: dict[str, Any],
    at_epoch_s: float,
    known_goals: Collection[str],
    stamp: Callable[[float], str],
) -> tuple[str, dict[str, Any] | bytes]:
    """(topic, value) of one bad record of ``kind``, made from the valid goal ``event`` (changed in place)."""
    if kind == "not_json":
        return "goal_events", rng.choice(
            (b'{"type": "completed", "goal": ', b"\x00\xff\xfebinary", b"<event>done</event>")
        )
    if kind == "schema_violation":
        broken = rng.choice(("channel", "occurred_at", "user_id", "type"))
        wrong = {"channel": "smart-tv", "type": "finished", "occurred_at": int(at_epoch_s)}
        if broken == "user_id":
            del event["user_id"]
        else:
            event[broken] = wrong[broken]
    elif kind == "unknown_goal":
        event["goal"] = rng.choice([slug for slug in UNKNOWN_GOALS if slug not in known_goals] or ["no-such-goal"])
    elif kind == "future_timestamp":
        event["occurred_at"] = stamp(at_epoch_s + 86_400)
    elif kind == "oversize":
        event["debug_dump"] = "x" * 70_000
    else:  # an answer to a prompt nobody sent
        return "answers", {
            "answer_id": _uuid(rng),
            "prompt_id": _uuid(rng),
            "user_id": event["user_id"],
            "goal": event["goal"],
            "score": 3,
            "answered_at": event["occurred_at"],
            "channel": event["channel"],
        }
    return "goal_events", event
