"""Which users are asked: sticky sampling and the adaptive sampling rate.

Sticky: a user either is or is not in a goal's sample, decided by a hash of
``user_ref|goal`` and the rate, so the decision is the same on every worker, on every
replay and on every visit (raising the rate only adds users, lowering it only removes
users). Adaptive: for goals configured with ``target_answers_per_day`` the rate follows
the observed traffic so the goal collects about that many answers per day.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.ces.registry import GoalConfig

#: Response ratio assumed before any answers were observed (typical in-app CES response).
PRIOR_RESPONSE_RATIO = 0.3

#: Default half-life of the EWMAs: long enough to smooth bursts, short enough to follow a launch.
DEFAULT_HALF_LIFE_S = 6 * 3600.0

_SECONDS_PER_DAY = 86_400.0
_TWO_POW_64 = float(2**64)


def sample_point(user_ref: str, goal: str) -> float:
    """Return the user's fixed position in ``[0, 1)`` for ``goal``.

    :param user_ref: pseudonymous user reference.
    :param goal: goal slug; each goal samples an independent set of users.
    :returns: the first 8 bytes of SHA-256(``user_ref|goal``) as an unsigned int / 2**64.
    """
    digest = hashlib.sha256(f"{user_ref}|{goal}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_POW_64


def sticky_sample(user_ref: str, goal: str, rate: float) -> bool:
    """Return whether the user is in the goal's sample at ``rate``.

    :param user_ref: pseudonymous user reference.
    :param goal: goal slug.
    :param rate: sampling rate in ``[0, 1]``; 0 never samples, 1 always does.
    :raises ValueError: if ``rate`` is outside ``[0, 1]`` or not a number.
    """
    if not 0.0 <= rate <= 1.0:  # also rejects NaN
        raise ValueError(f"sampling rate must be within [0, 1], got {rate}")
    return sample_point(user_ref, goal) < rate


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _ewma_alpha(elapsed_s: float, half_life_s: float) -> float:
    """Weight of a new observation covering ``elapsed_s`` (time-aware, interval-independent)."""
    return 1.0 - math.pow(2.0, -elapsed_s / half_life_s)


@dataclass(slots=True)
class AdaptiveRate:
    """Sampling-rate controller for one goal with a daily answer target.

    ``rate = clamp(target_answers_per_day / (events_per_day * response_ratio), min_rate, max_rate)``
    where both observed quantities are time-aware EWMAs. Pure: the caller counts goal
    events, prompts and answers for the goal over an interval and calls :meth:`observe`
    with the interval's length; nothing here reads a clock. Held in memory per goal; the
    state is a small dict (:meth:`to_dict`) should the caller want to persist it.

    :param target_answers_per_day: answers wanted per day (> 0).
    :param min_rate: lower clamp of the rate.
    :param max_rate: upper clamp of the rate, also the rate before any traffic was seen.
    :param half_life_s: half-life of both EWMAs.
    :param events_per_day: EWMA of completed/abandoned goal events per day; ``None`` until observed.
    :param response_ratio: EWMA of answers / prompts, starting at :data:`PRIOR_RESPONSE_RATIO`.
    """

    target_answers_per_day: float
    min_rate: float = 0.01
    max_rate: float = 1.0
    half_life_s: float = DEFAULT_HALF_LIFE_S
    events_per_day: float | None = None
    response_ratio: float = PRIOR_RESPONSE_RATIO

    def __post_init__(self) -> None:
        if not self.target_answers_per_day > 0:
            raise ValueError(f"target_answers_per_day must be > 0, got {self.target_answers_per_day}")
        if not 0.0 <= self.min_rate <= self.max_rate <= 1.0:
            raise ValueError(f"need 0 <= min_rate <= max_rate <= 1, got {self.min_rate}, {self.max_rate}")
        if not self.half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {self.half_life_s}")

    @property
    def rate(self) -> float:
        """The current sampling rate, within ``[min_rate, max_rate]``."""
        if self.events_per_day is None:
            return self.max_rate  # no traffic seen yet: the first observation corrects it
        expected_answers_at_rate_1 = self.events_per_day * self.response_ratio
        if expected_answers_at_rate_1 <= 0.0:
            return self.max_rate
        return _clamp(self.target_answers_per_day / expected_answers_at_rate_1, self.min_rate, self.max_rate)

    def observe(self, elapsed_s: float, events: int, prompts: int = 0, answers: int = 0) -> float:
        """Fold one interval's counts into the EWMAs and return the new rate.

        :param elapsed_s: length of the interval the counts cover; ``<= 0`` is ignored.
        :param events: completed/abandoned goal events of the goal in the interval.
        :param prompts: prompts sent for the goal in the interval; the response ratio is
            only updated when this is > 0.
        :param answers: answers received for the goal in the interval (may belong to
            prompts of an earlier interval; the ratio is capped at 1).
        :returns: :attr:`rate` after the update.
        """
        if elapsed_s <= 0:
            return self.rate
        alpha = _ewma_alpha(elapsed_s, self.half_life_s)
        observed_per_day = events * _SECONDS_PER_DAY / elapsed_s
        if self.events_per_day is None:
            self.events_per_day = observed_per_day  # no prior for volume: start from the first look
        else:
            self.events_per_day += alpha * (observed_per_day - self.events_per_day)
        if prompts > 0:
            observed_ratio = min(1.0, answers / prompts)
            self.response_ratio += alpha * (observed_ratio - self.response_ratio)
        return self.rate

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration and state as a JSON-safe dict."""
        return {
            "target_answers_per_day": self.target_answers_per_day,
            "min_rate": self.min_rate,
            "max_rate": self.max_rate,
            "half_life_s": self.half_life_s,
            "events_per_day": self.events_per_day,
            "response_ratio": self.response_ratio,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdaptiveRate:
        """Rebuild a controller from :meth:`to_dict` output."""
        return cls(
            target_answers_per_day=float(data["target_answers_per_day"]),
            min_rate=float(data["min_rate"]),
            max_rate=float(data["max_rate"]),
            half_life_s=float(data["half_life_s"]),
            events_per_day=None if data.get("events_per_day") is None else float(data["events_per_day"]),
            response_ratio=float(data.get("response_ratio", PRIOR_RESPONSE_RATIO)),
        )


@dataclass(slots=True)
class GoalCounts:
    """What one batch did for one goal: the traffic adaptive sampling follows (replays not counted twice)."""

    goal_events: int = 0  # goal events decided
    prompts_sent: int = 0  # prompts sent for the first time
    answers_joined: int = 0  # answers joined to their prompt for the first time


class AdaptiveRates:
    """Current sampling rate of every goal that targets answers per day instead of a fixed rate."""

    def __init__(self, goals: Iterable[GoalConfig]) -> None:
        self.controllers: dict[str, AdaptiveRate] = {}
        for goal in goals:
            sampling = goal.sampling
            if sampling.target_answers_per_day is not None:
                self.controllers[goal.slug] = AdaptiveRate(
                    target_answers_per_day=sampling.target_answers_per_day,
                    min_rate=sampling.min_rate,
                    max_rate=sampling.max_rate,
                )
        self.rates: dict[str, float] = {slug: c.rate for slug, c in self.controllers.items()}
        self._last_s = time.monotonic()

    def observe(self, counts: Mapping[str, GoalCounts], share_of_traffic: float) -> None:
        """Feed one batch's counts per goal, scaled to the whole stream."""
        if not self.controllers:
            return
        now = time.monotonic()
        elapsed, self._last_s = now - self._last_s, now
        scale = 1.0 / share_of_traffic if share_of_traffic > 0 else 1.0
        for slug, controller in self.controllers.items():
            goal = counts.get(slug, GoalCounts())
            self.rates[slug] = controller.observe(
                elapsed,
                events=round(goal.goal_events * scale),
                prompts=round(goal.prompts_sent * scale),
                answers=round(goal.answers_joined * scale),
            )
