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
better than it is.

The apps report what became of each prompt (``PromptEvent``): most are shown a second or so
after the worker sent them, the rest are never rendered; a user answers only a prompt that was
shown, and closes a share of the shown prompts they will not answer (``dismissed``). Whether and
when a prompt is shown, dismissed and answered is decided per prompt from ``seed`` and
``prompt_id`` alone, so it does not depend on the order in which prompts come back from the worker;
only an NPS score also depends on the user's CES answers planned before it (loyalty follows recent effort,
:mod:`stream.tools.simulator.loyalty`), which the worker sends earlier on the user's partition anyway.
Each prompt is answered by its kind: CES on the goal's scale, CSAT by satisfaction, NPS on 0..10.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stream.ces.registry import GoalRegistry
from stream.ces.registry.scales import Scale, Sentiment
from stream.tools.simulator.bad_input import BAD_KINDS, bad_value
from stream.tools.simulator.comments import COMMENT_SHARE, follow_up_band, language_of, render_comment
from stream.tools.simulator.loyalty import DEFAULT_WINDOW_S, EffortMemory, draw_nps
from stream.tools.simulator.records import (
    NOT_RENDERED,
    AnswerPlan,
    PromptPlan,
    SimRecord,
    answer_plan,
    epoch,
    new_uuid,
    timestamp,
    to_json,
)
from stream.tools.simulator.scores import (
    INCIDENT_EASE_DROP,
    INCIDENT_FRUSTRATION,
    healthy_delight,
    moods_for,
    response_share,
    score_weights,
)

__all__ = ["NOT_RENDERED", "AnswerPlan", "PromptPlan", "SimRecord", "timestamp"]


class Scenario(StrEnum):
    """What happens during a run (the minute M is ``incident_minute``)."""

    steady = "steady"
    incident = "incident"  # the incident goal's effort rises from minute M: its scores shift down, attempts slow
    survey_broken = "survey-broken"  # no answers are due from minute M on
    bad_input = "bad-input"  # from minute M, malformed records and unknown goals mixed into the inputs
    spike = "spike"  # from minute M, traffic multiplies by spike_factor for spike_minutes
    not_rendered = "not-rendered"  # from minute M the incident goal's prompts are no longer shown (nor answered)
    # The incident from minute M, and users who went through it go on to an NPS moment, where they score lower.
    nps_after_incident = "nps-after-incident"


GOAL_EVENT_TYPES = ("started", "completed", "abandoned")
OUTCOMES = ("completed", "abandoned", "silent")
CHANNEL_MIX = {"web": 0.55, "ios": 0.25, "android": 0.18, "other": 0.02}
LOCALE_MIX = {"nl": 0.40, "nl-NL": 0.20, "nl-BE": 0.05, "en": 0.25, "en-GB": 0.10}
APP_VERSIONS = {"web": "web-2025.01.3", "ios": "ios-5.12.0", "android": "android-5.12.1", "other": "kiosk-1.4"}
# In the incident scenarios the web app ships this release at minute M: the release the incident came with,
# so the release verdicts find it worse on web for the incident goal (the apps keep their versions).
INCIDENT_RELEASE = {"web": "web-2025.02.0"}

MAX_GOAL_DIFFICULTY = 0.15  # a goal's own difficulty: lowers its completion share and its ease
RETRY_SHARE = 0.10  # completed attempts started a second time halfway through
INCIDENT_SLOWDOWN = 2.5  # an incident makes the incident goal's attempts take this much longer
SHOWN_DELAY_SECONDS = 1.0  # median time from the prompt being sent to the app showing it
DISMISS_DELAY_SECONDS = 8.0  # median time from a prompt shown to the user closing it unanswered
PROMPT_EVENT_TYPES = ("shown", "dismissed")
# nps-after-incident: this share of the users who go through the incident goes on to complete an NPS moment's
# goal (a purchase after the failing step, say) about JOURNEY_DELAY_SECONDS after the attempt, so that the
# incident reaches the NPS moments within minutes, as it would over days in production.
JOURNEY_SHARE = 0.5
JOURNEY_DELAY_SECONDS = 120.0
INCIDENT_SCENARIOS = frozenset({"incident", "nps-after-incident"})


