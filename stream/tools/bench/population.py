"""The benchmark's users, goals and events: a population like the one operators run.

Users are drawn from a population of ``users`` with a Zipf-like repeat rate: the user of
rank ``k`` is drawn with weight ``1 / k**zipf``. With a large population and a moderate
exponent most events come from users seen for the first time (no state yet), while a few
heavy users come back again and again. Goals are Zipf-weighted too (exponent 1): a few busy
goals, many quiet ones. Pure apart from the random generator it is given: no Kafka here.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

LATENCY_GOAL = "latency-probe"
# A fifth of the attempts are abandoned; half on web, the rest on the apps.
ABANDONED_SHARE = 0.2
CHANNELS = ("web", "ios", "web", "android")
GOAL_ZIPF = 1.0


@dataclass(frozen=True)
class PopulationSpec:
    """How the backlog's events are spread over users and goals."""

    users: int = 1_000_000
    zipf: float = 0.8
    goals: int = 200
    seed: int = 19


@dataclass(frozen=True)
class PlannedEvent:
    user: str
    goal: str
    event_type: str
    channel: str


def goal_slug(i: int) -> str:
    return f"goal-{i:03d}"


def _zipf_cumulative(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k**exponent) for k in range(1, n + 1)))


def plan_events(spec: PopulationSpec, count: int) -> list[PlannedEvent]:
    """``count`` goal events over the population (deterministic for a given seed)."""
    rng = random.Random(spec.seed)
    users = rng.choices(range(spec.users), cum_weights=_zipf_cumulative(spec.users, spec.zipf), k=count)
    goals = rng.choices(range(spec.goals), cum_weights=_zipf_cumulative(spec.goals, GOAL_ZIPF), k=count)
    return [
        PlannedEvent(
            user=f"u{user}",
            goal=goal_slug(goal),
            event_type="abandoned" if rng.random() < ABANDONED_SHARE else "completed",
            channel=rng.choice(CHANNELS),
        )
        for user, goal in zip(users, goals, strict=True)
    ]


@dataclass(frozen=True)
class PopulationFigures:
    """What a planned backlog looks like: the figures printed next to the throughput."""

    events: int
    distinct_users: int
    first_seen_share: float  # events from a user not seen before in the backlog (no state yet)
    busiest_goal_share: float
    goals_used: int


def describe(events: list[PlannedEvent]) -> PopulationFigures:
    seen: set[str] = set()
    first = 0
    per_goal: dict[str, int] = {}
    for event in events:
        if event.user not in seen:
            seen.add(event.user)
            first += 1
        per_goal[event.goal] = per_goal.get(event.goal, 0) + 1
    total = max(1, len(events))
    return PopulationFigures(
        events=len(events),
        distinct_users=len(seen),
        first_seen_share=first / total,
        busiest_goal_share=max(per_goal.values(), default=0) / total,
        goals_used=len(per_goal),
    )


def encode_event(event: PlannedEvent, occurred_at: datetime) -> bytes:
    """A GoalEvent as the apps send it (JSON bytes)."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": event.event_type,
            "goal": event.goal,
            "user_id": event.user,
            "occurred_at": occurred_at.isoformat(),
            "channel": event.channel,
            "locale": "en",
        }
    ).encode()


def answers_to(prompts: list[dict[str, Any]], answered_at: datetime) -> Iterator[dict[str, Any]]:
    """One answer per prompt the worker sent (scores 1..5 in turn, channels mixed), with the prompt's outcome.

    ``outcome`` is not part of the SurveyAnswer contract: it is removed before the answer goes to the
    worker (which joins it from the prompt) and kept for the peer, which has no prompts to join.
    """
    for i, prompt in enumerate(prompts):
        yield {
            "answer_id": str(uuid.uuid4()),
            "prompt_id": prompt["prompt_id"],
            "user_id": prompt["user_id"],
            "goal": prompt["goal"],
            "score": 1 + i % 5,
            "answered_at": answered_at.isoformat(),
            "channel": CHANNELS[i % len(CHANNELS)],
            "outcome": prompt.get("outcome", "completed"),
        }


def write_registry(path: Path, goals: int, sampling_rate: float) -> Path:
    """The benchmark's goal registry: ``goals`` goals at ``sampling_rate``, no cooldowns, and the latency goal."""

    def goal(slug: str, rate: float) -> dict[str, Any]:
        return {
            "slug": slug,
            "display_name": {"en": slug, "nl": slug},
            "question": {"en": "How easy was it?", "nl": "Hoe makkelijk was het?"},
            "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
            "scale": {"kind": "five_point"},
            "sampling": {"rate": rate},
            "cooldowns": {"user_goal_seconds": 0},
            "target_ces_ratio": 0.8,
        }

    document = {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 0},
        "goals": [goal(goal_slug(i), sampling_rate) for i in range(goals)] + [goal(LATENCY_GOAL, 1.0)],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
