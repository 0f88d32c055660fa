"""What every dashboard is built from: the datasource, panels of each kind, variables, the layout.

Built with Grafana's typed builders (grafana-foundation-sdk, Grafana 11.6) and returned as plain JSON
dicts; every panel reads the ``datasource`` variable.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from stream.settings import Settings

TAG = "ces-stream"
DATASOURCE_UID = "prometheus"  # the provisioned datasource, default of the datasource variable
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
DEFAULT_WINDOW = "1h"
_LAST = common.ReduceDataOptions().calcs(["lastNotNull"])  # stats and bars show the latest value

Query = tuple[str, str]  # (PromQL, legend)
Size = tuple[int, int]  # (width of 24, height)
Section = tuple[str | None, bool, list[Any]]  # (row title, or None for no row; collapsed; panels)


def _targets(queries: list[Query], *, instant: bool, table_format: bool = False) -> list[Any]:
    """One Prometheus query per (expr, legend), refIds A, B, C..., on the datasource variable."""
    targets = []
    for index, (expr, legend) in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .expr(expr)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
            .legend_format(legend or "__auto")
            .format(PromQueryFormat.TABLE if table_format else PromQueryFormat.TIME_SERIES)
        )
        targets.append(target.instant() if instant else target.range())
    return targets


def _common(panel: Any, title: str, description: str, unit: str, size: Size) -> Any:
    """What every panel has: title, description, unit, datasource and size."""
    return panel.title(title).description(description).unit(unit).datasource(DATASOURCE).span(size[0]).height(size[1])


def series_panel(title: str, description: str, unit: str, queries: list[Query], size: Size = (12, 8)) -> Any:
    return _common(timeseries.Panel(), title, description, unit, size).targets(_targets(queries, instant=False))


def stat_panel(title: str, description: str, unit: str, expr: str, alert_at: float | None = None) -> Any:
    """One current figure: red from ``alert_at`` on, uncoloured without it (no meaningless green/red)."""
    panel = _common(stat.Panel(), title, description, unit, (4, 4)).targets(_targets([(expr, "")], instant=True))
    panel.graph_mode(common_models.BigValueGraphMode.NONE).reduce_options(_LAST)
    if alert_at is None:
        return panel.color_mode(common_models.BigValueColorMode.NONE)
    return panel.color_mode(common_models.BigValueColorMode.VALUE).thresholds(red_from(alert_at))


def red_from(value: float) -> Any:
    steps = [models.Threshold(value=None, color="green"), models.Threshold(value=value, color="red")]
    return grafana.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)


def bar_panel(title: str, description: str, unit: str, queries: list[Query], size: Size = (12, 8)) -> Any:
    panel = _common(bargauge.Panel(), title, description, unit, size).targets(_targets(queries, instant=True))
    panel.orientation(common_models.VizOrientation.HORIZONTAL).reduce_options(_LAST)
    return panel.color_scheme(grafana.FieldColor().mode(models.FieldColorModeId.PALETTE_CLASSIC))


def table_panel(
    title: str, description: str, unit: str, queries: list[Query], columns: dict[str, str], size: Size
) -> Any:
    """Instant queries merged into one row per label set; ``columns`` names and orders the columns shown."""
    panel = _common(table.Panel(), title, description, unit, size)
    panel.targets(_targets(queries, instant=True, table_format=True))
    values = [f"Value #{chr(ord('A') + index)}" for index in range(len(queries))] if len(queries) > 1 else ["Value"]
    hidden = {"Time": True, **{name: True for name in values if name not in columns}}
    order = {name: index for index, name in enumerate(columns)}
    panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
    return panel.with_transformation(
        models.DataTransformerConfig(
            id_val="organize", options={"excludeByName": hidden, "renameByName": columns, "indexByName": order}
        )
    )


def field(name: str, value: object) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val=name, value=value)


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[Any],
    sections: list[Section],
    annotations: list[Any] | None = None,
) -> dict:
    """Lays the sections out top to bottom, numbers the panels and returns the JSON model.

    :param annotations: annotation queries beside Grafana's built-in one (which Grafana adds itself).
    """
    board = grafana.Dashboard(title).uid(uid).description(description).tags([TAG]).refresh("30s")
    board.time("now-24h", "now").tooltip(models.DashboardCursorSync.CROSSHAIR)
    current = models.VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID)
    datasource = grafana.DatasourceVariable("datasource").label("Data source").type("prometheus").current(current)
    board.variables([datasource, *variables])
    if annotations:
        board.annotations(annotations)
    ids = itertools.count(1)  # unique panel ids: Grafana keys links and the panel editor on them
    for row_title, collapsed, panels in sections:
        panels = [panel.id(next(ids)) for panel in panels]
        if row_title is not None:
            row = grafana.Row(row_title).id(next(ids))
            if collapsed:  # a collapsed row holds its panels; an open row is a marker its panels follow
                for panel in panels:
                    row.with_panel(panel)
                panels = []
            board.with_row(row)
        for panel in panels:
            board.with_panel(panel)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def choice_variable(name: str, label: str, values: list[str], default: str, description: str) -> Any:
    """A fixed list of windows, so the dropdown offers only windows the workers export."""
    options = [models.VariableOption(selected=value == default, text=value, value=value) for value in values]
    current = models.VariableOption(selected=True, text=default, value=default)
    return (
        grafana.CustomVariable(name)
        .label(label)
        .description(description)
        .values(",".join(values))
        .options(options)
        .current(current)
        .allow_custom_value(False)
    )


def window_variable(settings: Settings) -> Any:
    names = [spec.name for spec in settings.window_specs()]
    default = DEFAULT_WINDOW if DEFAULT_WINDOW in names else names[0]
    return choice_variable("window", "Window", names, default, "Sliding window the CES figures are computed over.")


class _PrometheusAnnotationQuery(models.AnnotationQuery):
    """An annotation query of the Prometheus datasource. The SDK's model has ``expr`` but not the fields
    Grafana's Prometheus annotations read beside it, so they are added to its JSON here: ``step`` (Grafana
    11.6 moves ``expr`` and ``step`` into ``target`` when it loads the dashboard), ``titleFormat``,
    ``textFormat``, ``tagKeys`` and ``useValueForTime``."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, datasource=DATASOURCE, enable=True, hide=False)
        self.step = ""
        self.title_format = ""
        self.text_format = ""
        self.tag_keys: list[str] = []
        self.use_value_for_time = False

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "step": self.step,
            "titleFormat": self.title_format,
            "textFormat": self.text_format,
            "tagKeys": ",".join(self.tag_keys),  # Grafana splits the label names at commas
            "useValueForTime": self.use_value_for_time,
        }


