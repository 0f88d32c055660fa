"""The simulator's model of app traffic: who tries which goal, how it ends, how users answer.

Pure and deterministic: no Kafka, no I/O, no wall clock. Time is model seconds since the
start of a run; ``start_epoch_s`` only turns it into timestamps. The same registry, config
and seed give the same records byte for byte, so a test can draw 100 000 goal events and
hold what came out against the parameters that went in (``simulate.py`` drives it on Kafka).

An attempt is a ``started`` event, then ``completed``, ``abandoned`` or nothing ("silent":
the user just left, which the worker's inferred abandonment turns into an exit). A share of
completed attempts is started a second time halfway (a retry: measured effort counts it),
and in an incident the incident goal's attempts take longer as well as being rated harder. Exits are
markedly harder than completions, because a survey that only asks the golden path looks
better than it is. Answers are decided per prompt from ``seed`` and ``prompt_id`` alone, so
they do not depend on the order in which prompts come back from the worker.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stream.ces.registry import GoalRegistry
from stream.tools.simulator.comments import COMMENT_SHARE, language_of, render_comment


class Scenario(StrEnum):
    """What happens during a run (the minute M is ``incident_minute``)."""

    steady = "steady"
    incident = "incident"  # the incident goal's effort rises from minute M: its scores shift down, attempts slow
    survey_broken = "survey-broken"  # no answers are due from minute M on
    bad_input = "bad-input"  # from minute M, malformed records and unknown goals mixed into the inputs
    spike = "spike"  # from minute M, traffic multiplies by spike_factor for spike_minutes


GOAL_EVENT_TYPES = ("started", "completed", "abandoned")
OUTCOMES = ("completed", "abandoned", "silent")
CHANNEL_MIX = {"web": 0.55, "ios": 0.25, "android": 0.18, "other": 0.02}
LOCALE_MIX = {"nl": 0.40, "nl-NL": 0.20, "nl-BE": 0.05, "en": 0.25, "en-GB": 0.10}
APP_VERSIONS = {"web": "web-2025.01.3", "ios": "ios-5.12.0", "android": "android-5.12.1", "other": "kiosk-1.4"}

# (ease, frustration) per prompt outcome. Ease 0..1 is where the scores bunch up (1 = very easy);
# frustration is the extra share on the "very difficult" point. Exits are much harder.
EASE = {"completed": (0.92, 0.04), "abandoned": (0.35, 0.22), "abandoned_inferred": (0.42, 0.16)}
EASE_WIDTH = 0.25
MAX_GOAL_DIFFICULTY = 0.15  # a goal's own difficulty: lowers its completion share and its ease
INCIDENT_EASE_DROP, INCIDENT_FRUSTRATION = 0.30, 0.15
HEALTHY_MARGIN = 0.06  # a goal with a target runs this far above it until an incident hits it
EXIT_RESPONSE = 1 / 3  # users who left a goal answer its prompt a third as often as those who completed it
RETRY_SHARE = 0.10  # completed attempts started a second time halfway through
INCIDENT_SLOWDOWN = 2.5  # an incident makes the incident goal's attempts take this much longer

BAD_KINDS = {
    "not_json": 0.25,
    "schema_violation": 0.25,
    "unknown_goal": 0.25,
    "future_timestamp": 0.10,
    "unknown_prompt": 0.10,
    "oversize": 0.05,
}
UNKNOWN_GOALS = ("legacy-checkout", "beta-wizard", "download-invoice-v2")


@dataclass(frozen=True)
class SimulationConfig:
    """The knobs of one run; every default is a plausible production mix."""

    seed: int = 1
    scenario: Scenario = Scenario.steady
    rate: float = 20.0  # goal events per second, outside a spike
    start_epoch_s: float = 1_735_689_600.0  # 2025-01-01T00:00:00Z; the driver passes the wall clock
    users: int = 50_000
    answer_share: float = 0.30  # share of prompts answered
    attempt_seconds: float = 40.0  # median time from started to completed/abandoned
    answer_delay_seconds: float = 20.0  # median time from prompt to answer
    incident_goal: str | None = None  # None: the busiest goal
    incident_minute: float = 1.0
    spike_factor: float = 4.0
    spike_minutes: float = 2.0
    bad_share: float = 0.5  # bad records per goal event during the bad-input storm


@dataclass(frozen=True)
class User:
    user_id: str
    channel: str
    locale: str


@dataclass(frozen=True)
class GoalProfile:
    """How one goal behaves: its share of the traffic, how attempts end and how hard it is."""

    slug: str
    weight: float  # share of all attempts
    difficulty: float  # 0..MAX_GOAL_DIFFICULTY
    outcome_shares: Mapping[str, float]  # completed, abandoned, silent
    max_attempt_s: float  # ends come before the worker's inferred-abandonment timeout
    delight: float = 0.0  # share of completions' answers on the easiest point: CES just above the target


@dataclass(frozen=True)
class SimRecord:
    """One record to produce: ``topic`` is ``goal_events`` or ``answers``; ``kind`` a type or bad kind."""

    at_s: float
    topic: str
    key: bytes
    value: bytes
    kind: str
    goal: str | None = None


@dataclass(frozen=True)
class AnswerPlan:
    """How (and when) one user answers one prompt."""

    due_s: float
    score: int
    comment: str | None
    record: SimRecord


def timestamp(epoch_s: float) -> str:
    """RFC 3339 in UTC with milliseconds, as the apps write it."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def point_ease(score: int, scale: Mapping[str, Any]) -> float:
    """Where a score lies from 0 (very difficult) to 1 (very easy), on any scale kind."""
    position = (score - scale["min_score"]) / (scale["max_score"] - scale["min_score"])
    return 1.0 - position if scale["inverted"] else position


