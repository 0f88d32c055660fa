"""The goal summary's example: the worked example of docs/domain.md as one closed window's summary.

Apart from the other examples (``schemas.examples``) because it is as long as all of them together.
"""

from __future__ import annotations

from typing import Any

WORKED_EXAMPLE_SPLIT: dict[tuple[str, str], dict[int, int]] = {
    ("completed", "web"): {5: 28, 4: 12, 3: 1, 2: 2, 1: 2},
    ("completed", "ios"): {5: 7, 4: 3, 3: 1, 2: 2, 1: 2},
    ("abandoned", "web"): {5: 1, 4: 2, 3: 1, 2: 5, 1: 8},
    ("abandoned", "ios"): {5: 2, 4: 1, 3: 1, 2: 2, 1: 2},
    ("abandoned_inferred", "web"): {5: 1, 4: 1, 3: 1, 2: 2, 1: 3},
    ("abandoned_inferred", "ios"): {5: 1, 4: 1, 3: 0, 2: 2, 1: 3},
}
"""The GoalSummary example's answers by (outcome, channel) -> {score: answers}: the worked example
(40 x 5, 20 x 4, 5 x 3, 15 x 2, 20 x 1) with 60 answers at completion and 40 at exits, 70 on web and 30 on iOS."""

WORKED_EXAMPLE_ATTEMPTS: dict[tuple[str, str], int] = {
    ("completed", "web"): 1050,
    ("completed", "ios"): 450,
    ("abandoned", "web"): 240,
    ("abandoned", "ios"): 60,
    ("abandoned_inferred", "web"): 150,
    ("abandoned_inferred", "ios"): 50,
}
"""The attempts (goal outcomes) behind those answers, per (outcome, channel): the example's 1 500
completions, 300 abandonments and 200 inferred abandonments, 70 % of each on web."""


def _cells() -> list[dict[str, Any]]:
    """The example's counts per outcome and channel (positive: scores 4 and 5 of the five-point scale)."""
    return [
        {
            "outcome": outcome,
            "channel": channel,
            "attempts": attempts,
            "answers": sum(WORKED_EXAMPLE_SPLIT[(outcome, channel)].values()),
            "positive": sum(n for score, n in WORKED_EXAMPLE_SPLIT[(outcome, channel)].items() if score >= 4),
        }
        for (outcome, channel), attempts in WORKED_EXAMPLE_ATTEMPTS.items()
    ]


_NO_ANSWERS: dict[str, Any] = {
    "answers": 0,
    "positive": 0,
    "neutral": 0,
    "negative": 0,
    "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    "mean_score": None,
    "ces_ratio": None,
    "wilson_lower": None,
    "wilson_upper": None,
}

NPS_EXAMPLE: dict[str, Any] = {
    # The NPS worked example (issue 21): 100 answers, 50 promoters, 30 passives, 20 detractors: NPS 0.3.
    "answers": 100,
    "promoters": 50,
    "passives": 30,
    "detractors": 20,
    "promoter_share": 0.5,
    "passive_share": 0.3,
    "detractor_share": 0.2,
    "nps": 0.3,
    "nps_lower": 0.0931,
    "nps_upper": 0.4894,
    "distribution": {"0": 2, "1": 1, "2": 1, "3": 2, "4": 3, "5": 5, "6": 6, "7": 12, "8": 18, "9": 22, "10": 28},
    "prompts": 250,
    "response_ratio": 0.4,
    "shown": 200,
    "dismissed": 60,
    "by_channel": {
        "web": {
            "answers": 70,
            "promoters": 38,
            "passives": 20,
            "detractors": 12,
            "nps": 0.3714,
            "nps_lower": 0.1268,
            "nps_upper": 0.5855,
        },
        "ios": {
            "answers": 30,
            "promoters": 12,
            "passives": 10,
            "detractors": 8,
            "nps": 0.1333,
            "nps_lower": -0.2366,
            "nps_upper": 0.479,
        },
    },
    # 30 of the users had a high-effort CES answer shortly before: they recommend markedly less.
    "high_effort": {
        "answers": 30,
        "promoters": 9,
        "passives": 6,
        "detractors": 15,
        "nps": -0.2,
        "nps_lower": -0.5675,
        "nps_upper": 0.2038,
    },
    "rest": {
        "answers": 70,
        "promoters": 41,
        "passives": 24,
        "detractors": 5,
        "nps": 0.5143,
        "nps_lower": 0.3007,
        "nps_upper": 0.6856,
    },
    "high_effort_gap": {"difference": -0.7143, "lower": -1.106, "upper": -0.244},
}
"""The ``nps`` part of a GoalSummary of a goal that is an NPS moment (the example summary's goal is none):
the figures at the example's confidence (0.99), rounded."""


