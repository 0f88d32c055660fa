"""The goal stage's logic: time buckets, per-partition partials, windows and the figures read from them."""

from stream.ces.goals.buckets import (
    AnswerFact,
    BucketCounts,
    EffortFact,
    Fact,
    OutcomeFact,
    PromptEventFact,
    PromptFact,
)
from stream.ces.goals.durations import format_duration, parse_duration
from stream.ces.goals.effort import DURATION_QUANTILES, DURATION_RELATIVE_ACCURACY, EffortFigures, effort_figures
from stream.ces.goals.facts import HIGH_EFFORT, NPS, REST, without_releases
from stream.ces.goals.figure_parts import figures_json
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.goal_windows import GoalWindows
from stream.ces.goals.partials import (
    MergedGoals,
    Partial,
    PartialExpiry,
    PartialKey,
    apply_facts,
    encode_partial,
    goal_partition,
    keys_for,
    read_batch,
    write_batch,
)
from stream.ces.goals.segments import CHANNELS, EXIT_OUTCOMES, OUTCOMES
from stream.ces.goals.stats import WindowFigures, difference_interval, wilson_interval, z_score
from stream.ces.goals.windows import GoalBuckets, WindowSpec, plan_windows, retention_s_by_resolution

__all__ = [
    "CHANNELS",
    "DURATION_QUANTILES",
    "DURATION_RELATIVE_ACCURACY",
    "EXIT_OUTCOMES",
    "HIGH_EFFORT",
    "NPS",
    "OUTCOMES",
    "REST",
    "AnswerFact",
    "BucketCounts",
    "EffortFact",
    "EffortFigures",
    "Fact",
    "GoalBuckets",
    "GoalWindows",
    "MergedGoals",
    "OutcomeFact",
    "Partial",
    "PartialExpiry",
    "PartialKey",
    "PromptEventFact",
    "PromptFact",
    "WindowFigures",
    "WindowSpec",
    "apply_facts",
    "difference_interval",
    "effort_figures",
    "encode_partial",
    "figures_json",
    "fold_facts",
    "format_duration",
    "goal_partition",
    "keys_for",
    "parse_duration",
    "plan_windows",
    "read_batch",
    "retention_s_by_resolution",
    "wilson_interval",
    "without_releases",
    "write_batch",
    "z_score",
]