def score_weights(scale: Mapping[str, Any], ease: float, frustration: float) -> dict[int, float]:
    """Probability per point: a bump around ``ease`` plus ``frustration`` on the very difficult point."""
    ease = min(max(ease, 0.05), 0.95)
    points = range(scale["min_score"], scale["max_score"] + 1)
    bumps = {p: math.exp(-(((point_ease(p, scale) - ease) / EASE_WIDTH) ** 2) / 2) for p in points}
    total = sum(bumps.values())
    hardest = scale["max_score"] if scale["inverted"] else scale["min_score"]
    return {p: (1 - frustration) * bump / total + (frustration if p == hardest else 0.0) for p, bump in bumps.items()}


def comment_sentiment(score: int, scale: Mapping[str, Any]) -> str:
    """negative, neutral or positive by the score's place on the scale (which comment fits)."""
    ease = point_ease(score, scale)
    return "negative" if ease < 0.5 else "neutral" if ease == 0.5 else "positive"


def build_population(config: SimulationConfig) -> list[User]:
    """The simulated users, each with a fixed channel and locale drawn from the mixes."""
    rng = random.Random(f"{config.seed}:users")
    channels = rng.choices(list(CHANNEL_MIX), weights=list(CHANNEL_MIX.values()), k=config.users)
    locales = rng.choices(list(LOCALE_MIX), weights=list(LOCALE_MIX.values()), k=config.users)
    return [User(f"sim-{config.seed}-{i:06d}", channels[i], locales[i]) for i in range(config.users)]


def build_profiles(registry: GoalRegistry, config: SimulationConfig) -> list[GoalProfile]:
    """One profile per enabled goal, busiest first: a Zipf-like share of the traffic per goal."""
    rng = random.Random(f"{config.seed}:goals")
    goals = [goal for goal in registry.goals if goal.enabled]
    ranked = goals[:]
    rng.shuffle(ranked)
    raw = {goal.slug: 1.0 / (rank + 1) ** 1.2 for rank, goal in enumerate(ranked)}
    total = sum(raw.values())
    profiles = []
    for goal in goals:
        difficulty = rng.uniform(0.0, MAX_GOAL_DIFFICULTY)
        completed = 0.80 - 1.5 * difficulty
        shares = {"completed": completed, "abandoned": 0.6 * (1 - completed), "silent": 0.4 * (1 - completed)}
        cap = 10 * config.attempt_seconds
        inferred = goal.triggers.inferred_abandonment
        if inferred.enabled:
            cap = min(cap, 0.8 * inferred.timeout_seconds)
        delight = _healthy_delight(goal, difficulty, shares, inferred.enabled)
        profiles.append(GoalProfile(goal.slug, raw[goal.slug] / total, difficulty, shares, cap, delight))
    return sorted(profiles, key=lambda profile: -profile.weight)


