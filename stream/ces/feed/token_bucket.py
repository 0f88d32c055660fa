"""The feed webhook's rate limit per goal: one token bucket per goal, and nothing is ever dropped.

A goal may send ``burst`` messages at once, then one per ``1 / rate_per_s`` seconds; a message
over the rate is told how long to wait for its token. Times are monotonic seconds from the
caller, so the buckets are exact under test.
"""

from __future__ import annotations

from dataclasses import dataclass

# Float rounding can leave a refilled bucket a hair under one token: that counts as one.
_EPSILON = 1e-9
# Buckets kept before the full ones are forgotten (a full bucket is the same as a new one).
MAX_BUCKETS = 1000


@dataclass
class TokenBucket:
    """Tokens refill at ``rate_per_s`` up to ``burst``; each message takes one.

    :param rate_per_s: tokens added per second (> 0).
    :param burst: most tokens held (at least 1).
    :param tokens: tokens now.
    :param updated_at: when ``tokens`` was last brought up to date.
    """

    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        """A bucket holding its whole burst."""
        return cls(rate_per_s, burst, burst, now)

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update (a clock that went back earns none)."""
        if now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
            self.updated_at = now

    def take(self, now: float) -> float:
        """Take a token when there is one and return 0; else take nothing and return the seconds until there is."""
        self.refill(now)
        if self.tokens >= 1 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) / self.rate_per_s

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.burst - _EPSILON


class GoalRateLimits:
    """A token bucket per goal, ``per_minute`` messages a minute with a burst of as many (0: no limit).

    Not thread-safe: callers that share it hold a lock around :meth:`take`.
    """

    def __init__(self, per_minute: float, max_buckets: int = MAX_BUCKETS) -> None:
        self.per_minute = per_minute
        self.max_buckets = max_buckets
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, goal: str, now: float) -> float:
        """Take one of ``goal``'s tokens: 0 when it may send now, else the seconds to wait before asking again."""
        if self.per_minute <= 0:
            return 0.0
        bucket = self._buckets.get(goal)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._forget_full(now)
            bucket = self._buckets[goal] = TokenBucket.full(self.per_minute / 60, max(1.0, self.per_minute), now)
        return bucket.take(now)

    def _forget_full(self, now: float) -> None:
        for goal in [goal for goal, bucket in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[goal]

    def __len__(self) -> int:
        return len(self._buckets)
