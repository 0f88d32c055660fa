"""The figures of ``ces-stream alert-quality`` as a Markdown table, one per alert."""

from __future__ import annotations

from typing import Any

STEP_MINUTES = 1


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _bounds(bounds: list[float | None], digits: str = "g") -> str:
    low, high = bounds
    text = [("-" if low is None else format(low, digits)), ("∞" if high is None else format(high, digits))]
    return f"[{text[0]}, {text[1]}]"


def format_table(report: dict[str, Any]) -> str:
    """One alert's figures with their 95 % intervals, headed by the rule parameters and the simulation."""
    rule, sim = report["rule"], report["simulation"]
    horizon = sim["detection_horizon_minutes"]
    what = f"healthy {sim['healthy_ces']:g}, target {sim['target']:g}, dropped {sim['dropped_ces']:g}"
    if "nps_promoters" in sim:  # NPS answers: promoters healthy -> dropped, passives fixed
        healthy, dropped = sim["nps_promoters"]
        what = f"NPS promoters {healthy:g} -> {dropped:g}, passives {sim['nps_passives']:g}"
    lines = [
        f"{rule['alert']} ({rule['severity']}) as generated, evaluated every {STEP_MINUTES}m by {rule['evaluated_by']}",
        f"rule: windows {','.join(rule['windows'])}, for {rule['for']}, min answers {rule['min_answers']}, "
        f"confidence {rule['confidence']:g}, CesBelowTarget's bound {rule.get('target_confidence', rule['confidence']):g}",
        f"simulation ({sim.get('events', 'answers')}): {what}; "
        f"per rate {sim['healthy_goal_weeks_per_rate']} healthy goal-weeks and {sim['drops_per_rate']} drops "
        f"(missed = not detected within {horizon} min); seed {sim['seed']}; [95 % intervals]",
        "",
        "| answers/h | false alerts per goal-week | healthy time firing | detection median (min) "
        "| detection p90 (min) | missed |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rates"]:
        fa = row["false_alerts_per_goal_week"]
        share = row.get("healthy_firing_share")
        lines.append(
            f"| {row['answers_per_hour']:g} "
            f"| {'-' if fa is None else f'{fa:.3f}'} ({row['false_alerts']}/{row['healthy_goal_weeks']}) "
            f"{_bounds(row['false_alerts_per_goal_week_ci95'], '.3f')} "
            f"| {'-' if share is None else f'{share:.3%}'} {_bounds(row['healthy_firing_share_ci95'], '.3%')} "
            f"| {_minutes(row['detection_median_minutes'])} {_bounds(row['detection_median_ci95'])} "
            f"| {_minutes(row['detection_p90_minutes'])} {_bounds(row['detection_p90_ci95'])} "
            f"| {row['missed']}/{row['drops']} {_bounds(row['missed_share_ci95'], '.2f')} |"
        )
    lines.append(f"\n({report['elapsed_s']} s)")
    return "\n".join(lines)
