"""How simulated users answer: how often, and where their scores fall on a goal's own scale.

Pure functions of the scale and a few parameters. A score's *ease* is where it lies from 0 (very
difficult) to 1 (very easy), whatever the scale kind; answers bunch up around an outcome's ease,
with an extra share on the very difficult point (frustration). Exits are much harder than
completions, and users who left answer less often.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# (ease, frustration) per prompt outcome. Ease 0..1 is where the scores bunch up (1 = very easy);
# frustration is the extra share on the "very difficult" point. Exits are much harder.
EASE = {"completed": (0.92, 0.04), "abandoned": (0.35, 0.22), "abandoned_inferred": (0.42, 0.16)}
# The same for a CSAT goal: (satisfaction, frustration). Satisfaction with a support chat is a little more
# forgiving than effort (a friendly agent makes up for a wait: most answers 4 or 5, ~80 % satisfied before
# a goal's target lifts it), but a user who left unhelped is about as unhappy as one who gave up on a goal.
SATISFACTION = {"completed": (0.85, 0.05), "abandoned": (0.30, 0.25), "abandoned_inferred": (0.38, 0.18)}
EASE_WIDTH = 0.25
INCIDENT_EASE_DROP, INCIDENT_FRUSTRATION = 0.30, 0.15
HEALTHY_MARGIN = 0.06  # a goal with a target runs this far above it until an incident hits it
EXIT_RESPONSE = 1 / 3  # users who left a goal answer its prompt a third as often as those who completed it


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


def response_share(answer_share: float, outcome: str) -> float:
    """The share of the prompts shown that is answered: ``answer_share`` at completion, less at exits."""
    return answer_share if outcome == "completed" else answer_share * EXIT_RESPONSE


def moods_for(survey: str) -> Mapping[str, tuple[float, float]]:
    """Where answers bunch up per outcome: ease for CES, satisfaction for CSAT (on the same 0..1 footing)."""
    return SATISFACTION if survey == "csat" else EASE


def healthy_delight(
    goal: Any, difficulty: float, shares: Mapping[str, float], inferred: bool, moods: Mapping[str, Any] = EASE
) -> float:
    """The share of completions' answers on the easiest point that puts the goal's expected CES over all
    outcomes ``HEALTHY_MARGIN`` above its target; exits stay as hard as they are. At most 0.95. ``moods``: where
    the answers bunch up per outcome (:func:`moods_for` the goal's survey kind)."""
    if goal.target_ces_ratio is None:
        return 0.0
    scale_obj = goal.scale_obj()
    scale = {"min_score": scale_obj.min_score, "max_score": scale_obj.max_score, "inverted": scale_obj.inverted}
    answered = {
        "completed": shares["completed"],
        "abandoned": shares["abandoned"] * EXIT_RESPONSE if goal.triggers.abandoned else 0.0,
        "abandoned_inferred": shares["silent"] * EXIT_RESPONSE if inferred else 0.0,
    }
    total = sum(answered.values())
    plain = {
        outcome: sum(
            weight
            for point, weight in score_weights(scale, moods[outcome][0] - difficulty, moods[outcome][1]).items()
            if point in scale_obj.positive
        )
        for outcome in answered
    }
    blended = sum(answered[o] / total * plain[o] for o in answered)
    completed = answered["completed"] / total
    wanted = min(0.95, goal.target_ces_ratio + HEALTHY_MARGIN)
    # With delight d at completion: CES = blended + completed * d * (1 - plain completed).
    return min(0.95, max(0.0, (wanted - blended) / (completed * (1.0 - plain["completed"]))))
