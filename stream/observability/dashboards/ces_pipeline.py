"""The ``ces-pipeline`` dashboard: the workers themselves."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import units

from stream.ces.registry import GoalRegistry
from stream.observability.dashboards.builders import dashboard, series_panel, stat_panel
from stream.observability.rules import (
    ANSWERS_RATE,
    DEAD_LETTER_RATIO,
    GOAL_EVENTS_RATE,
    INVALID_RATE,
    JOB,
    LAG,
    LATENCY_P99,
    PROMPTS_RATE,
)
from stream.settings import Settings


def pipeline(settings: Settings, registry: GoalRegistry) -> dict:
    """The workers themselves: throughput, lag, dead letters, latency, gaps, freshness."""
    up = f'up{{job="{JOB}"}}'
    stats = [
        stat_panel("Workers up", "Workers Prometheus can scrape.", units.Short, f"sum({up})"),
        stat_panel(
            "Goal events per second",
            "Valid goal events consumed per second (5 minute rate).",
            units.OpsPerSecond,
            f"sum({GOAL_EVENTS_RATE})",
        ),
        stat_panel(
            "Dead-letter share",
            "Share of input records sent to the dead-letter topic (5 minute rate).",
            units.PercentUnit,
            DEAD_LETTER_RATIO,
            alert_at=settings.alert_dead_letter_ratio,
        ),
        stat_panel(
            "Decision latency p99",
            "99th percentile of the time from goal event to survey prompt (5 minutes).",
            units.Seconds,
            LATENCY_P99,
            alert_at=settings.alert_decision_latency_seconds,
        ),
        stat_panel("Consumer lag", "Records not yet processed, all topics together.", units.Short, f"sum({LAG})"),
        stat_panel(
            "Last event age",
            "Time since the most recent event was processed, any topic.",
            units.Seconds,
            "time() - max(ces_last_event_processed_timestamp_seconds)",
        ),
    ]
    throughput = [
        series_panel(
            "Throughput",
            "Goal events consumed, survey prompts produced and answers counted, per second.",
            units.OpsPerSecond,
            [
                (f"sum({GOAL_EVENTS_RATE})", "goal events"),
                (f"sum({PROMPTS_RATE})", "prompts"),
                (f"sum({ANSWERS_RATE})", "answers"),
            ],
        ),
        series_panel(
            "Suppressed prompts",
            "Goal events that did not lead to a prompt, per second and reason.",
            units.OpsPerSecond,
            [("sum by (reason) (rate(ces_survey_prompts_suppressed_total[$__rate_interval]))", "{{reason}}")],
        ),
    ]
    return dashboard(
        "ces-pipeline",
        "CES pipeline",
        "Health and throughput of the ces-stream workers.",
        [],
        [(None, False, stats), ("Throughput", False, throughput), ("Health", False, _health(up))],
    )


def _health(up: str) -> list[Any]:
    latency = "sum by (le) (rate(ces_prompt_decision_latency_seconds_bucket[$__rate_interval]))"
    return [
        series_panel(
            "Consumer lag", "Records not yet processed and committed, per topic.", units.Short, [(LAG, "{{topic}}")]
        ),
        series_panel(
            "Last event age",
            "Time since the last event of each topic was processed.",
            units.Seconds,
            [("time() - max by (topic) (ces_last_event_processed_timestamp_seconds)", "{{topic}}")],
        ),
        series_panel(
            "Dead letters",
            "Input records sent to the dead-letter topic per second, per topic and reason.",
            units.OpsPerSecond,
            [(INVALID_RATE, "{{topic}} {{reason}}")],
        ),
        series_panel(
            "Dead-letter share",
            "Share of input records sent to the dead-letter topic.",
            units.PercentUnit,
            [(DEAD_LETTER_RATIO, "dead-letter share")],
        ),
        series_panel(
            "Prompt decision latency",
            "Median and 99th percentile of the time from goal event to survey prompt.",
            units.Seconds,
            [(f"histogram_quantile(0.5, {latency})", "p50"), (f"histogram_quantile(0.99, {latency})", "p99")],
        ),
        series_panel(
            "Offset gaps",
            "Holes in the consumed offsets over the last hour, per topic and verdict (unreadable "
            "means a worker stopped).",
            units.Short,
            [("sum by (topic, verdict) (increase(ces_offset_gaps_total[1h]))", "{{topic}} {{verdict}}")],
        ),
        series_panel(
            "Workers up and ready",
            "Per worker, 1 or 0: up (Prometheus scrapes it), ready (/health: the broker "
            "answers it, nothing stalled), broker reachable; and its stalled partitions.",
            units.Short,
            [
                (up, "{{instance}} up"),
                ("ces_worker_ready", "{{instance}} ready"),
                ("ces_broker_reachable", "{{instance}} broker"),
                ("sum by (instance) (ces_stalled_partitions)", "{{instance}} stalled"),
            ],
            (24, 6),
        ),
    ]
