"""The alerting settings (``CES_ALERT_*``): a base class of :class:`stream.settings.Settings`.

Kept apart so the one settings class stays within the module size limit; the fields are read,
masked and tabulated with every other setting. Also the comma-separated list type the settings share.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode


def split_csv(value: Any) -> Any:
    """Accept ``"10m,1h"`` from the environment as well as a list."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CsvTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_csv)]


class AlertSettings(BaseSettings):
    """Alerting: the rules ``ces-stream monitoring`` writes; thresholds per goal are in the goal registry."""

    alert_windows: CsvTuple = Field(
        ("5m", "10m", "30m", "1h", "3h"),
        description="Windows whose CES pages (critical) when it is significantly below the goal's target (each one of CES_WINDOWS).",
    )
    alert_slow_window: str = Field(
        "24h", description="Window whose CES below target raises a warning: quiet goals too."
    )
    alert_baseline_window: str = Field(
        "7d", description="A goal's own baseline: the short windows' CES is compared with it."
    )
    alert_baseline_drop_tolerance: float = Field(
        0.06,
        ge=0,
        lt=1,
        description="How far below its own baseline a goal's CES (CesDroppedBelowBaseline) or completion ratio (CesDropOffRising) must be, beyond doubt, before the alert fires.",
    )
    alert_target_confidence: float = Field(
        0.995,
        gt=0.5,
        lt=1,
        description="Confidence of the Wilson bound CesBelowTarget compares with the target, computed by the recording "
        "rule from ces_goal_ces_ratio and ces_goal_answers (the exported bounds keep CES_WILSON_CONFIDENCE). "
        "99.5 % keeps the page under 0.1 false alerts per goal-week at 100 answers/h (docs/alerting.md).",
    )
    alert_sequential_drop: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="CesBelowTargetSequential: the drop below the goal's target its CUSUM is tuned to (a CES of target minus this against one of target).",
    )
    alert_sequential_threshold: float = Field(
        8.0, gt=0, description="CesBelowTargetSequential fires when the CUSUM (ces_goal_ces_cusum) is above this."
    )
    alert_for: str = Field("5m", description="How long a CES condition must hold before its alert fires.")
    alert_survey_window: str = Field(
        "1h",
        description="Lookback of CesAnswersStopped, CesPromptsNotShown and CesPromptsStopped: none came in this long "
        "while at least 10 were due (a PromQL range, not one of CES_WINDOWS).",
    )
    alert_survey_for: str = Field(
        "15m",
        description="How long the condition of CesAnswersStopped, CesPromptsNotShown or CesPromptsStopped must hold before it fires.",
    )
    alert_lag_messages: int = Field(
        10_000, ge=1, description="Consumer lag per topic above which, while still growing, an alert fires."
    )
    alert_dead_letter_ratio: float = Field(
        0.05, gt=0, le=1, description="Share of input records dead-lettered above which an alert fires."
    )
    alert_decision_latency_seconds: float = Field(
        2.0, gt=0, description="Prompt decision latency p99 above which an alert fires."
    )

    def baseline_gap_window_names(self) -> tuple[str, ...]:
        """The windows compared with the baseline window: the alert windows of an hour or more.

        Shorter ones hold too few answers; with none that long, the longest alert window. Names as
        the window specs spell them; empty when a window is unknown (the rules' plan names the problem).
        """
        from stream.ces.goals import format_duration, parse_duration

        try:
            fast = [format_duration(parse_duration(w)) for w in self.alert_windows]
        except ValueError:
            return ()
        return tuple(w for w in fast if parse_duration(w) >= 3600) or tuple(fast[-1:])
