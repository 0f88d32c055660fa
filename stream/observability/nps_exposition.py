"""The NPS gauges of /metrics: the NPS question asked at a goal's moments, per goal and window.

A window writes them only when its figures hold NPS (``WindowFigures.nps``: an NPS answer, prompt or
prompt event in the window), so goals that are no NPS moment cost no series at all. The NPS is a
fraction from -1 to 1 like every ratio here (x 100 for the usual -100..+100). The split by channel
and by recent effort is on the split windows only (``CES_SPLIT_WINDOWS``), like the CES split;
:class:`~stream.observability.window_exposition.WindowExposition` writes the lines.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from stream.ces.goals import CHANNELS, HIGH_EFFORT, REST
from stream.ces.goals.nps import NpsFigures, NpsWindowFigures

__all__ = [
    "NPS_BAND_GAUGE",
    "NPS_BASELINE_GAP_GAUGES",
    "NPS_FAMILY_DOCS",
    "NPS_GAP_GAUGES",
    "NPS_GAUGES",
    "NpsRowPrefixes",
    "nps_split_metric_names",
]

# (metric name, help, attribute of NpsWindowFigures, dotted) of every window that holds NPS; None: no sample.
NPS_GAUGES = (
    (
        "ces_goal_nps_answers",
        "Answers to the NPS question asked at the goal's moments in the sliding window.",
        "figures.answers",
    ),
    (
        "ces_goal_nps",
        "NPS of those answers: (promoters - detractors) / answers, from -1 to 1 (x 100 for -100..100).",
        "figures.nps",
    ),
    ("ces_goal_nps_lower", "Lower bound of the adjusted-Wald interval of the NPS.", "figures.lower"),
    ("ces_goal_nps_upper", "Upper bound of the adjusted-Wald interval of the NPS.", "figures.upper"),
    ("ces_goal_nps_prompts", "NPS prompts sent at the goal's moments in the sliding window.", "prompts"),
    ("ces_goal_nps_response_ratio", "NPS answers / NPS prompts in the sliding window.", "response_ratio"),
)
NPS_BAND_GAUGE = "ces_goal_nps_answers_by_band"
# (band label, attribute of NpsFigures).
NPS_BANDS = (("promoter", "promoters"), ("passive", "passives"), ("detractor", "detractors"))

# (blended name, help, attribute of NpsFigures) of the per-channel and per-effort-group gauges, exported
# for the split windows only as <blended name>_by_channel / _by_effort; answers first.
NPS_SPLIT_GAUGES = (
    ("ces_goal_nps_answers", "NPS answers in the sliding window", "answers"),
    ("ces_goal_nps", "NPS (-1..1)", "nps"),
    ("ces_goal_nps_lower", "Lower bound of the adjusted-Wald interval of the NPS", "lower"),
    ("ces_goal_nps_upper", "Upper bound of the adjusted-Wald interval of the NPS", "upper"),
)
NPS_SPLITS = (
    ("channel", "by_channel", "per channel of the goal attempt, channels with NPS answers only"),
    (
        "group",
        "by_effort",
        "per recent effort (high_effort: a high-effort CES answer shortly before; rest), only once both "
        "groups hold nps.high_effort.min_answers answers",
    ),
)
# (metric name, help, index in NpsWindowFigures.high_effort_gap), on the split windows once both groups
# hold their minimum of answers.
NPS_GAP_GAUGES = (
    (
        "ces_goal_nps_high_effort_gap",
        "NPS of the users with a recent high-effort CES answer minus that of the rest (-2..2); only once "
        "both groups hold nps.high_effort.min_answers answers (CES_SPLIT_WINDOWS only).",
        0,
    ),
    ("ces_goal_nps_high_effort_gap_lower", "Lower bound of the interval of the high-effort NPS gap.", 1),
    ("ces_goal_nps_high_effort_gap_upper", "Upper bound of the interval of the high-effort NPS gap.", 2),
)

# (metric name, help, index in NpsWindowFigures.baseline_gap), on the gap windows (the alert windows of an hour or
# more) once both the window and the rest of CES_ALERT_BASELINE_WINDOW hold the goal's alerting.min_answers.
NPS_BASELINE_GAP_GAUGES = (
    (
        "ces_goal_nps_baseline_gap",
        "NPS of the window minus that of the rest of the baseline window (CES_ALERT_BASELINE_WINDOW without this "
        "window), -2..2; gap windows only, once both sides hold the goal's alerting.min_answers NPS answers.",
        0,
    ),
    ("ces_goal_nps_baseline_gap_lower", "Lower bound of the interval of the NPS baseline gap (adjusted Wald).", 1),
    ("ces_goal_nps_baseline_gap_upper", "Upper bound of the interval of the NPS baseline gap (adjusted Wald).", 2),
)


def nps_split_metric_names() -> list[str]:
    """Every per-channel and per-effort-group NPS gauge name, e.g. ``ces_goal_nps_by_channel``."""
    return [f"{base}_{attr}" for base, _, _ in NPS_SPLIT_GAUGES for _, attr, _ in NPS_SPLITS]


# Every NPS family, in exposition order, with its help text.
NPS_FAMILY_DOCS: dict[str, str] = {
    **{name: doc for name, doc, _ in NPS_GAUGES},
    NPS_BAND_GAUGE: "NPS answers per band (promoter 9-10, passive 7-8, detractor 0-6) in the sliding window.",
    **{
        f"{base}_{attr}": f"{doc}, {what} (CES_SPLIT_WINDOWS only)."
        for base, doc, _ in NPS_SPLIT_GAUGES
        for _, attr, what in NPS_SPLITS
    },
    **{name: doc for name, doc, _ in NPS_GAP_GAUGES},
    **{name: doc for name, doc, _ in NPS_BASELINE_GAP_GAUGES},
}

_Entries = list[tuple[str, str, str]]  # (family, attribute of NpsFigures, line prefix)


class NpsRowPrefixes:
    """The NPS sample-line prefixes (name and labels) of one goal and window, made once.

    Label values come from fixed sets only (bands, :data:`~stream.ces.goals.CHANNELS`, the two
    effort groups): a channel outside the set gets no line.
    """

    __slots__ = ("bands", "baseline_gap", "channels", "gap", "gauges", "groups")

    def __init__(self, labels: str) -> None:
        self.gauges: list[tuple[str, Callable[[NpsWindowFigures], Any], str]] = [
            (name, attrgetter(attr), f"{name}{{{labels}}} ") for name, _, attr in NPS_GAUGES
        ]
        self.bands = [(attr, f'{NPS_BAND_GAUGE}{{{labels},band="{band}"}} ') for band, attr in NPS_BANDS]
        self.channels = {name: self._entries(labels, "channel", "by_channel", name) for name in CHANNELS}
        self.groups = {name: self._entries(labels, "group", "by_effort", name) for name in (HIGH_EFFORT, REST)}
        self.gap = [(name, index, f"{name}{{{labels}}} ") for name, _, index in NPS_GAP_GAUGES]
        self.baseline_gap = [(name, index, f"{name}{{{labels}}} ") for name, _, index in NPS_BASELINE_GAP_GAUGES]

    @staticmethod
    def _entries(labels: str, label: str, attr: str, segment: str) -> _Entries:
        return [
            (f"{base}_{attr}", figure, f'{base}_{attr}{{{labels},{label}="{segment}"}} ')
            for base, _, figure in NPS_SPLIT_GAUGES
        ]

    def add_lines(self, lines: dict[str, list[str]], nps: NpsWindowFigures, split: bool) -> None:
        """Append the window's NPS sample lines per family; the split only when ``split``."""
        for name, get, prefix in self.gauges:
            value = get(nps)
            if value is not None:  # no answers: no NPS; no prompts: no response ratio
                lines[name].append(prefix + repr(float(value)))
        band_lines = lines[NPS_BAND_GAUGE]
        for attr, prefix in self.bands:
            band_lines.append(prefix + repr(float(getattr(nps.figures, attr))))
        if nps.baseline_gap is not None:  # a gap window with enough answers on both sides
            for name, index, prefix in self.baseline_gap:
                lines[name].append(prefix + repr(float(nps.baseline_gap[index])))
        if not split:
            return
        for channel, figures in nps.by_channel.items():
            entries = self.channels.get(channel)
            if entries is not None:
                _add_group(lines, entries, figures)
        gap = nps.high_effort_gap
        if gap is None:
            return
        for name, group in ((HIGH_EFFORT, nps.high_effort), (REST, nps.rest)):
            if group is not None:
                _add_group(lines, self.groups[name], group)
        for name, index, prefix in self.gap:
            lines[name].append(prefix + repr(float(gap[index])))


def _add_group(lines: dict[str, list[str]], entries: _Entries, figures: NpsFigures) -> None:
    for name, attr, prefix in entries:
        value = getattr(figures, attr)
        if value is not None:
            lines[name].append(prefix + repr(float(value)))
