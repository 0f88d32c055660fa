"""How simulated users answer the NPS question (0..10): loyalty that follows recent effort.

ces-stream splits NPS by effort (users with a recent high-effort CES answer against the rest,
``ces_goal_nps_high_effort_gap``) to test the claim that effort drives loyalty. The simulator
makes the claim true, so the split has something to find: a user who recently had a hard time is
much more likely to be a detractor. "Recently" is the registry's ``nps.high_effort.window_seconds``
(30 days), which in a run of minutes means anything earlier in the run.

A user's recent effort is one of three groups, decided when the NPS answer falls due:

- ``high_effort``: the user gave a negative CES answer (planned by the simulator, due before the NPS
  answer, within the window): what the worker sees as the high-effort group too.
- ``incident``: the user went through a CES incident (an attempt at the incident goal while it was
  hard) and gave no CES answer since: their effort was high with the incident's share of negative
  answers, though the worker cannot see it (they fall in its "rest" group).
- ``rest``: everyone else.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping

# The NPS bands' shares per group. Steady traffic gives NPS about +26 (REST); with about one NPS answer in
# ten after a recent high-effort answer the blend is ~45 % promoters, 30 % passives, 25 % detractors (NPS +19),
# a typical figure for a digital service. High effort turns users into detractors: in "The Effortless
# Experience" (Dixon, Toman, DeLisi 2013) 96 % of customers after a high-effort interaction were more disloyal,
# against 9 % after a low-effort one; here the detractor share nearly triples and promoters fall to a quarter.
NPS_MIX = {
    "rest": {"negative": 0.22, "neutral": 0.30, "positive": 0.48},
    "high_effort": {"negative": 0.60, "neutral": 0.28, "positive": 0.12},
}
HIGH_EFFORT_BLEND = 0.10  # the share of NPS answers after a recent high-effort answer that gives the blend above
# Within a band: detractors bunch at 5 and 6 with a second peak at 0 (the angry ones), passives lean to 8,
# promoters to 10 (the usual shape of NPS answers).
BAND_POINTS = {
    "negative": {0: 0.10, 1: 0.04, 2: 0.05, 3: 0.08, 4: 0.10, 5: 0.28, 6: 0.35},
    "neutral": {7: 0.45, 8: 0.55},
    "positive": {9: 0.45, 10: 0.55},
}
MEMORY_PER_USER = 16  # CES answers remembered per user (the newest); a run never gets near it
DEFAULT_WINDOW_S = 30 * 86400.0


def band_of(score: int) -> str:
    """The NPS band of a score: negative (detractor, 0-6), neutral (passive, 7-8), positive (promoter, 9-10)."""
    return "negative" if score <= 6 else "neutral" if score <= 8 else "positive"


def nps_weights(mix: Mapping[str, float]) -> dict[int, float]:
    """Probability per point 0..10 for a mix of bands."""
    return {point: mix[band] * share for band, points in BAND_POINTS.items() for point, share in points.items()}


def blend(high_effort_share: float) -> dict[str, float]:
    """The band shares when ``high_effort_share`` of the users had a recent high-effort answer."""
    rest, high = NPS_MIX["rest"], NPS_MIX["high_effort"]
    return {band: (1 - high_effort_share) * rest[band] + high_effort_share * high[band] for band in rest}


class EffortMemory:
    """What the simulator remembers of each user's effort: the due times of its CES answers (and which were
    negative), and when the user went through an incident. Recording the same answer twice changes nothing,
    so planning a prompt again is harmless."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_s = window_s
        self._answers: dict[str, list[tuple[float, bool]]] = {}
        self._incidents: dict[str, list[float]] = {}

    def note_answer(self, user_id: str, due_s: float, negative: bool) -> None:
        """A CES answer of the user, due at ``due_s``; ``negative``: high effort."""
        answers = self._answers.setdefault(user_id, [])
        if (due_s, negative) not in answers:
            bisect.insort(answers, (due_s, negative))
            del answers[:-MEMORY_PER_USER]

    def note_incident(self, user_id: str, at_s: float) -> None:
        """The user started an attempt at the incident goal while it was hard."""
        attempts = self._incidents.setdefault(user_id, [])
        if at_s not in attempts:
            bisect.insort(attempts, at_s)
            del attempts[:-MEMORY_PER_USER]

    def group(self, user_id: str, at_s: float) -> str:
        """``high_effort``, ``incident`` or ``rest`` for an NPS answer due at ``at_s``."""
        since_s = at_s - self.window_s
        answers = [(due_s, negative) for due_s, negative in self._answers.get(user_id, ()) if since_s <= due_s <= at_s]
        if any(negative for _, negative in answers):
            return "high_effort"
        last_answer_s = answers[-1][0] if answers else -float("inf")
        if any(max(since_s, last_answer_s) < started_s <= at_s for started_s in self._incidents.get(user_id, ())):
            return "incident"
        return "rest"


def draw_nps(rng: random.Random, group: str, incident_high_effort: float) -> int:
    """One NPS score for a user of ``group``; ``incident_high_effort`` is the incident's negative share."""
    if group == "incident":
        group = "high_effort" if rng.random() < incident_high_effort else "rest"
    weights = nps_weights(NPS_MIX[group])
    return rng.choices(list(weights), weights=list(weights.values()))[0]
