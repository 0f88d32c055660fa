"""Grafana dashboards and provisioning, generated like the rules from the goal registry and the settings.

So a new window or goal needs no hand editing. Built with Grafana's typed builders (grafana-foundation-sdk,
Grafana 11.6), returned as plain JSON dicts; every panel reads the ``datasource`` variable. Per-goal gauges
are read as ``max by (goal, ...)``: in a rebalance two workers may briefly export one goal.

One module per dashboard (``ces_overview``, ``ces_goal``, ``ces_pipeline``, named after their files),
``builders`` (the panels, variables and layout they share), ``provisioning`` (the files Grafana is
provisioned with) and ``queries`` (a dashboard's panel and annotation queries as Prometheus gets them).
"""

from stream.observability.dashboards.builders import DATASOURCE_UID, TAG
from stream.observability.dashboards.ces_goal import goal
from stream.observability.dashboards.ces_overview import overview
from stream.observability.dashboards.ces_pipeline import pipeline
from stream.observability.dashboards.provisioning import (
    DASHBOARDS_PATH,
    PROMETHEUS_URL,
    SCRAPE_INTERVAL,
    dashboards,
    provisioning,
)
from stream.observability.dashboards.queries import MACRO_VALUES, annotation_queries, panel_queries

__all__ = [
    "DASHBOARDS_PATH",
    "DATASOURCE_UID",
    "MACRO_VALUES",
    "PROMETHEUS_URL",
    "SCRAPE_INTERVAL",
    "TAG",
    "annotation_queries",
    "dashboards",
    "goal",
    "overview",
    "panel_queries",
    "pipeline",
    "provisioning",
]
