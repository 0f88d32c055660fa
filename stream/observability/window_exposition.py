"""The per-goal window gauges of /metrics: their names, and their exposition text made at scrape time.

The figures come from the goal stage's windows (:class:`WindowSnapshotSource`); the lines are
written directly, not through prometheus_client (see :class:`WindowExposition`), and kept per
goal until the goal's figures change. :class:`~stream.observability.metrics.CesMetrics`
appends them to the registry's exposition.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Hashable, Iterator
from typing import Protocol

from stream.ces.goals import CHANNELS, OUTCOMES, WindowFigures, WindowSpec
from stream.observability.nps_exposition import NPS_FAMILY_DOCS, NpsRowPrefixes

__all__ = [
    "DURATION_GAUGE",
    "EXIT_GAP_GAUGES",
    "NON_RESPONSE_GAUGES",
    "SPLIT_GAUGES",
    "SURVEY_INFO_GAUGE",
    "WINDOW_GAUGES",
    "WindowExposition",
    "WindowSnapshotSource",
    "split_metric_names",
    "window_metric_names",
]


class WindowSnapshotSource(Protocol):
    """Whatever holds the per-goal window figures of the goals this worker owns."""

    def goal_rows(self, goal: str, now_s: float) -> list[tuple[str, WindowSpec, WindowFigures]]: ...

    def rows_key(self, goal: str, now_s: float) -> Hashable:
        """Equal keys mean equal rows of the goal (so its rendered lines can be kept)."""
        ...

    def owned_goals(self) -> list[str]: ...


# (metric name, help, attribute of WindowFigures) of the per-goal-and-window gauges.
WINDOW_GAUGES = (
    ("ces_goal_answers", "Answers in the sliding window.", "answers"),
    ("ces_goal_positive_answers", "Positive (low-effort) answers in the sliding window.", "positive"),
    ("ces_goal_ces_ratio", "CES top-box share: positive answers / answers.", "ces_ratio"),
    ("ces_goal_ces_ratio_wilson_lower", "Lower bound of the Wilson interval of the CES ratio.", "wilson_lower"),
    ("ces_goal_ces_ratio_wilson_upper", "Upper bound of the Wilson interval of the CES ratio.", "wilson_upper"),
    ("ces_goal_mean_score", "Mean score on the goal's own scale.", "mean_score"),
    ("ces_goal_net_effort", "Share positive minus share negative answers (-1..1).", "net_effort"),
    ("ces_goal_most_negative_ratio", "Share of answers on the most negative scale point.", "most_negative_ratio"),
    ("ces_goal_prompts", "Survey prompts sent in the sliding window.", "prompts"),
    ("ces_goal_response_ratio", "Answers / prompts in the sliding window.", "response_ratio"),
    # No sample without any prompt event in the window: apps that send none get no new series.
    (
        "ces_goal_prompts_shown",
        "Prompts the apps reported shown (prompt events) in the sliding window.",
        "reported_shown",
    ),
    ("ces_goal_prompts_dismissed", "Prompts the apps reported dismissed in the sliding window.", "reported_dismissed"),
    ("ces_goal_shown_ratio", "Prompts shown / prompts sent in the sliding window.", "shown_ratio"),
    ("ces_goal_dismissal_ratio", "Prompts dismissed / prompts shown in the sliding window.", "dismissal_ratio"),
    ("ces_goal_response_ratio_shown", "Answers / prompts shown in the sliding window.", "response_ratio_shown"),
    ("ces_goal_completion_ratio", "Completed / all outcomes (inferred abandonment included).", "completion_ratio"),
    (
        "ces_goal_ces_ratio_baseline_gap",
        "CES ratio of the window minus that of the rest of the baseline window (CES_ALERT_BASELINE_WINDOW).",
        "baseline_gap",
    ),
    (
        "ces_goal_ces_ratio_baseline_gap_lower",
        "Lower bound of the interval of the baseline gap (Newcombe).",
        "baseline_gap_lower",
    ),
    (
        "ces_goal_ces_ratio_baseline_gap_upper",
        "Upper bound of the interval of the baseline gap (Newcombe).",
        "baseline_gap_upper",
    ),
    (
        "ces_goal_ces_cusum",
        "CUSUM of a drop of CES_ALERT_SEQUENTIAL_DROP below the goal's target over the window (goals with a target).",
        "ces_cusum",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap",
        "Completion ratio of the window minus that of the rest of the baseline window (CES_ALERT_BASELINE_WINDOW).",
        "completion_baseline_gap",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap_lower",
        "Lower bound of the interval of the completion baseline gap (Newcombe).",
        "completion_baseline_gap_lower",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap_upper",
        "Upper bound of the interval of the completion baseline gap (Newcombe).",
        "completion_baseline_gap_upper",
    ),
    (
        "ces_goal_timed_completions",
        "Completions whose start was seen (measured effort) in the sliding window.",
        "timed_completions",
    ),
    (
        "ces_goal_retry_ratio",
        "Share of the timed completions that were started more than once before completing.",
        "retry_ratio",
    ),
)

# (quantile label, attribute of WindowFigures) of ces_goal_completion_duration_seconds.
DURATION_GAUGE = "ces_goal_completion_duration_seconds"
DURATION_QUANTILE_ATTRS = (
    ("0.5", "duration_p50_seconds"),
    ("0.9", "duration_p90_seconds"),
    ("0.99", "duration_p99_seconds"),
)

# (blended name, help, attribute of AnswerFigures) of the per-outcome and per-channel gauges,
# exported for the split windows only (CES_SPLIT_WINDOWS) as <blended name>_by_outcome / _by_channel.
# Answers first: a segment without answers exports only its count.
SPLIT_GAUGES = (
    ("ces_goal_answers", "Answers in the sliding window", "answers"),
    ("ces_goal_positive_answers", "Positive (low-effort) answers in the sliding window", "positive"),
    ("ces_goal_ces_ratio", "CES top-box share", "ces_ratio"),
    ("ces_goal_ces_ratio_wilson_lower", "Lower bound of the Wilson interval of the CES ratio", "wilson_lower"),
    ("ces_goal_ces_ratio_wilson_upper", "Upper bound of the Wilson interval of the CES ratio", "wilson_upper"),
)
SPLITS = (
    ("outcome", "by_outcome", "per outcome that triggered the prompt"),
    ("channel", "by_channel", "per channel of the goal attempt"),
)
# (metric name, help, attribute of ExitGap), for the split windows with enough answers on both sides.
EXIT_GAP_GAUGES = (
    (
        "ces_goal_exit_ces_gap",
        "CES at exits (abandoned, abandoned_inferred) minus CES at completion; "
        "only with CES_SPLIT_MIN_ANSWERS answers on both sides.",
        "ces_ratio_gap",
    ),
    ("ces_goal_exit_ces_gap_lower", "Lower bound of the interval of the exit CES gap (Newcombe).", "lower"),
    ("ces_goal_exit_ces_gap_upper", "Upper bound of the interval of the exit CES gap (Newcombe).", "upper"),
)
# (metric name, help, attribute of NonResponse), for the split windows; a value that is None has no sample.
NON_RESPONSE_GAUGES = (
    (
        "ces_goal_ces_ratio_corrected",
        "CES corrected for non-response: each stratum's (outcome x channel) CES weighed by its share of the "
        "attempts, not of the answers; absent while a stratum has fewer than CES_STRATUM_MIN_ANSWERS answers.",
        "ces_ratio",
    ),
    ("ces_goal_ces_ratio_corrected_lower", "Lower bound of the interval of the corrected CES.", "lower"),
    ("ces_goal_ces_ratio_corrected_upper", "Upper bound of the interval of the corrected CES.", "upper"),
    (
        "ces_goal_ces_ratio_if_silent_dissatisfied",
        "CES if nobody who was prompted and did not answer found it easy: positive answers / prompts (shown, "
        "where the apps report them).",
        "if_silent_dissatisfied",
    ),
    (
        "ces_goal_ces_ratio_if_silent_satisfied",
        "CES if everybody who was prompted and did not answer found it easy: (positive + unanswered) / prompts.",
        "if_silent_satisfied",
    ),
)


# 1 per owned goal, with the goal's own question as a label: tells CSAT goals from CES goals.
SURVEY_INFO_GAUGE = "ces_goal_survey_info"

# A scrape computing many goals anew hands the event loop back at least this often.
YIELD_EVERY_S = 0.005


def window_metric_names() -> list[str]:
    """Every family the window exposition writes (blended, split, NPS, target, survey info), in its order."""
    return list(_FAMILY_DOCS)


def split_metric_names() -> list[str]:
    """Every per-outcome and per-channel gauge name, e.g. ``ces_goal_ces_ratio_by_outcome``."""
    return [f"{base}_{attr}" for base, _, _ in SPLIT_GAUGES for _, attr, _ in SPLITS]


class WindowExposition:
    """Renders the owned goals' window figures at scrape time, straight to exposition text.

    Tens of thousands of samples (200 goals x 8 windows x ~20 series) are too slow through
    prometheus_client's generic collector path; label values here come only from the goal
    registry (slugs ``[a-z0-9_-]``) and window names, so they need no escaping and the lines
    can be formatted directly. A goal's lines are kept until its :meth:`~WindowSnapshotSource.rows_key`
    changes (new counts, or a window moving on by a bucket), so a scrape computes and
    formats only the goals that changed since the one before: quiet goals cost nothing.
    """

    def __init__(self, targets: dict[str, float | None], surveys: dict[str, str] | None = None) -> None:
        """:param targets: each goal's CES target (None: no target). :param surveys: each goal's own
        question, "ces" or "csat" (from the registry; a goal left out has no survey info gauge)."""
        self.source: WindowSnapshotSource | None = None
        self.targets = targets
        self.surveys = surveys or {}
        # Sample-line prefixes per (goal, window): their label values come from configuration,
        # so the set is bounded, and formatting them once saves most of a scrape's string work.
        self._prefixes: dict[tuple[str, str], _RowPrefixes] = {}
        # Per owned goal: (rows key, the goal's text per family).
        self._rendered: dict[str, tuple[Hashable, dict[str, str]]] = {}

    def render(self, now_s: float | None = None) -> str:
        """The window gauges' exposition text, made in one go."""
        for text in self._render_steps(now_s):
            if text is not None:
                return text
        raise AssertionError("_render_steps ends with the text")

    async def render_between_stages(self, now_s: float | None = None) -> str:
        """:meth:`render` for the worker's web server: it hands the loop back every few ms.

        A scrape after traffic computes every goal whose counts moved (about 0.5 ms a goal
        with the default windows, so 100 ms when 200 goals did); in one go that would hold
        every stage, and the prompts they decide, for that long. Each goal's rows are
        computed without a break, so a goal's figures are always of one moment. A rebalance
        in a break (the goals owned changed) starts the scrape again, then in one go: a goal
        that moved away must not show its new owner's view here, nor an empty one.
        """
        source = self.source
        owned = source.owned_goals() if source is not None else []
        started = time.perf_counter()
        for text in self._render_steps(now_s):
            if text is not None:
                return text
            if time.perf_counter() - started >= YIELD_EVERY_S:
                await asyncio.sleep(0)
                if source is not None and source.owned_goals() != owned:
                    return self.render(now_s)
                started = time.perf_counter()
        raise AssertionError("_render_steps ends with the text")

    def _render_steps(self, now_s: float | None) -> Iterator[str | None]:
        """``None`` after each goal computed anew (a point to hand the loop back), then the text."""
        source = self.source
        if source is None:
            yield ""
            return
        now_s = time.time() if now_s is None else now_s
        chunks: dict[str, list[str]] = {name: [] for name in _FAMILY_DOCS}
        rendered: dict[str, tuple[Hashable, dict[str, str]]] = {}
        owned = source.owned_goals()
        for goal in owned:
            key = source.rows_key(goal, now_s)
            kept = self._rendered.get(goal)
            if kept is None or kept[0] != key:
                kept = (key, self._goal_text(source.goal_rows(goal, now_s)))
                yield None
            rendered[goal] = kept
            for name, text in kept[1].items():
                chunks[name].append(text)
        self._rendered = rendered  # goals no longer owned are dropped
        chunks["ces_goal_target_ces_ratio"] = [
            f'ces_goal_target_ces_ratio{{goal="{goal}"}} {float(value)!r}'
            for goal in owned
            if (value := self.targets.get(goal)) is not None
        ]
        chunks[SURVEY_INFO_GAUGE] = [
            f'{SURVEY_INFO_GAUGE}{{goal="{goal}",survey="{survey}"}} 1.0'
            for goal in owned
            if (survey := self.surveys.get(goal)) is not None
        ]
        out: list[str] = []
        for name, doc in _FAMILY_DOCS.items():
            out.append(f"# HELP {name} {doc}\n# TYPE {name} gauge")
            out.extend(chunks[name])
        yield "\n".join(out) + "\n"

    def _goal_text(self, rows: list[tuple[str, WindowSpec, WindowFigures]]) -> dict[str, str]:
        """One goal's sample lines, per family (families without a sample left out)."""
        lines: dict[str, list[str]] = defaultdict(list)
        prefixes = self._prefixes
        for goal, spec, fig in rows:
            row = prefixes.get((goal, spec.name))
            if row is None:
                row = prefixes[(goal, spec.name)] = _RowPrefixes(goal, spec.name)
            for name, attr, prefix in row.gauges:
                value = getattr(fig, attr)
                if value is not None:  # a ratio with no denominator has no value: no sample
                    lines[name].append(prefix + repr(float(value)))
            by_score = lines["ces_goal_answers_by_score"]
            for score, count in fig.distribution.items():
                by_score.append(row.score_prefix(score) + repr(float(count)))
            outcomes = lines["ces_goal_outcomes"]
            for outcome, count in fig.outcomes.items():
                outcomes.append(row.outcomes[outcome] + repr(float(count)))
            if fig.timed_completions:
                durations = lines[DURATION_GAUGE]
                for attr, prefix in row.durations:
                    value = getattr(fig, attr)
                    if value is not None:
                        durations.append(prefix + repr(float(value)))
            segments = fig.segments
            if segments is not None:
                for attr, segment, answers_line, entries in row.split:
                    figures = getattr(segments, attr)[segment]
                    if not figures.answers:  # no answers: the count is 0 and nothing else has a value
                        lines[answers_line[0]].append(answers_line[1] + "0.0")
                        continue
                    for name, figure, prefix in entries:
                        value = getattr(figures, figure)
                        if value is not None:
                            lines[name].append(prefix + repr(float(value)))
                gap = segments.exit_gap
                if gap is not None:
                    for name, attr, prefix in row.gap:
                        lines[name].append(prefix + repr(float(getattr(gap, attr))))
                correction = segments.non_response
                if correction is not None:
                    for name, attr, prefix in row.non_response:
                        value = getattr(correction, attr)
                        if value is not None:
                            lines[name].append(prefix + repr(float(value)))
            if fig.nps is not None:  # only windows that hold NPS: other goals get no NPS series
                if row.nps is None:
                    row.nps = NpsRowPrefixes(row.labels)
                row.nps.add_lines(lines, fig.nps, split=segments is not None)
        return {name: "\n".join(family) for name, family in lines.items() if family}


