"""Folding a batch of facts into one :class:`~stream.ces.goals.buckets.BucketCounts` delta per
touched ``(goal, resolution_s, bucket_start_s)``, so the tables downstream see one write per bucket
per batch instead of one per event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.facts import (
    FACT_TYPES,
    NPS,
    AnswerFact,
    EffortFact,
    Fact,
    OutcomeFact,
    PromptEventFact,
    PromptFact,
)

BucketKey = tuple[str, int, int]
"""``(goal, resolution_s, bucket_start_s)``."""


def bucket_start(at_s: float, resolution_s: int) -> int:
    """The start of the bucket that holds ``at_s``: floor to a multiple of ``resolution_s``.

    A time exactly on a boundary starts a new bucket: buckets are ``[start, start + res)``.
    """
    return int(at_s // resolution_s) * resolution_s


def fold_facts(facts: Iterable[Fact], resolutions_s: Sequence[int]) -> dict[BucketKey, BucketCounts]:
    """Fold one batch of facts into one delta per touched bucket.

    Every fact lands in exactly one bucket per resolution. The facts are folded once
    into the finest resolution; coarser resolutions that are multiples of it are rolled
    up from those deltas (a batch usually spans few fine buckets), the others are folded
    from the facts directly.

    :param facts: the batch, in any order.
    :param resolutions_s: bucket widths in seconds, each > 0 (duplicates are ignored).
    :returns: ``{(goal, resolution_s, bucket_start_s): delta}``; empty for no facts.
    :raises ValueError: for a resolution <= 0 or an unknown outcome.
    :raises TypeError: for something that is not a fact.
    """
    resolutions = sorted(set(resolutions_s))
    if not resolutions:
        return {}
    if resolutions[0] <= 0 or any(type(res) is not int for res in resolutions):
        raise ValueError(f"resolutions must be positive integers of seconds, got {tuple(resolutions_s)}")
    finest = resolutions[0]
    facts = facts if isinstance(facts, (list, tuple)) else list(facts)
    deltas = _fold_one_resolution(facts, finest)
    rolled_up: dict[BucketKey, BucketCounts] = {}
    for resolution in resolutions[1:]:
        if resolution % finest:
            deltas.update(_fold_one_resolution(facts, resolution))
            continue
        for (goal, delta_resolution, start), delta in list(deltas.items()):
            if delta_resolution != finest:
                continue
            key = (goal, resolution, start - start % resolution)
            total = rolled_up.get(key)
            if total is None:
                rolled_up[key] = delta.copy()
            else:
                total.merge(delta)
    deltas.update(rolled_up)
    return deltas


def _fold_one_resolution(facts: Sequence[Fact], resolution_s: int) -> dict[BucketKey, BucketCounts]:
    deltas: dict[BucketKey, BucketCounts] = {}
    for fact in facts:
        if type(fact) not in FACT_TYPES:  # exact types: the isinstance checks below see no subclasses
            raise TypeError(f"not a fact: {fact!r}")
        key = (fact.goal, resolution_s, int(fact.at_s // resolution_s) * resolution_s)
        counts = deltas.get(key)
        if counts is None:
            counts = deltas[key] = BucketCounts()
        count_fact(counts, fact)
    return deltas


def count_fact(counts: BucketCounts, fact: Fact) -> None:
    """Count one fact into ``counts``."""
    if isinstance(fact, AnswerFact):
        if fact.survey == NPS:
            counts.nps_part().add_answer(fact.score, fact.sentiment, fact.channel, fact.effort_group)
        else:
            counts.add_answer(fact.score, fact.sentiment, fact.outcome, fact.channel, fact.band, fact.app_version)
    elif isinstance(fact, PromptFact):
        if fact.survey == NPS:
            counts.nps_part().prompts += 1
        else:
            counts.prompts += 1
    elif isinstance(fact, OutcomeFact):
        counts.add_outcome(fact.outcome, fact.channel)
    elif isinstance(fact, EffortFact):
        counts.add_effort(fact.duration_s, fact.retried)
    elif isinstance(fact, PromptEventFact):
        if fact.survey == NPS:
            counts.nps_part().add_prompt_event(fact.kind)
        else:
            counts.add_prompt_event(fact.kind)
    else:  # pragma: no cover - the Fact union is closed
        raise TypeError(f"not a fact: {fact!r}")