@dataclass(frozen=True)
class SimulationConfig:
    """The knobs of one run; every default is a plausible production mix."""

    seed: int = 1
    scenario: Scenario = Scenario.steady
    rate: float = 20.0  # goal events per second, outside a spike
    start_epoch_s: float = 1_735_689_600.0  # 2025-01-01T00:00:00Z; the driver passes the wall clock
    users: int = 50_000
    answer_share: float = 0.30  # share of the prompts shown that is answered (at completion; less at exits)
    shown_share: float = 0.95  # share of the prompts the apps show; the rest are never rendered
    dismiss_share: float = 0.40  # share of the shown prompts the user will not answer that they close
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
    survey: str = "ces"  # the goal's own question: ces or csat
    nps_moment: bool = False  # its completions may ask NPS


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
        delight = healthy_delight(goal, difficulty, shares, inferred.enabled, moods_for(goal.survey))
        weight = raw[goal.slug] / total
        profiles.append(GoalProfile(goal.slug, weight, difficulty, shares, cap, delight, goal.survey, goal.nps_moment))
    return sorted(profiles, key=lambda profile: -profile.weight)


class TrafficModel:
    """The stream of records a population of app users produces, in time order, and what their apps and they
    do with the prompts."""

    def __init__(self, registry: GoalRegistry, config: SimulationConfig) -> None:
        if config.rate <= 0:
            raise ValueError("rate must be above 0")
        for name in ("answer_share", "shown_share", "dismiss_share"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1")
        self.config = config
        self.profiles = build_profiles(registry, config)
        if not self.profiles:
            raise ValueError("the registry has no enabled goal")
        self._by_slug = {profile.slug: profile for profile in self.profiles}
        self.incident_goal = config.incident_goal or self._default_incident_goal()
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
        self._scales: dict[str, Scale] = {goal.slug: goal.scale_obj() for goal in registry.goals}
        nps = registry.nps
        self.memory = EffortMemory(nps.high_effort.window_seconds if nps is not None else DEFAULT_WINDOW_S)
        self._moments = [profile for profile in self.profiles if profile.nps_moment]
        self._journeys = random.Random(f"{config.seed}:journeys")
        self._incident_negative: float | None = None
        self._traffic = random.Random(f"{config.seed}:traffic")
        self._bad = random.Random(f"{config.seed}:bad")
        self._pending: list[tuple[float, int, SimRecord]] = []
        self._seq = 0
        # Attempts already under way at the start: their ends flow from the first second, so the rate holds.
        self._next_attempt_s = self._arrival(-self.max_attempt_s, self._attempt_rate, self._traffic)
        self._next_bad_s = self._arrival(0.0, self._bad_rate, self._bad)

    def _default_incident_goal(self) -> str:
        """The busiest goal; for nps-after-incident the busiest CES goal that is no NPS moment (if any)."""
        if self.config.scenario is Scenario.nps_after_incident:
            for profile in self.profiles:
                if profile.survey == "ces" and not profile.nps_moment:
                    return profile.slug
        return self.profiles[0].slug

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
        incident = self.incident_active(profile.slug, at_s)
        if incident:
            took_s *= INCIDENT_SLOWDOWN
            self.memory.note_incident(user.user_id, at_s)
        took_s = min(took_s, profile.max_attempt_s)
        if incident and self.config.scenario is Scenario.nps_after_incident:
            self._journey(at_s + took_s, user)
        if outcome != "silent" and at_s + took_s >= 0:
            self._push(self._goal_event(at_s + took_s, outcome, profile.slug, user, session, rng))
        if outcome == "completed" and rng.random() < RETRY_SHARE and at_s + took_s / 2 >= 0:
            self._push(self._goal_event(at_s + took_s / 2, "started", profile.slug, user, session, rng))
        return self._goal_event(at_s, "started", profile.slug, user, session, rng) if at_s >= 0 else None

    def _journey(self, after_s: float, user: User) -> None:
        """nps-after-incident: the user goes on to complete an NPS moment's goal (at ``JOURNEY_SHARE``)."""
        rng = self._journeys  # its own draws: the rest of the traffic is the incident scenario's
        if not self._moments or rng.random() >= JOURNEY_SHARE:
            return
        moment = rng.choices(self._moments, weights=[profile.weight for profile in self._moments])[0]
        start_s = after_s + rng.lognormvariate(math.log(JOURNEY_DELAY_SECONDS), 0.5)
        took_s = min(rng.lognormvariate(math.log(self.config.attempt_seconds), 0.9), moment.max_attempt_s)
        session = f"s-{rng.getrandbits(48):012x}"
        self._push(self._goal_event(start_s, "started", moment.slug, user, session, rng))
        self._push(self._goal_event(start_s + took_s, "completed", moment.slug, user, session, rng))

    def _push(self, record: SimRecord) -> None:
        heapq.heappush(self._pending, (record.at_s, self._seq, record))
        self._seq += 1

    def _event_dict(self, at_s: float, event_type: str, goal: str, user: User, rng: random.Random) -> dict[str, Any]:
        return {
            "event_id": new_uuid(rng),
            "type": event_type,
            "goal": goal,
            "user_id": user.user_id,
            "occurred_at": timestamp(self.config.start_epoch_s + at_s),
            "channel": user.channel,
            "locale": user.locale,
            "app_version": self.app_version(user.channel, at_s),
        }

    def app_version(self, channel: str, at_s: float) -> str:
        """The version a user's app names: in the incident scenarios, web's release of the incident from minute M."""
        if self.config.scenario.value in INCIDENT_SCENARIOS and at_s >= self._minute_s:
            return INCIDENT_RELEASE.get(channel, APP_VERSIONS[channel])
        return APP_VERSIONS[channel]

    def _goal_event(
        self, at_s: float, event_type: str, goal: str, user: User, session: str, rng: random.Random
    ) -> SimRecord:
        value = {**self._event_dict(at_s, event_type, goal, user, rng), "session_id": session}
        return SimRecord(at_s, "goal_events", user.user_id.encode(), to_json(value), event_type, goal)

    def _bad_record(self, at_s: float) -> SimRecord:
        """One record the worker must dead-letter: broken bytes, a broken contract, an unknown goal ..."""
        rng = self._bad
        kind = rng.choices(list(BAD_KINDS), weights=list(BAD_KINDS.values()))[0]
        user = self.users[rng.randrange(len(self.users))]
        event = self._event_dict(at_s, rng.choice(GOAL_EVENT_TYPES), self.profiles[0].slug, user, rng)
        topic, value = bad_value(rng, kind, event, self.config.start_epoch_s + at_s, self._by_slug, timestamp)
        return SimRecord(
            at_s, topic, user.user_id.encode(), value if isinstance(value, bytes) else to_json(value), kind
        )

    # -- prompts: shown, dismissed, answered -------------------------------------------------

    def knows_user(self, user_id: str) -> bool:
        """Whether a prompt is addressed to one of the simulated users (others are not ours to answer)."""
        return user_id in self._user_by_id

    def incident_active(self, goal: str, at_s: float) -> bool:
        """Whether the incident scenario makes this goal harder at this moment."""
        scenario = self.config.scenario.value
        return scenario in INCIDENT_SCENARIOS and goal == self.incident_goal and at_s >= self._minute_s

    def score_probabilities(
        self, goal: str, outcome: str, at_s: float, scale: Mapping[str, Any], survey: str = "ces"
    ) -> dict[int, float]:
        """The modelled probability of each point of ``scale`` for one CES or CSAT prompt (outcome as in the
        prompt): ease or satisfaction bunch up the same way (:func:`~stream.tools.simulator.scores.moods_for`)."""
        incident = self.incident_active(goal, at_s)
        key = (goal, outcome, incident, scale["min_score"], scale["max_score"], scale["inverted"], survey)
        if key not in self._score_cache:
            ease, frustration = moods_for(survey)[outcome]
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

    def incident_negative_share(self) -> float:
        """The share of negative (high-effort) answers at the incident goal's completions during the incident."""
        if self._incident_negative is None:
            goal, scale = self.incident_goal, self._scales[self.incident_goal]
            spec = {"min_score": scale.min_score, "max_score": scale.max_score, "inverted": scale.inverted}
            survey = self._by_slug[goal].survey
            weights = self.score_probabilities(goal, "completed", max(self._minute_s, 0.0), spec, survey)
            negative = (w for point, w in weights.items() if scale.classify(point) is Sentiment.negative)
            self._incident_negative = sum(negative)
        return self._incident_negative

    def not_rendering(self, goal: str, at_s: float) -> bool:
        """Whether the not-rendered scenario keeps this goal's prompts off the screen at this moment."""
        return self.config.scenario is Scenario.not_rendered and goal == self.incident_goal and at_s >= self._minute_s

    def shown_share(self, goal: str, at_s: float) -> float:
        """The share of a goal's prompts sent at a moment that its app shows."""
        return 0.0 if self.not_rendering(goal, at_s) else self.config.shown_share

    def plan_prompt(self, prompt: Mapping[str, Any]) -> PromptPlan | None:
        """Decide what the app and the user do with a prompt read from the prompts topic, and when.

        None for a prompt to someone outside the population or about a goal the model does not know.
        A prompt not shown is neither answered nor dismissed; a shown one is answered (``answer_share``,
        less at exits) some time after it was shown, or else dismissed at ``dismiss_share``. An answer the
        broken survey loses is not dismissed either: the user meant to answer.
        """
        user = self._user_by_id.get(prompt["user_id"])
        if user is None or prompt["goal"] not in self._by_slug:
            return None
        display = random.Random(f"{self.config.seed}:display:{prompt['prompt_id']}")
        created_epoch_s = epoch(prompt["created_at"])
        expires_in_s = epoch(prompt["expires_at"]) - created_epoch_s
        created_s = created_epoch_s - self.config.start_epoch_s
        if display.random() >= self.shown_share(prompt["goal"], created_s):
            return NOT_RENDERED
        # Each delay is drawn whatever comes of the prompt, so one decision never shifts another's draws.
        shown_delay_s = min(display.lognormvariate(math.log(SHOWN_DELAY_SECONDS), 0.5), 0.1 * expires_in_s)
        dismisses = display.random() < self.config.dismiss_share
        dismiss_delay_s = min(display.lognormvariate(math.log(DISMISS_DELAY_SECONDS), 0.8), 0.8 * expires_in_s)
        shown_s = created_s + shown_delay_s
        shown = self._prompt_event(shown_s, "shown", prompt, user, display)
        answers, answer = self._plan_answer(prompt, user, created_s, shown_s, expires_in_s)
        dismissed = None
        if not answers and dismisses:
            dismissed = self._prompt_event(shown_s + dismiss_delay_s, "dismissed", prompt, user, display)
        return PromptPlan(shown, dismissed, answer)

    def plan_answer(self, prompt: Mapping[str, Any]) -> AnswerPlan | None:
        """How and when the user answers a prompt (:meth:`plan_prompt`); None when they do not, or cannot."""
        plan = self.plan_prompt(prompt)
        return None if plan is None else plan.answer

    def _prompt_event(
        self, at_s: float, event_type: str, prompt: Mapping[str, Any], user: User, rng: random.Random
    ) -> SimRecord:
        event = {
            "event_id": new_uuid(rng),
            "type": event_type,
            "prompt_id": prompt["prompt_id"],
            "user_id": user.user_id,
            "goal": prompt["goal"],
            "occurred_at": timestamp(self.config.start_epoch_s + at_s),
            "channel": user.channel,
        }
        return SimRecord(at_s, "prompt_events", user.user_id.encode(), to_json(event), event_type, prompt["goal"])

    def _plan_answer(
        self, prompt: Mapping[str, Any], user: User, created_s: float, shown_s: float, expires_in_s: float
    ) -> tuple[bool, AnswerPlan | None]:
        """(whether the user answers the prompt shown at ``shown_s``, the answer unless the broken survey lost it)."""
        rng = random.Random(f"{self.config.seed}:answer:{prompt['prompt_id']}")
        if rng.random() >= response_share(self.config.answer_share, prompt["outcome"]):
            return False, None
        delay_s = min(rng.lognormvariate(math.log(self.config.answer_delay_seconds), 1.0), 0.8 * expires_in_s)
        due_s = shown_s + delay_s
        if self.config.scenario is Scenario.survey_broken and due_s >= self._minute_s:
            return True, None
        score = self._draw_score(rng, prompt, created_s, due_s)
        band = follow_up_band(score, prompt)
        comment = None
        if band is not None and rng.random() < COMMENT_SHARE[band]:
            comment = render_comment(rng, language_of(prompt["locale"]), band, str(prompt.get("survey", "ces")))
        latest_s = created_s + 0.95 * expires_in_s
        return True, answer_plan(rng, prompt, user.channel, due_s, score, comment, self.config.start_epoch_s, latest_s)

    def _draw_score(self, rng: random.Random, prompt: Mapping[str, Any], created_s: float, due_s: float) -> int:
        """The user's score: NPS by the user's recent effort, CES and CSAT by the goal (a CES answer is
        remembered as the user's effort)."""
        survey, user_id = str(prompt.get("survey", "ces")), prompt["user_id"]
        if survey == "nps":
            return draw_nps(rng, self.memory.group(user_id, due_s), self.incident_negative_share())
        weights = self.score_probabilities(prompt["goal"], prompt["outcome"], created_s, prompt["scale"], survey)
        score = rng.choices(list(weights), weights=list(weights.values()))[0]
        if survey == "ces":
            scale = self._scales[prompt["goal"]]
            negative = scale.contains(score) and scale.classify(score) is Sentiment.negative
            self.memory.note_answer(user_id, due_s, negative)
        return score