def response_share(answer_share: float, outcome: str) -> float:
    """The share of prompts answered: ``answer_share`` at completion, less at exits."""
    return answer_share if outcome == "completed" else answer_share * EXIT_RESPONSE


def _healthy_delight(goal: Any, difficulty: float, shares: Mapping[str, float], inferred: bool) -> float:
    """The share of completions' answers on the easiest point that puts the goal's expected CES over all
    outcomes ``HEALTHY_MARGIN`` above its target; exits stay as hard as they are. At most 0.95."""
    if goal.target_ces_ratio is None:
        return 0.0
    scale_obj = goal.scale_obj()
    scale = {"min_score": scale_obj.min_score, "max_score": scale_obj.max_score, "inverted": scale_obj.inverted}
    answered = {
        "completed": shares["completed"],
        "abandoned": shares["abandoned"] * EXIT_RESPONSE,
        "abandoned_inferred": shares["silent"] * EXIT_RESPONSE if inferred else 0.0,
    }
    total = sum(answered.values())
    plain = {
        outcome: sum(
            weight
            for point, weight in score_weights(scale, EASE[outcome][0] - difficulty, EASE[outcome][1]).items()
            if point in scale_obj.positive
        )
        for outcome in answered
    }
    blended = sum(answered[o] / total * plain[o] for o in answered)
    completed = answered["completed"] / total
    wanted = min(0.95, goal.target_ces_ratio + HEALTHY_MARGIN)
    # With delight d at completion: CES = blended + completed * d * (1 - plain completed).
    return min(0.95, max(0.0, (wanted - blended) / (completed * (1.0 - plain["completed"]))))