# Every window family, in exposition order, with its help text.
_FAMILY_DOCS: dict[str, str] = {
    **{name: doc for name, doc, _ in WINDOW_GAUGES},
    "ces_goal_answers_by_score": "Answers per scale point in the sliding window.",
    "ces_goal_outcomes": "Goal outcomes in the sliding window (prompted or not).",
    DURATION_GAUGE: "Seconds from a goal's first start to its completion, quantiles of the timed completions "
    "in the sliding window (each within 2 %).",
    "ces_goal_target_ces_ratio": "Configured CES target of the goal.",
    SURVEY_INFO_GAUGE: 'The goal\'s own question (survey="ces" or "csat"), always 1; for a CSAT goal the '
    "ces_goal_ces_ratio families are its CSAT share.",
    **{
        f"{base}_{attr}": f"{doc}, {what} (CES_SPLIT_WINDOWS only)."
        for base, doc, _ in SPLIT_GAUGES
        for _, attr, what in SPLITS
    },
    **{name: doc for name, doc, _ in EXIT_GAP_GAUGES},
    **{name: doc for name, doc, _ in NON_RESPONSE_GAUGES},
    **NPS_FAMILY_DOCS,
}


class _RowPrefixes:
    """The sample-line prefixes (name and labels) of one goal and window, made once."""

    __slots__ = ("durations", "gap", "gauges", "labels", "non_response", "nps", "outcomes", "scores", "split")

    def __init__(self, goal: str, window: str) -> None:
        labels = self.labels = f'goal="{goal}",window="{window}"'
        self.gauges = [(name, attr, f"{name}{{{labels}}} ") for name, _, attr in WINDOW_GAUGES]
        self.scores: dict[int, str] = {}
        self.outcomes = {name: f'ces_goal_outcomes{{{labels},outcome="{name}"}} ' for name in OUTCOMES}
        self.durations = [
            (attr, f'{DURATION_GAUGE}{{{labels},quantile="{q}"}} ') for q, attr in DURATION_QUANTILE_ATTRS
        ]
        # Per segment: (split attribute, segment, (answers family, its prefix), [(family, figure, prefix)]).
        self.split = []
        for label, attr, _ in SPLITS:
            for segment in OUTCOMES if label == "outcome" else CHANNELS:
                entries = [
                    (f"{base}_{attr}", figure, f'{base}_{attr}{{{labels},{label}="{segment}"}} ')
                    for base, _, figure in SPLIT_GAUGES
                ]
                self.split.append((attr, segment, (entries[0][0], entries[0][2]), entries))
        self.gap = [(name, attr, f"{name}{{{labels}}} ") for name, _, attr in EXIT_GAP_GAUGES]
        self.non_response = [(name, attr, f"{name}{{{labels}}} ") for name, _, attr in NON_RESPONSE_GAUGES]
        self.nps: NpsRowPrefixes | None = None  # made at the row's first NPS figures

    def score_prefix(self, score: int) -> str:
        prefix = self.scores.get(score)
        if prefix is None:  # scale points: a handful per goal
            prefix = self.scores[score] = f'ces_goal_answers_by_score{{{self.labels},score="{score}"}} '
        return prefix
