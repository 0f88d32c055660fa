"""Measure the release verdicts: how often a release without a change gets one, and how soon a real drop does.

Simulated releases, the verdict read after every single answer of the new release (the most often
anyone could look; the worker reads it once per tick at most):

- **No change**: the previous release holds ``n0`` answers at a share ``p``, the new one gets up to
  ``--answers`` answers at the same ``p``. A release with any verdict (worse or better) at any point
  is a false verdict. Also with the previous release still growing beside the new one (a mobile
  rollout: both get answers).
- **A drop** of ``delta``: answers until the verdict, whether it says worse, and whether its interval
  holds the true difference then.

Reading the verdict after every answer through :func:`~stream.ces.releases.compare_releases` costs
two bisections; when only the new release grows, the verdict is decided exactly when the previous
release's bound leaves the new release's confidence sequence, one martingale value per answer
(:func:`decided_fast`). The first releases of each run are also read through ``compare_releases``
itself and must agree at every answer.

    python -m tests.test_stream.test_ces.test_releases.measure_release_verdicts --releases 1000
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from dataclasses import dataclass

from stream.ces.releases import BETTER, WORSE, ReleaseCounts, compare_releases, share_sequence

ERROR_RATE = 0.05
MIN_ANSWERS = 30  # CES_RELEASE_MIN_ANSWERS' default
CHECKED_RELEASES = 5  # per run, read through compare_releases too


def _log_mixture_ratio(positive: int, answers: int, share: float) -> float:
    mixture = math.lgamma(1 + positive) + math.lgamma(1 + answers - positive) - math.lgamma(2 + answers)
    return mixture - positive * math.log(share) - (answers - positive) * math.log1p(-share)


def decided_fast(positive: int, answers: int, previous_bounds: tuple[float, float], threshold: float) -> str | None:
    """The verdict of a growing new release against a fixed previous one, from one martingale value.

    Worse when the new release's upper bound is below the previous release's lower bound: that is,
    when that bound lies above the observed share and outside the new release's sequence.
    """
    if answers < MIN_ANSWERS:
        return None
    observed = positive / answers
    lower, upper = previous_bounds
    if lower > observed and lower < 1.0 and _log_mixture_ratio(positive, answers, lower) >= threshold:
        return WORSE
    if upper < observed and upper > 0.0 and _log_mixture_ratio(positive, answers, upper) >= threshold:
        return BETTER
    return None


def _release(version: str, answers: int, positive: int) -> ReleaseCounts:
    return ReleaseCounts("web", version, 0 if version == "old" else 1, answers, positive, 0)


@dataclass
class Run:
    releases: int
    verdicts: int
    answers_to_verdict: list[int]
    worse: int
    covered: int

    def line(self, what: str) -> str:
        share = self.verdicts / self.releases
        text = f"{what}: {self.verdicts} of {self.releases} releases got a verdict ({share:.2%})"
        if self.answers_to_verdict:
            ordered = sorted(self.answers_to_verdict)
            p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
            text += (
                f"; answers to the verdict median {statistics.median(ordered):.0f}, p90 {p90}; "
                f"worse {self.worse}, interval holding the true difference {self.covered}"
            )
        return text


def fixed_previous(rng: random.Random, n0: int, p0: float, p1: float, max_answers: int, releases: int) -> Run:
    """The previous release is done (web: every user moved at once); the new one grows."""
    threshold = math.log(2.0 / ERROR_RATE)
    run = Run(releases, 0, [], 0, 0)
    for number in range(releases):
        previous_positive = sum(rng.random() < p0 for _ in range(n0))
        bounds = share_sequence(previous_positive, n0, ERROR_RATE / 2.0)
        positive = 0
        for answers in range(1, max_answers + 1):
            positive += rng.random() < p1
            verdict = decided_fast(positive, answers, bounds, threshold)
            if number < CHECKED_RELEASES:
                full = compare_releases(
                    _release("new", answers, positive), _release("old", n0, previous_positive), ERROR_RATE, MIN_ANSWERS
                )
                assert full is not None and (full.direction if full.decided else None) == verdict, (answers, positive)
            if verdict is not None:
                _count(run, verdict, answers, positive, n0, previous_positive, p1 - p0)
                break
    return run


def both_growing(rng: random.Random, n0: int, p: float, max_answers: int, releases: int) -> Run:
    """A rollout: the previous release still gets one answer for every two of the new one."""
    run = Run(releases, 0, [], 0, 0)
    for _ in range(releases):
        previous_answers, previous_positive = n0, sum(rng.random() < p for _ in range(n0))
        positive = 0
        for answers in range(1, max_answers + 1):
            positive += rng.random() < p
            if answers % 2 == 0:
                previous_answers += 1
                previous_positive += rng.random() < p
            full = compare_releases(
                _release("new", answers, positive),
                _release("old", previous_answers, previous_positive),
                ERROR_RATE,
                MIN_ANSWERS,
            )
            if full is not None and full.decided:
                _count(run, full.direction, answers, positive, previous_answers, previous_positive, 0.0)
                break
    return run


def _count(run: Run, verdict: str, answers: int, positive: int, n0: int, previous_positive: int, truth: float) -> None:
    run.verdicts += 1
    run.answers_to_verdict.append(answers)
    run.worse += verdict == WORSE
    full = compare_releases(
        _release("new", answers, positive), _release("old", n0, previous_positive), ERROR_RATE, MIN_ANSWERS
    )
    assert full is not None
    run.covered += full.lower <= truth <= full.upper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=1000, help="simulated releases per case")
    parser.add_argument("--answers", type=int, default=3000, help="answers of the new release at most")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    print(
        f"error rate {ERROR_RATE} per release, at least {MIN_ANSWERS} answers each; "
        "verdict read after every answer of the new release"
    )
    total = Run(0, 0, [], 0, 0)
    for n0 in (300, 3000):
        for p in (0.5, 0.8):
            run = fixed_previous(rng, n0, p, p, args.answers, args.releases)
            total.releases += run.releases
            total.verdicts += run.verdicts
            print(run.line(f"no change, previous {n0} answers, share {p}"))
    for p in (0.5, 0.8):
        run = both_growing(rng, 300, p, args.answers // 2, max(1, args.releases // 10))
        total.releases += run.releases
        total.verdicts += run.verdicts
        print(run.line(f"no change, both releases growing, share {p}"))
    print(f"no change, all cases: {total.verdicts} of {total.releases} ({total.verdicts / total.releases:.2%})")
    for delta in (0.05, 0.10, 0.15):
        run = fixed_previous(rng, 2000, 0.75, 0.75 - delta, 5 * args.answers // 3, max(1, args.releases // 2))
        print(run.line(f"a drop of {delta:.2f} from 0.75 (previous 2000 answers)"))
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