class TrafficModel:
    """The stream of records a population of app users produces, in time order, and their answers."""

    def __init__(self, registry: GoalRegistry, config: SimulationConfig) -> None:
        if config.rate <= 0:
            raise ValueError("rate must be above 0")
        self.config = config
        self.profiles = build_profiles(registry, config)
        if not self.profiles:
            raise ValueError("the registry has no enabled goal")
        self._by_slug = {profile.slug: profile for profile in self.profiles}
        self.incident_goal = config.incident_goal or self.profiles[0].slug
        if self.incident_goal not in self._by_slug:
            raise ValueError(f"incident goal {self.incident_goal!r} is not an enabled goal of the registry")
        self.users = build_population(config)
        self._user_by_id = {user.user_id: user for user in self.users}
        self._cum_weights = list(itertools.accumulate(p.weight for p in self.profiles))
        self._events_per_attempt = sum(
            p.weight * (2 - p.outcome_shares["silent"] + RETRY_SHARE * p.outcome_shares["completed"])
            for p in self.profiles
        )
        self.max_attempt_s = max(profile.max_attempt_s for profile in self.profiles)
        self._minute_s = 60.0 * config.incident_minute
        self._spike_end_s = self._minute_s + 60.0 * config.spike_minutes
        self._score_cache: dict[tuple[Any, ...], dict[int, float]] = {}
        self._traffic = random.Random(f"{config.seed}:traffic")
        self._bad = random.Random(f"{config.seed}:bad")
        self._pending: list[tuple[float, int, SimRecord]] = []
        self._seq = 0
        # Attempts already under way at the start: their ends flow from the first second, so the rate holds.
        self._next_attempt_s = self._arrival(-self.max_attempt_s, self._attempt_rate, self._traffic)
        self._next_bad_s = self._arrival(0.0, self._bad_rate, self._bad)

    # -- the goal-event stream -------------------------------------------------------------

    def rate_at(self, at_s: float) -> float:
        """Expected goal events per second at a moment (the spike multiplies it)."""
        spiking = self.config.scenario is Scenario.spike and self._minute_s <= at_s < self._spike_end_s
        return self.config.rate * (self.config.spike_factor if spiking else 1.0)

    def next_record(self) -> SimRecord:
        """The next goal event or bad record, in model time order (ties: ends before new starts)."""
        while True:
            pending_s = self._pending[0][0] if self._pending else math.inf
            soonest = min(pending_s, self._next_attempt_s, self._next_bad_s)
            if soonest == pending_s:
                return heapq.heappop(self._pending)[2]
            if soonest == self._next_bad_s:
                self._next_bad_s = self._arrival(soonest, self._bad_rate, self._bad)
                return self._bad_record(soonest)
            started = self._start_attempt(soonest)
            self._next_attempt_s = self._arrival(soonest, self._attempt_rate, self._traffic)
            if started is not None:  # None: an attempt under way before the start (only its end is sent)
                return started

    def _attempt_rate(self, at_s: float) -> float:
        return self.rate_at(at_s) / self._events_per_attempt

    def _bad_rate(self, at_s: float) -> float:
        storming = self.config.scenario is Scenario.bad_input and at_s >= self._minute_s
        return self.rate_at(at_s) * self.config.bad_share if storming else 0.0

    def _arrival(self, after_s: float, rate_at: Callable[[float], float], rng: random.Random) -> float:
        """Next arrival of a Poisson process whose rate changes only at the scenario's boundaries."""
        at_s = after_s
        while True:
            boundary = min((b for b in (self._minute_s, self._spike_end_s) if b > at_s), default=math.inf)
            rate = rate_at(at_s)
            candidate = at_s + rng.expovariate(rate) if rate > 0 else math.inf
            if candidate <= boundary:
                return candidate
            at_s = boundary  # memoryless: start again at the boundary with the new rate

    def _start_attempt(self, at_s: float) -> SimRecord | None:
        rng = self._traffic
        profile = rng.choices(self.profiles, cum_weights=self._cum_weights)[0]
        user = self.users[rng.randrange(len(self.users))]
        outcome = rng.choices(OUTCOMES, weights=[profile.outcome_shares[o] for o in OUTCOMES])[0]
        session = f"s-{rng.getrandbits(48):012x}"
        took_s = rng.lognormvariate(math.log(self.config.attempt_seconds), 0.9)
        if self.incident_active(profile.slug, at_s):
            took_s *= INCIDENT_SLOWDOWN
        took_s = min(took_s, profile.max_attempt_s)
        if outcome != "silent" and at_s + took_s >= 0:
            self._push(self._goal_event(at_s + took_s, outcome, profile.slug, user, session, rng))
        if outcome == "completed" and rng.random() < RETRY_SHARE and at_s + took_s / 2 >= 0:
            self._push(self._goal_event(at_s + took_s / 2, "started", profile.slug, user, session, rng))
        return self._goal_event(at_s, "started", profile.slug, user, session, rng) if at_s >= 0 else None

    def _push(self, record: SimRecord) -> None:
        heapq.heappush(self._pending, (record.at_s, self._seq, record))
        self._seq += 1

    def _event_dict(self, at_s: float, event_type: str, goal: str, user: User, rng: random.Random) -> dict[str, Any]:
        return {
            "event_id": _uuid(rng),
            "type": event_type,
            "goal": goal,
            "user_id": user.user_id,
            "occurred_at": timestamp(self.config.start_epoch_s + at_s),
            "channel": user.channel,
            "locale": user.locale,
            "app_version": APP_VERSIONS[user.channel],
        }

    def _goal_event(
        self, at_s: float, event_type: str, goal: str, user: User, session: str, rng: random.Random
    ) -> SimRecord:
        value = {**self._event_dict(at_s, event_type, goal, user, rng), "session_id": session}
        return SimRecord(at_s, "goal_events", user.user_id.encode(), _json(value), event_type, goal)

    def _bad_record(self, at_s: float) -> SimRecord:
        """One record the worker must dead-letter: broken bytes, a broken contract, an unknown goal ..."""
        rng = self._bad
        kind = rng.choices(list(BAD_KINDS), weights=list(BAD_KINDS.values()))[0]
        user = self.users[rng.randrange(len(self.users))]
        event = self._event_dict(at_s, rng.choice(GOAL_EVENT_TYPES), self.profiles[0].slug, user, rng)
        topic, value = "goal_events", None
        if kind == "not_json":
            value = rng.choice((b'{"type": "completed", "goal": ', b"\x00\xff\xfebinary", b"<event>done</event>"))
        elif kind == "schema_violation":
            broken = rng.choice(("channel", "occurred_at", "user_id", "type"))
            wrong = {"channel": "smart-tv", "type": "finished", "occurred_at": int(self.config.start_epoch_s + at_s)}
            if broken == "user_id":
                del event["user_id"]
            else:
                event[broken] = wrong[broken]
        elif kind == "unknown_goal":
            event["goal"] = rng.choice(
                [slug for slug in UNKNOWN_GOALS if slug not in self._by_slug] or ["no-such-goal"]
            )
        elif kind == "future_timestamp":
            event["occurred_at"] = timestamp(self.config.start_epoch_s + at_s + 86_400)
        elif kind == "oversize":
            event["debug_dump"] = "x" * 70_000
        else:  # an answer to a prompt nobody sent
            topic = "answers"
            event = {
                "answer_id": _uuid(rng),
                "prompt_id": _uuid(rng),
                "user_id": user.user_id,
                "goal": self.profiles[0].slug,
                "score": 3,
                "answered_at": event["occurred_at"],
                "channel": user.channel,
            }
        return SimRecord(at_s, topic, user.user_id.encode(), value if value is not None else _json(event), kind)

    # -- answers -----------------------------------------------------------------------------

    def knows_user(self, user_id: str) -> bool:
        """Whether a prompt is addressed to one of the simulated users (others are not ours to answer)."""
        return user_id in self._user_by_id

    def incident_active(self, goal: str, at_s: float) -> bool:
        """Whether the incident scenario makes this goal harder at this moment."""
        return self.config.scenario is Scenario.incident and goal == self.incident_goal and at_s >= self._minute_s

    def score_probabilities(self, goal: str, outcome: str, at_s: float, scale: Mapping[str, Any]) -> dict[int, float]:
        """The modelled probability of each point of ``scale`` for one prompt (outcome as in the prompt)."""
        incident = self.incident_active(goal, at_s)
        key = (goal, outcome, incident, scale["min_score"], scale["max_score"], scale["inverted"])
        if key not in self._score_cache:
            ease, frustration = EASE[outcome]
            profile = self._by_slug[goal]
            ease -= profile.difficulty
            delight = 0.0 if incident or outcome != "completed" else profile.delight
            if incident:
                ease, frustration = ease - INCIDENT_EASE_DROP, frustration + INCIDENT_FRUSTRATION
            weights = score_weights(scale, ease, frustration)
            easiest = scale["min_score"] if scale["inverted"] else scale["max_score"]
            self._score_cache[key] = {
                point: (1 - delight) * weight + (delight if point == easiest else 0.0)
                for point, weight in weights.items()
            }
        return self._score_cache[key]

    def plan_answer(self, prompt: Mapping[str, Any]) -> AnswerPlan | None:
        """Decide whether, when and how the user answers a prompt read from the prompts topic.

        None for a prompt to someone outside the population or about a goal the model does
        not know, for a user who does not answer, and for an answer the broken survey loses.
        """
        user = self._user_by_id.get(prompt["user_id"])
        if user is None or prompt["goal"] not in self._by_slug:
            return None
        rng = random.Random(f"{self.config.seed}:answer:{prompt['prompt_id']}")
        if rng.random() >= response_share(self.config.answer_share, prompt["outcome"]):
            return None
        created_epoch_s = _epoch(prompt["created_at"])
        expires_in_s = _epoch(prompt["expires_at"]) - created_epoch_s
        delay_s = min(rng.lognormvariate(math.log(self.config.answer_delay_seconds), 1.0), 0.8 * expires_in_s)
        created_s = created_epoch_s - self.config.start_epoch_s
        due_s = created_s + delay_s
        if self.config.scenario is Scenario.survey_broken and due_s >= self._minute_s:
            return None
        scale = prompt["scale"]
        weights = self.score_probabilities(prompt["goal"], prompt["outcome"], created_s, scale)
        score = rng.choices(list(weights), weights=list(weights.values()))[0]
        sentiment = comment_sentiment(score, scale)
        comment = None
        if rng.random() < COMMENT_SHARE[sentiment]:
            comment = render_comment(rng, language_of(prompt["locale"]), sentiment)
        answer = {
            "answer_id": _uuid(rng),
            "prompt_id": prompt["prompt_id"],
            "user_id": user.user_id,
            "goal": prompt["goal"],
            "score": score,
            "answered_at": timestamp(self.config.start_epoch_s + due_s),
            "channel": user.channel,
        }
        if comment is not None:
            answer["comment"] = comment
        record = SimRecord(due_s, "answers", user.user_id.encode(), _json(answer), "answer", prompt["goal"])
        return AnswerPlan(due_s, score, comment, record)