class _PrometheusAnnotation(grafana.AnnotationQuery):
    """The SDK's annotation builder, building the extended model."""

    def __init__(self, model: _PrometheusAnnotationQuery) -> None:
        self._internal = model


def prometheus_annotation(
    name: str,
    expr: str,
    colour: str,
    *,
    title: str,
    text: str,
    tag_keys: list[str],
    value_is_time: bool = False,
    step: str = "1m",
) -> Any:
    """An annotation from a PromQL query on the datasource variable, in ``colour``, toggled by ``name``.

    Grafana runs ``expr`` as a range query at ``step`` (at least) and makes one event of each series'
    stretch of values above 0 (points at most a step apart), with ``title`` and ``text`` (``{{label}}``
    templates of the series' labels) and the values of the ``tag_keys`` labels as tags. With
    ``value_is_time`` a series' value is its event's time in milliseconds instead (so a gauge holding a
    Unix time in seconds is queried ``* 1000``): every point of a series holding one time makes one event.
    """
    model = _PrometheusAnnotationQuery(name)
    model.icon_color = colour
    model.expr = expr
    model.step = step
    model.title_format, model.text_format = title, text
    model.tag_keys = tag_keys
    model.use_value_for_time = value_is_time
    return _PrometheusAnnotation(model)


RELEASE_VERDICT_TIME = "ces_release_verdict_timestamp_seconds"
#: Grafana gives every event of an annotation query its colour: one query per direction.
RELEASE_VERDICT_COLOURS = {"worse": "red", "better": "green"}


def release_verdict_annotations(settings: Settings, goals: str) -> list[Any]:
    """Two annotations, "Release verdicts: worse" (red) and "Release verdicts: better" (green): each goal and
    channel's last release verdict at its time (the gauge's value), read as ``max by`` so that two workers
    exporting a goal mark it once.

    :param goals: the goal label matcher of the dashboard's goals (``goal=~"$goal"``), or "" for every goal.
    """
    annotations = []
    for direction, colour in RELEASE_VERDICT_COLOURS.items():
        selector = ", ".join(matcher for matcher in (goals, f'direction="{direction}"') if matcher)
        annotations.append(
            prometheus_annotation(
                f"Release verdicts: {direction}",
                f"max by (goal, channel, direction) ({RELEASE_VERDICT_TIME}{{{selector}}}) * 1000",
                colour,
                title="{{goal}} · {{channel}}: release {{direction}}",
                text="{{goal}} · {{channel}}: the new app version was found {{direction}} than the previous one "
                f"(share of positive answers, anytime-valid confidence sequence); the verdict is on the topic "
                f"{settings.topic_release_verdicts}.",
                tag_keys=["goal", "channel", "direction"],
                value_is_time=True,
            )
        )
    return annotations
