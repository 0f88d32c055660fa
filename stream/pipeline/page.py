"""What the CES page at ``/`` needs from the worker: the page itself and the registry as JSON.

The page (``web/ces.html``, one file, no build step) reads ``/api/goals`` for the figures
and ``/api/registry`` for the names and targets. ``/api/goals`` holds only the goals this
worker owns, so the registry is what lets the page name the goals another worker serves.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from stream.ces.registry import GoalRegistry

log = logging.getLogger(__name__)

PAGE_FILE = "web/ces.html"
MISSING_PAGE = (
    "<!doctype html><title>CES</title><p>The CES page is missing from this installation "
    '(package data stream/pipeline/web/ces.html). The figures are at <a href="api/goals">api/goals</a>.</p>'
)


def ces_page_html() -> str:
    """The page, read once at start from the package (package data, not a module).

    A missing file is a packaging mistake; it costs the page, never the worker.
    """
    try:
        return resources.files(__package__).joinpath(PAGE_FILE).read_text(encoding="utf-8")
    except OSError:
        log.error("%s is missing from the stream.pipeline package: / serves a notice instead", PAGE_FILE)
        return MISSING_PAGE


def registry_json(registry: GoalRegistry) -> dict[str, Any]:
    """Every goal of the registry, in file order, with what the page shows of it.

    ``survey`` is the goal's own question (``ces`` or ``csat``), ``nps_moment`` whether the NPS question
    is asked at its completions; ``nps_high_effort_min_answers`` the answers each effort group needs
    before the NPS split is shown (``None`` without an NPS question).
    """
    nps = registry.nps_enabled
    return {
        "nps_high_effort_min_answers": None if nps is None else nps.high_effort.min_answers,
        "goals": [
            {
                "slug": goal.slug,
                "display_name": goal.display_name["en"],  # en is required in every registry
                "target_ces_ratio": goal.target_ces_ratio,
                "scale_kind": str(goal.scale.kind),
                "enabled": goal.enabled,
                "survey": goal.survey,
                "nps_moment": goal.nps_moment and nps is not None,
            }
            for goal in registry.goals
        ],
    }
