"""The settings of CES per release and release verdicts: a base class of :class:`stream.settings.Settings`.

Kept apart so the one settings class stays within the module size limit; the fields are read,
masked and tabulated with every other setting (``CES_RELEASE_*``, ``CES_TOPIC_RELEASE_VERDICTS``).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ReleaseSettings(BaseSettings):
    """How many releases are shown per goal and channel, and the verdicts' error rate and topic."""

    release_counts: bool = Field(
        True,
        description="Count answers per release. false: none are, as before release verdicts; set it during a rolling "
        "upgrade from a version without them (its workers cannot read partial counts that hold releases) and remove "
        "it in a second rollout.",
    )
    release_versions: int = Field(
        5,
        ge=2,
        le=20,
        description="Releases (app versions) per goal and channel in the summaries, /api/goals, the page and the "
        "report: the most recent ones, first seen last first.",
    )
    release_error_rate: float = Field(
        0.05,
        gt=0,
        le=0.2,
        description="Chance of a wrong release verdict per release (a new version on a channel against the one "
        "before it), however often the verdict is read: the verdict's interval is a confidence sequence.",
    )
    release_min_answers: int = Field(
        30,
        ge=1,
        description="Answers the new release and the previous one each need before a release verdict (the interval "
        "is valid from the first answer; a verdict on a handful convinces no one).",
    )
    topic_release_verdicts: str = Field(
        "ces.release-verdicts",
        description="Output: one record each time a goal's new release is found worse or better than the one before "
        "it on its channel.",
    )
