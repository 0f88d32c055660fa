"""Tests for stream.ces.goals.partials: the exactness rules of per-partition partials and their merge.

The module docstring promises two rules: partials skip replays by their hwm, and partials
travel as absolute values that the goal stage keeps per source partition by highest hwm.
Together they make the merged counts equal "every fact applied exactly once", even after
a crash and a replay; the last tests here simulate exactly that.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from stream.ces.goals.buckets import AnswerFact, BucketCounts, Fact, OutcomeFact, PromptFact
from stream.ces.goals.fold import bucket_start, fold_facts
from stream.ces.goals.partials import (
    MergedGoals,
    Partial,
    PartialExpiry,
    PartialKey,
    apply_facts,
    goal_partition,
    keys_for,
)
from stream.ces.goals.segments import CHANNELS, OUTCOMES
from stream.ces.goals.windows import GoalBuckets, WindowSpec
from stream.ces.registry.scales import Sentiment

RESOLUTIONS = (60, 300)
T0 = 1_700_006_400  # a multiple of 3600
GOAL = "download-invoice"
OTHER = "view-policy"


def answer(score: int = 5, at_s: float = T0 + 10, goal: str = GOAL) -> AnswerFact:
    sentiment = Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral
    return AnswerFact(goal, at_s, score, sentiment, "completed", "web")


def outcome(name: str = "completed", at_s: float = T0 + 10, goal: str = GOAL) -> OutcomeFact:
    return OutcomeFact(goal, at_s, name)


def prompt(name: str = "completed", at_s: float = T0 + 10, goal: str = GOAL) -> PromptFact:
    return PromptFact(goal, at_s, name)


def key(resolution: int = 60, start: int = T0, partition: int = 0, goal: str = GOAL) -> PartialKey:
    return PartialKey(partition, goal, resolution, start)


def counts(answers: tuple[int, ...] = (), prompts: int = 0, outcomes: tuple[str, ...] = ()) -> BucketCounts:
    c = BucketCounts()
    for score in answers:
        c.add_answer(score, answer(score).sentiment, "completed", "web")
    for _ in range(prompts):
        c.add_prompt()
    for name in outcomes:
        c.add_outcome(name)
    return c


def expected_by_key(
    partition: int, facts: list[tuple[int, Fact]], resolutions=RESOLUTIONS
) -> dict[PartialKey, BucketCounts]:
    """Each distinct (offset, fact) applied exactly once: the definition of exact."""
    unique = list(dict.fromkeys(facts))
    return {
        PartialKey(partition, goal, res, start): c
        for (goal, res, start), c in fold_facts([fact for _, fact in unique], resolutions).items()
    }


# -- apply_facts ------------------------------------------------------------------------


def test_apply_to_empty_partials_counts_every_fact_at_every_resolution():
    partials: dict[PartialKey, Partial] = {}
    facts = [(0, answer(5)), (1, answer(2)), (2, outcome()), (3, prompt())]
    changed = apply_facts(partials, 4, facts, RESOLUTIONS)
    assert changed == {key(60, partition=4), key(300, partition=4)}
    for k in changed:
        assert partials[k].hwm == 3
        assert partials[k].counts == counts(answers=(5, 2), prompts=1, outcomes=("completed",))


@pytest.mark.parametrize(
    ("offset", "counted"),
    [(0, False), (9, False), (10, False), (11, True), (500, True)],
    ids=["far-below", "below", "at-hwm", "above", "far-above"],
)
def test_a_fact_at_or_below_the_hwm_from_before_the_batch_is_skipped(offset, counted):
    before = counts(answers=(4,))
    partials = {key(60): Partial(hwm=10, counts=before.copy())}
    changed = apply_facts(partials, 0, [(offset, answer(1))], (60,))
    if counted:
        assert changed == {key(60)}
        assert partials[key(60)].counts == counts(answers=(4, 1))
        assert partials[key(60)].hwm == offset
    else:
        assert changed == set()
        assert partials[key(60)].counts == before
        assert partials[key(60)].hwm == 10


def test_a_batch_mixing_replayed_and_new_facts_counts_only_the_new():
    partials = {key(60): Partial(hwm=10, counts=counts(answers=(4,)))}
    facts = [(9, answer(5)), (10, answer(5)), (11, answer(1)), (12, outcome())]
    apply_facts(partials, 0, facts, (60,))
    assert partials[key(60)].counts == counts(answers=(4, 1), outcomes=("completed",))
    assert partials[key(60)].hwm == 12


def test_several_facts_from_one_offset_all_count():
    # A completed goal event that prompts yields an OutcomeFact and a PromptFact at one offset.
    partials: dict[PartialKey, Partial] = {}
    apply_facts(partials, 0, [(5, outcome()), (5, prompt())], (60,))
    assert partials[key(60)].counts == counts(prompts=1, outcomes=("completed",))
    assert partials[key(60)].hwm == 5


def test_several_facts_from_one_offset_all_count_with_an_existing_hwm():
    partials = {key(60): Partial(hwm=4, counts=BucketCounts())}
    apply_facts(partials, 0, [(5, prompt()), (5, outcome())], (60,))
    assert partials[key(60)].counts == counts(prompts=1, outcomes=("completed",))


def test_the_same_offset_and_fact_twice_in_a_batch_counts_once():
    # A replay of the record and a duplicate of it both re-emit the original (offset, fact).
    partials: dict[PartialKey, Partial] = {}
    facts = [(7, answer(5)), (7, outcome()), (7, answer(5)), (8, answer(1)), (7, outcome())]
    apply_facts(partials, 0, facts, (60,))
    assert partials[key(60)].counts == counts(answers=(5, 1), outcomes=("completed",))


def test_equal_facts_at_different_offsets_are_different_facts():
    # Two users answering 5 in the same second: two answers, not one.
    partials: dict[PartialKey, Partial] = {}
    same = answer(5, at_s=T0 + 1)
    apply_facts(partials, 0, [(1, same), (2, same), (3, same)], (60,))
    assert partials[key(60)].counts == counts(answers=(5, 5, 5))


def test_a_reemitted_fact_whose_original_was_lost_is_applied_even_after_newer_offsets():
    # hwm 10 is what was persisted; the original of offset 12 never reached the table.
    # A duplicate at offset 20 re-emits it with its ORIGINAL offset, after a newer fact.
    partials = {key(60): Partial(hwm=10, counts=counts(answers=(4,)))}
    facts = [(20, answer(2)), (12, outcome("abandoned"))]
    changed = apply_facts(partials, 0, facts, (60,))
    assert changed == {key(60)}
    assert partials[key(60)].counts == counts(answers=(4, 2), outcomes=("abandoned",))
    assert partials[key(60)].hwm == 20


def test_a_reemitted_fact_whose_original_was_counted_is_skipped():
    partials = {key(60): Partial(hwm=12, counts=counts(outcomes=("abandoned",)))}
    changed = apply_facts(partials, 0, [(20, answer(2)), (12, outcome("abandoned"))], (60,))
    assert changed == {key(60)}
    assert partials[key(60)].counts == counts(answers=(2,), outcomes=("abandoned",))


def test_hwm_is_per_key():
    # The 1m bucket was written up to offset 10; the 5m bucket only to 3: offset 5 counts in the latter only.
    partials = {key(60): Partial(hwm=10, counts=counts(answers=(4,))), key(300): Partial(hwm=3, counts=BucketCounts())}
    changed = apply_facts(partials, 0, [(5, answer(4))], RESOLUTIONS)
    assert changed == {key(300)}
    assert partials[key(60)].counts == counts(answers=(4,))
    assert partials[key(300)].counts == counts(answers=(4,))


def test_facts_land_in_their_bucket_per_resolution_and_goal():
    facts = [
        (1, answer(5, at_s=T0 + 59)),
        (2, answer(5, at_s=T0 + 60)),  # on the boundary: the next 1m bucket, same 5m bucket
        (3, answer(1, at_s=T0 + 300)),  # next 5m bucket
        (4, answer(3, at_s=T0 + 30, goal=OTHER)),
    ]
    partials: dict[PartialKey, Partial] = {}
    changed = apply_facts(partials, 2, facts, RESOLUTIONS)
    expected = expected_by_key(2, facts)
    assert set(partials) == changed == set(expected)
    assert {k: p.counts for k, p in partials.items()} == expected
    assert partials[key(60, T0, 2)].hwm == 1
    assert partials[key(60, T0 + 60, 2)].hwm == 2
    assert partials[key(300, T0, 2)].hwm == 2
    assert partials[key(300, T0 + 300, 2)].hwm == 3
    assert partials[key(60, T0, 2, OTHER)].hwm == 4


def test_other_partitions_partials_are_not_touched():
    other = {key(60, partition=1): Partial(hwm=99, counts=counts(answers=(5,)))}
    partials = dict(other)
    apply_facts(partials, 0, [(1, answer(1))], (60,))
    assert partials[key(60, partition=1)].hwm == 99
    assert partials[key(60, partition=1)].counts == counts(answers=(5,))
    assert partials[key(60, partition=0)].counts == counts(answers=(1,))


def test_an_empty_batch_changes_nothing():
    partials = {key(60): Partial(hwm=3, counts=counts(answers=(5,)))}
    assert apply_facts(partials, 0, [], RESOLUTIONS) == set()
    assert partials == {key(60): partials[key(60)]} and partials[key(60)].hwm == 3


@pytest.mark.parametrize("seed", range(5))
def test_keys_for_matches_what_apply_facts_touches(seed):
    rng = random.Random(seed)
    facts: list[tuple[int, Fact]] = []
    for offset in range(60):
        at = T0 + rng.randrange(0, 3 * 3600)
        goal = rng.choice([GOAL, OTHER, "pay-bill"])
        make = rng.choice(
            [
                lambda: answer(rng.randint(1, 5), at, goal),
                lambda: outcome("abandoned", at, goal),
                lambda: prompt("completed", at, goal),
            ]
        )
        facts.append((offset, make()))
    resolutions = (60, 300, 3600)
    keys = keys_for(3, facts, resolutions)
    partials: dict[PartialKey, Partial] = {}
    changed = apply_facts(partials, 3, facts, resolutions)
    assert keys == set(partials) == changed
    assert all(k.partition == 3 for k in keys)
    assert keys == {PartialKey(3, f.goal, r, bucket_start(f.at_s, r)) for _, f in facts for r in resolutions}
    # With everything already applied the same keys are touched and none changes.
    assert keys_for(3, facts, resolutions) == keys
    assert apply_facts(partials, 3, facts, resolutions) == set()


def test_keys_for_is_a_superset_of_the_changed_keys_when_some_are_skipped():
    partials = {key(60): Partial(hwm=50, counts=BucketCounts())}
    facts = [(10, answer(5))]
    keys = keys_for(0, facts, RESOLUTIONS)
    changed = apply_facts(partials, 0, facts, RESOLUTIONS)
    assert keys == {key(60), key(300)}
    assert changed == {key(300)}
    assert set(partials) == keys


# -- MergedGoals --------------------------------------------------------------------------


def test_update_takes_the_first_partial_and_builds_the_goal_buckets():
    merged = MergedGoals()
    assert merged.update(key(60), Partial(3, counts(answers=(5, 4))))
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5, 4))
    assert merged.partials[key(60)].hwm == 3


@pytest.mark.parametrize(
    ("second_hwm", "taken"),
    [(2, False), (5, False), (6, True)],
    ids=["lower", "same", "higher"],
)
def test_update_takes_only_a_higher_hwm(second_hwm, taken):
    merged = MergedGoals()
    merged.update(key(60), Partial(5, counts(answers=(5,))))
    second = counts(answers=(5, 1, 1))
    assert merged.update(key(60), Partial(second_hwm, second)) is taken
    expected = second if taken else counts(answers=(5,))
    assert merged.goals[GOAL].bucket(60, T0) == expected
    assert merged.partials[key(60)].hwm == (second_hwm if taken else 5)


def test_update_replaces_a_source_partitions_partial_instead_of_adding():
    merged = MergedGoals()
    merged.update(key(60), Partial(3, counts(answers=(5, 4), prompts=2)))
    merged.update(key(60), Partial(7, counts(answers=(5, 4, 1), prompts=3, outcomes=("completed",))))
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5, 4, 1), prompts=3, outcomes=("completed",))


def test_a_stale_copy_after_a_newer_one_is_ignored():
    merged = MergedGoals()
    merged.update(key(60), Partial(7, counts(answers=(5, 5, 5))))
    assert not merged.update(key(60), Partial(3, counts(answers=(5,))))
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5, 5, 5))


def test_update_sums_partials_of_different_source_partitions():
    merged = MergedGoals()
    merged.update(key(60, partition=0), Partial(10, counts(answers=(5,), prompts=1)))
    merged.update(key(60, partition=1), Partial(2, counts(answers=(1, 2), outcomes=("abandoned",))))
    merged.update(key(60, partition=5), Partial(99, counts(prompts=4)))
    # Partition 1 sends a newer copy: only its share changes.
    merged.update(key(60, partition=1), Partial(3, counts(answers=(1, 2, 3), outcomes=("abandoned",))))
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5, 1, 2, 3), prompts=5, outcomes=("abandoned",))


def test_update_does_not_keep_a_reference_to_mutate_through():
    merged = MergedGoals()
    partial = Partial(1, counts(answers=(5,)))
    merged.update(key(60), partial)
    partial.counts.add_answer(1, Sentiment.negative, "completed", "web")  # caller keeps mutating its own partial
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5,))


def test_merged_window_equals_the_sum_of_the_partials():
    merged = MergedGoals()
    rng = random.Random(7)
    latest: dict[PartialKey, Partial] = {}
    for _step in range(300):
        partition = rng.randrange(4)
        start = T0 + 60 * rng.randrange(20)
        k = PartialKey(partition, GOAL, 60, start)
        old = latest.get(k)
        c = old.counts.copy() if old else BucketCounts()
        c.add_answer(
            *rng.choice([(5, Sentiment.positive), (3, Sentiment.neutral), (1, Sentiment.negative)]),
            rng.choice(OUTCOMES),
            rng.choice(CHANNELS),
        )
        if rng.random() < 0.3:
            c.add_prompt()
        new = Partial((old.hwm if old else 0) + rng.randint(1, 3), c)
        latest[k] = new
        merged.update(k, Partial.from_bytes(new.to_bytes()))
        if rng.random() < 0.2 and old is not None:
            merged.update(k, Partial.from_bytes(old.to_bytes()))  # a stale re-send
    spec = WindowSpec("10m", 600, 60)
    for now in (T0 + 30, T0 + 599, T0 + 600, T0 + 900, T0 + 1199, T0 + 1300):
        end = bucket_start(now, 60) + 60
        expected = BucketCounts()
        for k, p in latest.items():
            if end - 600 <= k.bucket_start_s < end:
                expected.merge(p.counts)
        assert merged.goals[GOAL].window_counts(spec, now) == expected
    expected_all = BucketCounts()
    for p in latest.values():
        expected_all.merge(p.counts)
    assert merged.goals[GOAL].period_counts(WindowSpec("20m", 1200, 60), T0, T0 + 1200) == expected_all


def test_forget_before_drops_only_ended_buckets_of_that_resolution():
    merged = MergedGoals()
    keys = [
        key(60, T0),  # ends T0+60
        key(60, T0 + 60),  # ends T0+120
        key(60, T0 + 120),  # ends T0+180
        key(300, T0),  # other resolution
        key(60, T0, partition=3, goal=OTHER),
    ]
    for k in keys:
        merged.update(k, Partial(1, counts(answers=(5,))))
    dropped = merged.forget_before(60, T0 + 120)
    assert set(dropped) == {key(60, T0), key(60, T0 + 60), key(60, T0, partition=3, goal=OTHER)}
    assert set(merged.partials) == {key(60, T0 + 120), key(300, T0)}
    # The merged buckets are pruned separately, not here.
    assert merged.goals[GOAL].bucket(60, T0) == counts(answers=(5,))
    assert merged.forget_before(60, T0 + 120) == []
    assert merged.forget_before(300, T0 + 299) == []
    assert merged.forget_before(300, T0 + 300) == [key(300, T0)]


@pytest.mark.parametrize(
    ("goal", "by_count"),
    [
        ("download-invoice", {1: 0, 2: 1, 8: 5, 12: 5, 1024: 93}),
        ("view-policy", {1: 0, 2: 1, 8: 1, 12: 1, 1024: 265}),
        ("pay-bill", {1: 0, 2: 1, 8: 7, 12: 11, 1024: 479}),
    ],
)
def test_goal_partition_is_pinned(goal, by_count):
    # Partials already in Kafka were partitioned with these: the function must never change.
    assert {n: goal_partition(goal, n) for n in by_count} == by_count


def test_goal_partition_is_in_range_and_spreads():
    goals = [f"goal-{i}" for i in range(500)]
    for partitions in (1, 3, 8, 64):
        seen = [goal_partition(goal, partitions) for goal in goals]
        assert all(0 <= p < partitions for p in seen)
        assert len(set(seen)) == partitions


@pytest.mark.external
def test_goal_partition_is_stable_across_processes():
    code = "from stream.ces.goals.partials import goal_partition; print([goal_partition(g, 16) for g in ('a', 'b', 'pay-bill')])"
    outputs = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        outputs.add(result.stdout.strip())
    assert outputs == {str([goal_partition(g, 16) for g in ("a", "b", "pay-bill")])}


@pytest.mark.parametrize(
    "partial",
    [
        Partial(-1, BucketCounts()),
        Partial(0, counts(answers=(5,))),
        Partial(
            2**40, counts(answers=(5, 5, 3, 1), prompts=7, outcomes=("completed", "abandoned", "abandoned_inferred"))
        ),
    ],
    ids=["empty", "one", "big"],
)
def test_partial_bytes_round_trip(partial):
    again = Partial.from_bytes(partial.to_bytes())
    assert again.hwm == partial.hwm
    assert again.counts == partial.counts
    assert again.counts.score_sum == partial.counts.score_sum


def test_partial_bytes_are_compact_json():
    assert Partial(4, counts(answers=(5,))).to_bytes() == (
        b'{"h":4,"c":{"s":{"5":1},"p":1,"bo":{"c":{"s":{"5":1},"p":1}},"bc":{"w":{"s":{"5":1},"p":1}},'
        b'"st":{"cw":[0,1,1]}}}'
    )


@pytest.mark.parametrize(
    ("k", "text"),
    [
        (PartialKey(0, "a", 60, 0), "0|a|60|0"),
        (PartialKey(7, "download-invoice", 3600, T0), f"7|download-invoice|3600|{T0}"),
        (PartialKey(1023, "x_y-9", 300, 1_800_000_000), "1023|x_y-9|300|1800000000"),
    ],
)
def test_partial_key_text_round_trip(k, text):
    assert k.encode() == text
    assert PartialKey.decode(text) == k
    assert PartialKey.decode(k.encode()) == k


# -- a simulated crash and replay -------------------------------------------------------------


def _facts_of_partition(rng: random.Random, count: int) -> list[tuple[int, Fact]]:
    """Facts as the user stage emits them: increasing offsets, sometimes two per offset, some re-emitted."""
    facts: list[tuple[int, Fact]] = []
    for offset in range(count):
        at = T0 + rng.randrange(0, 1800)
        goal = rng.choice([GOAL, OTHER])
        kind = rng.random()
        if kind < 0.4:
            facts.append((offset, answer(rng.randint(1, 5), at, goal)))
        elif kind < 0.7:  # a completed event that prompted: two facts at one offset
            facts.append((offset, outcome("completed", at, goal)))
            facts.append((offset, prompt("completed", at, goal)))
        elif kind < 0.85:
            facts.append((offset, outcome("abandoned", at, goal)))
        elif facts:  # a duplicate: re-emits an earlier record's facts with the ORIGINAL offset
            original_offset = rng.choice(facts)[0]
            facts.extend([f for f in facts if f[0] == original_offset])
    return facts


class _Stage:
    """The user stage's partial bookkeeping for one source partition.

    ``table`` is the live table (always complete while the process lives); ``changelog``
    is what a crash leaves behind (a write may not have reached it).
    """

    def __init__(self, partition: int, merged: MergedGoals) -> None:
        self.partition = partition
        self.table: dict[str, bytes] = {}
        self.changelog: dict[str, bytes] = {}
        self.merged = merged

    def process(self, batch: list[tuple[int, Fact]], persist: bool = True) -> None:
        current = {}
        for k in keys_for(self.partition, batch, RESOLUTIONS):
            data = self.table.get(k.encode())
            if data:
                current[k] = Partial.from_bytes(data)
        for k in sorted(apply_facts(current, self.partition, batch, RESOLUTIONS), key=PartialKey.encode):
            data = current[k].to_bytes()
            self.table[k.encode()] = data
            if persist:
                self.changelog[k.encode()] = data
            self.merged.update(k, Partial.from_bytes(data))  # sent on as an absolute value

    def crash(self, changelog: dict[str, bytes] | None = None) -> None:
        """Lose the live state; recover it from the changelog (or an older snapshot of it)."""
        self.changelog = dict(self.changelog if changelog is None else changelog)
        self.table = dict(self.changelog)

    def counts(self) -> dict[PartialKey, BucketCounts]:
        return {PartialKey.decode(k): Partial.from_bytes(v).counts for k, v in self.table.items()}


def _batches(facts: list[tuple[int, Fact]], first_offset: int, size: int) -> list[list[tuple[int, Fact]]]:
    """Batches of ``size`` source records (all facts of one record stay in one batch) from ``first_offset``."""
    offsets = sorted({o for o, _ in facts if o >= first_offset})
    out = []
    for i in range(0, len(offsets), size):
        chunk = set(offsets[i : i + size])
        out.append([f for f in facts if f[0] in chunk])
    return out


def _assert_exact(stage: _Stage, merged: MergedGoals, facts: list[tuple[int, Fact]]) -> None:
    expected = expected_by_key(stage.partition, facts)
    assert stage.counts() == expected
    for k, c in expected.items():
        assert merged.goals[k.goal].bucket(k.resolution_s, k.bucket_start_s) == c


@pytest.mark.parametrize(
    ("seed", "batch_size", "snapshot_after", "crash_after", "replay_from"),
    [
        (1, 10, 3, 6, 0),  # replay everything
        (2, 10, 3, 6, 25),  # committed offset inside the snapshot's range
        (3, 7, 0, 5, 0),  # snapshot before anything was written
        (4, 1, 20, 40, 15),  # one record per batch
        (5, 25, 2, 3, 40),  # replay from the first unpersisted batch
        (6, 13, 4, 4, 30),  # crash right after the snapshot, replay from the middle of it
    ],
)
def test_crash_and_replay_counts_every_fact_once(seed, batch_size, snapshot_after, crash_after, replay_from):
    rng = random.Random(seed)
    facts = _facts_of_partition(rng, 120)
    merged = MergedGoals()
    stage = _Stage(3, merged)
    batches = _batches(facts, 0, batch_size)
    snapshot: dict[str, bytes] = {}
    for i, batch in enumerate(batches[:crash_after]):
        stage.process(batch)
        if i + 1 == snapshot_after:
            snapshot = dict(stage.changelog)
    if snapshot_after == 0:
        snapshot = {}
    # The last snapshot is what survived; the consumer had committed ``replay_from``, which is
    # never beyond the first record missing from the snapshot.
    assert replay_from <= snapshot_after * batch_size
    stage.crash(snapshot)
    # Replay in different batch boundaries than the first pass.
    for batch in _batches(facts, replay_from, batch_size + 3):
        stage.process(batch)
    _assert_exact(stage, merged, facts)


def test_crash_with_a_half_written_batch_and_unpersisted_writes():
    rng = random.Random(11)
    facts = _facts_of_partition(rng, 80)
    merged = MergedGoals()
    stage = _Stage(0, merged)
    batches = _batches(facts, 0, 10)
    for batch in batches[:4]:
        stage.process(batch)
    committed = 40
    # Batch 5: only half of its partials reach the changelog before the crash, while the goal
    # stage already received all of them.
    before = dict(stage.changelog)
    stage.process(batches[4])
    written = sorted(set(stage.changelog.items()) - set(before.items()))
    assert len(written) >= 4
    half_written = {**before, **dict(written[: len(written) // 2])}
    # Batch 6 updates the live table and is sent on, but none of it reaches the changelog.
    stage.process(batches[5], persist=False)
    stage.crash(half_written)
    for batch in _batches(facts, committed, 10):
        stage.process(batch)
    _assert_exact(stage, merged, facts)


def test_two_source_partitions_crashing_independently_merge_exactly():
    merged = MergedGoals()
    stages = {p: _Stage(p, merged) for p in (0, 1)}
    facts = {p: _facts_of_partition(random.Random(100 + p), 60) for p in stages}
    for p, stage in stages.items():
        batches = _batches(facts[p], 0, 8)
        for batch in batches[:3]:
            stage.process(batch)
        snapshot = dict(stage.changelog)
        for batch in batches[3:6]:
            stage.process(batch)
        stage.crash(snapshot)
        for batch in _batches(facts[p], 16 if p == 0 else 24, 5):
            stage.process(batch)
    for p, stage in stages.items():
        assert stage.counts() == expected_by_key(p, facts[p])
    # The goal stage holds the sum of both partitions, bucket by bucket.
    total: dict[tuple[str, int, int], BucketCounts] = {}
    for p in stages:
        for k, c in expected_by_key(p, facts[p]).items():
            bucket = (k.goal, k.resolution_s, k.bucket_start_s)
            total.setdefault(bucket, BucketCounts()).merge(c)
    for (goal, res, start), c in total.items():
        assert merged.goals[goal].bucket(res, start) == c
    spec = WindowSpec("30m", 1800, 60)
    for goal in (GOAL, OTHER):
        expected_window = BucketCounts()
        for (g, res, _), c in total.items():
            if g == goal and res == 60:
                expected_window.merge(c)
        assert merged.goals[goal].window_counts(spec, T0 + 1799) == expected_window


def test_without_the_hwm_a_replay_would_double_count():
    """Guard of the guard: the crash scenario really replays facts that were already counted."""
    facts = _facts_of_partition(random.Random(1), 40)
    stage = _Stage(0, MergedGoals())
    for batch in _batches(facts, 0, 10):
        stage.process(batch)
    naive = {k: c.copy() for k, c in stage.counts().items()}
    for _, fact in [f for f in dict.fromkeys(facts) if f[0] >= 20]:
        for res in RESOLUTIONS:
            naive[PartialKey(0, fact.goal, res, bucket_start(fact.at_s, res))].merge(
                fold_facts([fact], [res]).popitem()[1]
            )
    assert naive != expected_by_key(0, facts)
    # ...while the real replay from offset 20 changes nothing.
    for batch in _batches(facts, 20, 10):
        stage.process(batch)
    assert stage.counts() == expected_by_key(0, facts)


def test_goal_buckets_type_is_what_merged_goals_builds():
    merged = MergedGoals()
    merged.update(key(60), Partial(0, counts(answers=(5,))))
    assert isinstance(merged.goals[GOAL], GoalBuckets)


def test_partial_expiry_pops_only_buckets_that_ended_before_the_cutoff():
    expiry = PartialExpiry()
    minute = PartialKey(0, "g", 60, 1_000_020)  # ends 1_000_080
    hour = PartialKey(0, "g", 3600, 997_200)  # ends 1_000_800
    other = PartialKey(3, "h", 60, 1_000_080)  # ends 1_000_140
    for key in (minute, hour, other, minute):
        expiry.add(key)
    assert expiry.pop_ended_before(1_000_080) == []  # ends exactly at the cutoff: not yet
    assert sorted(expiry.pop_ended_before(1_000_141), key=lambda k: k.goal) == [minute, other]
    assert expiry.pop_ended_before(1_000_141) == []  # popped once
    assert expiry.pop_ended_before(2_000_000) == [hour]
    expiry.add(minute)
    expiry.clear()
    assert expiry.pop_ended_before(2_000_000) == []