GOAL_SUMMARY_EXAMPLE: dict[str, Any] = {
    # The worked example of docs/domain.md: 40 x 5, 20 x 4, 5 x 3, 15 x 2, 20 x 1.
    "schema_version": 6,
    "goal": "download-invoice",
    "window": "1h",
    "window_seconds": 3600,
    "window_start": "2025-01-31T08:00:00Z",
    "window_end": "2025-01-31T09:00:00Z",
    "answers": 100,
    "positive": 60,
    "neutral": 5,
    "negative": 35,
    "distribution": {"1": 20, "2": 15, "3": 5, "4": 20, "5": 40},
    "mean_score": 3.45,
    "ces_ratio": 0.6,
    "net_effort": 0.25,
    "most_negative_ratio": 0.2,
    "wilson_lower": 0.4714,
    "wilson_upper": 0.7161,
    "confidence": 0.99,
    "prompts": 400,
    "response_ratio": 0.25,
    "outcomes": {"completed": 1500, "abandoned": 300, "abandoned_inferred": 200},
    "completion_ratio": 0.75,
    # Split: 60 answers at completion, 40 at exits; 70 on web, 30 on iOS (docs/metrics.md "Segments").
    "by_outcome": {
        "completed": {
            "answers": 60,
            "positive": 50,
            "neutral": 2,
            "negative": 8,
            "distribution": {"1": 4, "2": 4, "3": 2, "4": 15, "5": 35},
            "mean_score": 4.2167,
            "ces_ratio": 0.8333,
            "wilson_lower": 0.678,
            "wilson_upper": 0.9223,
        },
        "abandoned": {
            "answers": 25,
            "positive": 6,
            "neutral": 2,
            "negative": 17,
            "distribution": {"1": 10, "2": 7, "3": 2, "4": 3, "5": 3},
            "mean_score": 2.28,
            "ces_ratio": 0.24,
            "wilson_lower": 0.0915,
            "wilson_upper": 0.4976,
        },
        "abandoned_inferred": {
            "answers": 15,
            "positive": 4,
            "neutral": 1,
            "negative": 10,
            "distribution": {"1": 6, "2": 4, "3": 1, "4": 2, "5": 2},
            "mean_score": 2.3333,
            "ces_ratio": 0.2667,
            "wilson_lower": 0.0831,
            "wilson_upper": 0.5934,
        },
    },
    "by_channel": {
        "web": {
            "answers": 70,
            "positive": 45,
            "neutral": 3,
            "negative": 22,
            "distribution": {"1": 13, "2": 9, "3": 3, "4": 15, "5": 30},
            "mean_score": 3.5714,
            "ces_ratio": 0.6429,
            "wilson_lower": 0.489,
            "wilson_upper": 0.772,
        },
        "ios": {
            "answers": 30,
            "positive": 15,
            "neutral": 2,
            "negative": 13,
            "distribution": {"1": 7, "2": 6, "3": 2, "4": 5, "5": 10},
            "mean_score": 3.1667,
            "ces_ratio": 0.5,
            "wilson_lower": 0.2872,
            "wilson_upper": 0.7128,
        },
        "android": _NO_ANSWERS,
        "other": _NO_ANSWERS,
    },
    "at_exits": {
        "answers": 40,
        "positive": 10,
        "neutral": 3,
        "negative": 27,
        "distribution": {"1": 16, "2": 11, "3": 3, "4": 5, "5": 5},
        "mean_score": 2.3,
        "ces_ratio": 0.25,
        "wilson_lower": 0.1184,
        "wilson_upper": 0.4527,
    },
    "exit_gap": {
        "ces_ratio_gap": -0.5833,
        "lower": -0.7422,
        "upper": -0.3279,
        "significant": True,
        "exit_answers": 40,
        "completion_answers": 60,
    },
    "completion_vs_all": {
        "completion_only_ces_ratio": 0.8333,
        "all_outcomes_ces_ratio": 0.6,
        "overstatement": 0.2333,
    },
    "target_ces_ratio": 0.8,
    "emitted_at": "2025-01-31T09:00:30Z",
    # 1 200 of the 1 500 completions had a start the worker saw; 180 of them were started twice or more.
    "measured_effort": {
        "timed_completions": 1200,
        "retried": 180,
        "retry_ratio": 0.15,
        "duration_p50_seconds": 45.6,
        "duration_p90_seconds": 124.0,
        "duration_p99_seconds": 244.8,
        "relative_accuracy": 0.02,
        # 1 200 completions in six buckets (a real histogram has more); the quantiles, rounded, read from it.
        "duration_histogram": {"52": 180, "76": 310, "96": 420, "121": 170, "138": 108, "168": 12},
    },
    # 55 of the 60 answers at completion followed a timed completion: the slow ones were rated harder.
    "by_duration_band": {
        "<30s": {
            "answers": 20,
            "positive": 20,
            "neutral": 0,
            "negative": 0,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 2, "5": 18},
            "mean_score": 4.9,
            "ces_ratio": 1.0,
            "wilson_lower": 0.7509,
            "wilson_upper": 1.0,
        },
        "30s-2m": {
            "answers": 25,
            "positive": 23,
            "neutral": 1,
            "negative": 1,
            "distribution": {"1": 0, "2": 1, "3": 1, "4": 8, "5": 15},
            "mean_score": 4.48,
            "ces_ratio": 0.92,
            "wilson_lower": 0.6796,
            "wilson_upper": 0.9842,
        },
        "2m-10m": {
            "answers": 10,
            "positive": 5,
            "neutral": 1,
            "negative": 4,
            "distribution": {"1": 2, "2": 2, "3": 1, "4": 3, "5": 2},
            "mean_score": 3.1,
            "ces_ratio": 0.5,
            "wilson_lower": 0.1842,
            "wilson_upper": 0.8158,
        },
        "10m+": _NO_ANSWERS,
    },
    # The same window weighed by attempts: completions on web and iOS hold enough answers on their own;
    # abandonments on iOS and inferred abandonments on web do not (8 each), so each exit outcome is one
    # stratum over its channels. The exits are 25 % of the attempts but 40 % of the answers: corrected 0.68.
    # The app behind this goal reports prompt events: 320 of the 400 prompts were shown, 150 dismissed.
    "funnel": {
        "sent": 400,
        "shown": 320,
        "dismissed": 150,
        "answered": 100,
        "shown_ratio": 0.8,
        "dismissal_ratio": 0.4688,
        "response_ratio_shown": 0.3125,
    },
    "non_response": {
        "ces_ratio": 0.6793,
        "lower": 0.5652,
        "upper": 0.7934,
        "min_answers_per_stratum": 10,
        "asked_outcomes": ["completed", "abandoned", "abandoned_inferred"],
        "strata": [
            {
                "outcome": "completed",
                "channel": "web",
                "attempts": 1050,
                "answers": 45,
                "positive": 40,
                "weight": 0.525,
                "ces_ratio": 0.8889,
            },
            {
                "outcome": "completed",
                "channel": "ios",
                "attempts": 450,
                "answers": 15,
                "positive": 10,
                "weight": 0.225,
                "ces_ratio": 0.6667,
            },
            {
                "outcome": "abandoned",
                "channel": "all",
                "attempts": 300,
                "answers": 25,
                "positive": 6,
                "weight": 0.15,
                "ces_ratio": 0.24,
            },
            {
                "outcome": "abandoned_inferred",
                "channel": "all",
                "attempts": 200,
                "answers": 15,
                "positive": 4,
                "weight": 0.1,
                "ces_ratio": 0.2667,
            },
        ],
        "cells": _cells(),
        "thin_strata": [],
        "unasked_attempts": 0,
        "complete": True,
        "if_silent_dissatisfied": 0.1875,
        "if_silent_satisfied": 0.875,
    },
    # A CES goal (its own question), not a moment for the NPS question: no NPS figures.
    "survey": "ces",
    "nps": None,
    # The answers whose goal events named an app version, per release: web moved to 2025.01.4 at 08:35.
    "releases": [
        {
            "channel": "ios",
            "version": "ios-5.2.0",
            "first_seen": "2025-01-31T08:00:00Z",
            "answers": 30,
            "positive": 15,
            "ces_ratio": 0.5,
            "mean_score": 3.2,
        },
        {
            "channel": "web",
            "version": "web-2025.01.4",
            "first_seen": "2025-01-31T08:35:00Z",
            "answers": 20,
            "positive": 10,
            "ces_ratio": 0.5,
            "mean_score": 3.1,
        },
        {
            "channel": "web",
            "version": "web-2025.01.3",
            "first_seen": "2025-01-31T08:00:00Z",
            "answers": 50,
            "positive": 35,
            "ces_ratio": 0.7,
            "mean_score": 3.72,
        },
    ],
}
"""The GoalSummary example: one hour of ``download-invoice``, split by outcome and channel, per release."""
