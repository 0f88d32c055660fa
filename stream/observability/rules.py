"""Prometheus recording and alert rules for ces-stream, generated from the goal registry and the settings.

One source of truth: ``ces-stream monitoring`` writes these rules (and their promtool tests,
the Alertmanager config and the dashboards) from the same registry and settings the worker
reads. The CES alerts follow ``docs/alert-statistics.md``: a window's CES only counts
once it holds the goal's minimum number of answers, and it is "below" a threshold only when
the *upper* bound of its Wilson interval (``CES_WILSON_CONFIDENCE``, 99 %) is, so a quiet
goal is not paged on noise; several windows at once catch a drop fast at any volume.

Per-goal thresholds and owners travel as static recording rules (``registry_rules``): a generic
alert rule reads them, so 200 goals need no 200 copies of each alert, and Prometheus shows which
threshold applies. Each goal alert carries its goal's ``team``; the pipeline's alerts carry none.
The alerts on the funnel from goal event to answer are in ``funnel_rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.ces.goals import EXIT_OUTCOMES, format_duration, parse_duration, z_score
from stream.ces.registry import GoalRegistry
from stream.errors import SettingsError
from stream.observability.feed_rules import feed_webhook_alerts
from stream.observability.gateway_rules import gateway_alerts
from stream.observability.registry_rules import (
    EXIT_GAP_TOLERANCE,
    MIN_ANSWERS,
    NPS_TEAM,
    REGISTRY_GOAL,
    owned,
    registry_rules,
)
from stream.settings import Settings

RUNBOOK = "https://github.com/ces-stream/ces-stream/blob/main/deploy/runbook.md"
JOB = "ces-stream"  # the scrape job of deploy/prometheus/prometheus.yml

# Recording rule names (level:metric:operations), used by the alerts and the dashboards; the registry's are
# in registry_rules.
TARGET = "goal:ces_goal_target_ces_ratio:max"
BELOW_TARGET = "goal_window:ces_ratio_significantly_below_target:upper_bound"
EXIT_ANSWERS = "goal_window:ces_exit_answers:sum"
EXIT_POSITIVE = "goal_window:ces_exit_positive_answers:sum"
EXIT_RATIO = "goal_window:ces_exit_ces_ratio:ratio"
OUTCOMES_SUM = "goal_window:ces_goal_outcomes:sum"
COMPLETION_LOWER = "goal_window:ces_completion_ratio_wilson_lower:ratio"
COMPLETION_UPPER = "goal_window:ces_completion_ratio_wilson_upper:ratio"
GOAL_EVENTS_RATE = "goal:ces_goal_events:rate5m"
PROMPTS_RATE = "goal:ces_survey_prompts:rate5m"
ANSWERS_RATE = "goal:ces_survey_answers:rate5m"
INVALID_RATE = "topic_reason:ces_events_invalid:rate5m"
DEAD_LETTER_RATIO = ":ces_dead_letter:ratio_rate5m"
LATENCY_P99 = ":ces_prompt_decision_latency_seconds:p99_rate5m"
LAG = "topic:ces_consumer_lag_messages:sum"
# Worker gauges the rules read by name.
BASELINE_GAP_UPPER = "ces_goal_ces_ratio_baseline_gap_upper"
COMPLETION_GAP_UPPER = "ces_goal_completion_ratio_baseline_gap_upper"
CUSUM = "ces_goal_ces_cusum"
NPS_GAP_UPPER = "ces_goal_nps_baseline_gap_upper"
SURVEY_INFO = "ces_goal_survey_info"  # {goal, survey="ces"|"csat"} 1, from the worker that owns the goal
SEQUENTIAL_FOR = "1m"


class AlertPlan:
    """The windows and thresholds the rules use, checked against the worker's windows.

    :raises SettingsError: when an alert window is not one of ``CES_WINDOWS``, or a duration does not parse.
    """

    def __init__(self, settings: Settings) -> None:
        names = [spec.name for spec in settings.window_specs()]

        def window(text: str, what: str) -> str:
            try:
                name = format_duration(parse_duration(text))
            except ValueError as exc:
                raise SettingsError(f"{what}: {exc}") from None
            if name not in names:
                raise SettingsError(f"{what}: window {name} is not one of CES_WINDOWS ({', '.join(names)})")
            return name

        def duration(text: str, what: str) -> str:
            try:
                return format_duration(parse_duration(text))
            except ValueError as exc:
                raise SettingsError(f"{what}: {exc}") from None

        self.fast = [window(w, "CES_ALERT_WINDOWS") for w in settings.alert_windows]
        self.slow = window(settings.alert_slow_window, "CES_ALERT_SLOW_WINDOW")
        self.baseline = window(settings.alert_baseline_window, "CES_ALERT_BASELINE_WINDOW")
        self.for_ = format_duration(parse_duration(settings.alert_for))
        # A PromQL range, not a worker window: the counters' increase over it.
        self.survey_window = duration(settings.alert_survey_window, "CES_ALERT_SURVEY_WINDOW")
        self.survey_for = duration(settings.alert_survey_for, "CES_ALERT_SURVEY_FOR")
        # Drop against the baseline: the fast windows of an hour or more (shorter ones hold too few answers).
        self.drop = list(settings.baseline_gap_window_names())
        self.baseline_tolerance = settings.alert_baseline_drop_tolerance
        # The NPS spans -1..1, twice a share's range, and its sampling error is about twice a share's: the same
        # setting on the NPS scale (docs/alert-statistics.md, "The NPS baseline test").
        self.nps_tolerance = 2 * settings.alert_baseline_drop_tolerance
        self.sequential = settings.sequential_window_name()
        self.sequential_threshold = settings.alert_sequential_threshold
        self.shortest = names[0]
        self.split = sorted(settings.split_window_names(), key=parse_duration)
        self.z = z_score(settings.wilson_confidence)
        self.z_target = z_score(settings.alert_target_confidence)
        self.settings = settings


def _re(windows: list[str]) -> str:
    return "|".join(windows)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK}#{name.lower()}",
        },
    }


def _wilson_bound(p: str, n: str, z: float, sign: int) -> str:
    """PromQL of the Wilson bound (upper for ``sign`` +1, lower for -1) of ratio ``p`` on ``n`` trials."""
    z2 = z * z
    centre = f"({p} + {z2 / 2:.6f} / {n})"
    half = f"{z:.6f} * sqrt({p} * (1 - {p}) / {n} + {z2 / 4:.6f} / ({n} ^ 2))"
    scale = f"(1 + {z2:.6f} / {n})"
    if sign > 0:
        return f"clamp_max(({centre} + {half}) / {scale}, 1)"
    return f"clamp_min(({centre} - {half}) / {scale}, 0)"


def recording_rules(plan: AlertPlan) -> dict[str, Any]:
    """Figures the alerts and dashboards share, named ``level:metric:operations``."""
    exits = _re(list(EXIT_OUTCOMES))
    # Wilson bounds of the completion ratio from the outcome counts and the ratio.
    completion = "max by (goal, window) (ces_goal_completion_ratio)"
    # The page's own bound of the CES ratio, at CES_ALERT_TARGET_CONFIDENCE.
    ces_upper = _wilson_bound(
        "max by (goal, window) (ces_goal_ces_ratio)", "max by (goal, window) (ces_goal_answers)", plan.z_target, +1
    )
    rules = [
        {"record": TARGET, "expr": "max by (goal) (ces_goal_target_ces_ratio)"},
        {
            "record": BELOW_TARGET,
            "expr": (
                f"{ces_upper} < on (goal) group_left () {TARGET}\n"
                f"and on (goal, window)\n"
                f"max by (goal, window) (ces_goal_answers) >= on (goal) group_left () {MIN_ANSWERS}"
            ),
        },
        {"record": EXIT_ANSWERS, "expr": f'sum by (goal, window) (ces_goal_answers_by_outcome{{outcome=~"{exits}"}})'},
        {
            "record": EXIT_POSITIVE,
            "expr": f'sum by (goal, window) (ces_goal_positive_answers_by_outcome{{outcome=~"{exits}"}})',
        },
        {"record": EXIT_RATIO, "expr": f"{EXIT_POSITIVE} / ({EXIT_ANSWERS} > 0)"},
        {"record": OUTCOMES_SUM, "expr": "sum by (goal, window) (ces_goal_outcomes)"},
        {"record": COMPLETION_LOWER, "expr": _wilson_bound(completion, OUTCOMES_SUM, plan.z, -1)},
        {"record": COMPLETION_UPPER, "expr": _wilson_bound(completion, OUTCOMES_SUM, plan.z, +1)},
        {"record": GOAL_EVENTS_RATE, "expr": "sum by (goal) (rate(ces_goal_events_total[5m]))"},
        {"record": PROMPTS_RATE, "expr": "sum by (goal) (rate(ces_survey_prompts_total[5m]))"},
        {"record": ANSWERS_RATE, "expr": "sum by (goal) (rate(ces_survey_answers_total[5m]))"},
        {"record": INVALID_RATE, "expr": "sum by (topic, reason) (rate(ces_events_invalid_total[5m]))"},
        {
            "record": DEAD_LETTER_RATIO,
            "expr": (
                "sum (rate(ces_events_invalid_total[5m]))\n/ (sum (rate(ces_events_invalid_total[5m]))"
                " + sum (rate(ces_goal_events_total[5m])) + sum (rate(ces_survey_answers_total[5m])) > 0)"
            ),
        },
        {
            "record": LATENCY_P99,
            "expr": "histogram_quantile(0.99, sum by (le) (rate(ces_prompt_decision_latency_seconds_bucket[5m])))",
        },
        {"record": LAG, "expr": "sum by (topic) (ces_consumer_lag_messages)"},
    ]
    return {"name": "ces-stream-recording", "rules": rules}


@dataclass(frozen=True, slots=True)
class SurveyKind:
    """The goal's own question as its alerts name it: CES alerts for CES goals, CSAT alerts for CSAT goals.

    The figures are the same (the top-box share of the goal's own question, ``ces_goal_ces_ratio`` and
    friends); ``join`` keeps each goal to the alerts of its question, from the worker's ``ces_goal_survey_info``:
    a goal without it (an older worker) counts as CES.
    """

    prefix: str  # of the alert names
    name: str  # in the texts
    figure: str  # in the descriptions
    join: str  # appended to each expression


CES = SurveyKind("Ces", "CES", "CES ratio", f'\nunless on (goal) {SURVEY_INFO}{{survey="csat"}}')
CSAT = SurveyKind("Csat", "CSAT", "CSAT share", f'\nand on (goal) {SURVEY_INFO}{{survey="csat"}}')


def ces_alerts(plan: AlertPlan) -> dict[str, Any]:
    """The alerts on what users feel: CES (or CSAT), effort at exits, NPS, the survey itself, drop-off; each
    with the team that owns its goal (the NPS alert: the NPS's owner)."""
    # Imported here: the funnel's alerts are built with this module's plan and helpers.
    from stream.observability.funnel_rules import funnel_alerts

    rules = _share_alerts(plan, CES) + _share_alerts(plan, CSAT) + [_nps_dropped(plan)]
    return {"name": "ces-stream-goals", "rules": rules + funnel_alerts(plan)}


def _answers_template(family: str) -> str:
    """Alert template text: the count of ``family`` of the alert's goal and window (templates may query)."""
    return (
        f"{{{{ with printf \"max({family}{{goal='%s',window='%s'}})\" $labels.goal $labels.window | query }}}}"
        "{{ . | first | value }}{{ end }}"
    )


def _share_alerts(plan: AlertPlan, kind: SurveyKind) -> list[dict[str, Any]]:
    """The alerts on the top-box share of the goal's own question (below target, its CUSUM, below its
    baseline, lower at exits), named and joined for ``kind``: the same statistics for CES and CSAT goals."""
    answers = _answers_template("ces_goal_answers")
    target = (
        '{{ with printf "' + TARGET + "{goal='%s'}\" $labels.goal | query }}"
        "{{ . | first | value | humanizePercentage }}{{ end }}"
    )
    base, name, figure, join = plan.baseline, kind.name, kind.figure, kind.join
    rules = [
        _alert(
            f"{kind.prefix}BelowTarget",
            owned(f'{BELOW_TARGET}{{window=~"{_re(plan.fast)}"}}{join}'),
            plan.for_,
            "critical",
            f"{name} of a goal is significantly below its target.",
            f"Goal {{{{ $labels.goal }}}}: over the last {{{{ $labels.window }}}} the {figure} is at most "
            "{{ $value | humanizePercentage }} (upper bound of its Wilson interval), below the target "
            + target
            + ", on "
            + answers
            + " answers.",
        ),
        _alert(
            f"{kind.prefix}BelowTarget",
            owned(f'{BELOW_TARGET}{{window="{plan.slow}"}}{join}'),
            plan.for_,
            "warning",
            f"{name} of a goal has been significantly below its target for a day.",
            f"Goal {{{{ $labels.goal }}}}: over the last {{{{ $labels.window }}}} the {figure} is at most "
            "{{ $value | humanizePercentage }} (upper Wilson bound), below the target "
            + target
            + ", on "
            + answers
            + " answers.",
        ),
        *_sequential_alert(plan, kind),
        _alert(
            f"{kind.prefix}DroppedBelowBaseline",
            owned(
                f'-max by (goal, window) ({BASELINE_GAP_UPPER}{{window=~"{_re(plan.drop)}"}})'
                f" > {plan.baseline_tolerance:g}\n"
                f"and on (goal, window) max by (goal, window) (ces_goal_answers) >= on (goal) group_left () {MIN_ANSWERS}\n"
                f'and on (goal) max by (goal) (ces_goal_answers{{window="{base}"}}) >= on (goal) group_left () {MIN_ANSWERS}'
                f"{join}"
            ),
            plan.for_,
            "warning",
            f"{name} of a goal dropped significantly below its own baseline.",
            f"Goal {{{{ $labels.goal }}}}: the {figure} of the last {{{{ $labels.window }}}} is at least "
            "{{ $value | humanizePercentage }} (percentage points, the bound of its interval) below that of the "
            "rest of its " + base + " baseline, on " + answers + " answers.",
        ),
    ]
    if plan.split:
        gap_window = plan.split[-1]  # the longest split window: exits are a minority of answers
        harder = "find it much harder" if kind is CES else "are much less satisfied"
        rules.append(
            _alert(
                "CesEffortAtExits" if kind is CES else "CsatLowerAtExits",
                owned(
                    f'max by (goal, window) (ces_goal_exit_ces_gap_upper{{window="{gap_window}"}})\n'
                    f"< on (goal) group_left () (-{EXIT_GAP_TOLERANCE}){join}"
                ),
                "1h",
                "warning",
                f"Users who leave a goal {harder} than those who complete it.",
                f"Goal {{{{ $labels.goal }}}}: over the last {{{{ $labels.window }}}} {name} at exits is below {name} at "
                "completion by more than the goal's tolerance: the gap is at most {{ $value | humanizePercentage }} "
                "(upper bound of its interval).",
            )
        )
    return rules


def _nps_dropped(plan: AlertPlan) -> dict[str, Any]:
    """The NPS of a gap window below that of the rest of the baseline by more than its tolerance, beyond doubt."""
    base = plan.baseline
    return _alert(
        "NpsDroppedBelowBaseline",
        owned(
            f'-max by (goal, window) ({NPS_GAP_UPPER}{{window=~"{_re(plan.drop)}"}}) > {plan.nps_tolerance:g}\n'
            f"and on (goal, window) max by (goal, window) (ces_goal_nps_answers) >= on (goal) group_left () {MIN_ANSWERS}\n"
            f'and on (goal) max by (goal) (ces_goal_nps_answers{{window="{base}"}}) >= on (goal) group_left () {MIN_ANSWERS}',
            NPS_TEAM,  # the NPS's owner, else the goal's
        ),
        plan.for_,
        "warning",
        "The NPS asked at a goal's moments dropped significantly below its own baseline.",
        "Goal {{ $labels.goal }}: the NPS of the last {{ $labels.window }} is at least "
        '{{ $value | printf "%.2f" }} (NPS from -1 to 1, the bound of its interval) below that of the rest of its '
        + base
        + " baseline, on "
        + _answers_template("ces_goal_nps_answers")
        + " NPS answers.",
    )


def _sequential_alert(plan: AlertPlan, kind: SurveyKind = CES) -> list[dict[str, Any]]:
    """The CUSUM of a drop below target (the worker's ``ces_goal_ces_cusum``) above its threshold."""
    if plan.sequential is None:
        return []
    return [
        _alert(
            f"{kind.prefix}BelowTargetSequential",
            owned(
                f'max by (goal, window) ({CUSUM}{{window="{plan.sequential}"}}) > {plan.sequential_threshold:g}{kind.join}'
            ),
            SEQUENTIAL_FOR,
            "critical",
            "The answers of a goal point strongly to a " + kind.name + " below its target.",
            "Goal {{ $labels.goal }}: the CUSUM of its answers over the last {{ $labels.window }} is "
            '{{ $value | printf "%.1f" }}, above ' + f"{plan.sequential_threshold:g}" + ": since some moment "
            "in that window its answers are far likelier from a " + kind.name + " well below the target than at it.",
        )
    ]


def pipeline_alerts(plan: AlertPlan) -> dict[str, Any]:
    """The alerts on the pipeline itself."""
    s = plan.settings
    return {
        "name": "ces-stream-pipeline",
        "rules": [
            _alert(
                "CesWorkerDown",
                f'up{{job="{JOB}"}} == 0',
                "2m",
                "critical",
                "A ces-stream worker cannot be scraped.",
                "{{ $labels.instance }} has been down for 2 minutes: its partitions move to the other workers, "
                "or nothing is processed if it was the only one.",
            ),
            _alert(
                "CesWorkerNotReady",
                f'ces_worker_ready{{job="{JOB}"}} == 0',
                "5m",
                "critical",
                "A ces-stream worker is running but not ready.",
                "{{ $labels.instance }} has not been ready for 5 minutes: the broker does not answer it, a partition "
                "it owns is stalled, or it is still rebalancing; its /health says which.",
            ),
            _alert(
                "CesGoalNotExported",
                f'{REGISTRY_GOAL} unless on (goal) ces_goal_answers{{window="{plan.shortest}"}}',
                "5m",
                "critical",
                "No worker exports a goal of the registry.",
                "Goal {{ $labels.goal }} is in the goal registry but no worker exports its figures: a partition of "
                "the goal stage is not owned, or the workers run with another registry.",
            ),
            _alert(
                "CesConsumerLagGrowing",
                f"{LAG} > {s.alert_lag_messages} and deriv({LAG}[10m]) > 0",
                "10m",
                "warning",
                "Consumer lag is high and growing.",
                'Topic {{ $labels.topic }}: {{ $value | printf "%.0f" }} records not yet processed and still '
                "growing: the workers do not keep up.",
            ),
            _alert(
                "CesDeadLetterShareHigh",
                f"{DEAD_LETTER_RATIO} > {s.alert_dead_letter_ratio:g}",
                "10m",
                "warning",
                "A high share of input records goes to the dead-letter topic.",
                "{{ $value | humanizePercentage }} of the input records of the last 5 minutes were dead-lettered; "
                "see ces_events_invalid_total by topic and reason.",
            ),
            _alert(
                "CesDecisionLatencyHigh",
                f"{LATENCY_P99} > {s.alert_decision_latency_seconds:g}",
                "10m",
                "warning",
                "Survey prompts are decided slowly.",
                "The 99th percentile of prompt decision latency is {{ $value | humanizeDuration }}.",
            ),
        ],
    }


def rule_file(settings: Settings, registry: GoalRegistry) -> dict[str, Any]:
    """The whole rule file: registry values, recording rules, goal alerts, pipeline alerts, the feed webhook's and
    the gateway's."""
    plan = AlertPlan(settings)
    groups = [registry_rules(registry), recording_rules(plan), ces_alerts(plan), pipeline_alerts(plan)]
    return {"groups": [*groups, feed_webhook_alerts(_alert), gateway_alerts(_alert, settings.gateway_max_streams)]}
