"""The goal registry: which goals exist and how users are asked about each, loaded from YAML.

One file (``deploy/goals.yaml``) lists every goal with its question per locale, its scale,
its triggers, sampling and cooldowns. ``defaults`` are merged under every goal before
validation: shallow, field by field, and a goal's own field wins (a goal's ``sampling``
replaces the default ``sampling`` as a whole, so ``rate`` and ``target_answers_per_day``
never mix). ``defaults.user_cooldown_seconds`` is registry-wide and not merged.

The models and their validators (the NPS block in :mod:`stream.ces.registry.nps_model`, what goals
and the NPS share in :mod:`stream.ces.registry.shared_model`); :mod:`stream.ces.registry.loader`
loads the file and turns a validation error into one line per problem.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from schemas.common import GoalSlug, Locale
from schemas.survey_prompt import FollowUp, ScaleKind, ScaleSpec, SurveyKind
from stream.ces.registry.base import (
    LabelText,
    LocalizedText,
    PositiveSeconds,
    Ratio,
    RegistryModel,
    Seconds,
    Team,
    default_labels,
    not_points,
    pick,
    problem,
    require_labels,
    require_locales,
    span,
)
from stream.ces.registry.nps_model import NpsConfig
from stream.ces.registry.scales import FIXED_POSITIVE_KINDS, Scale, default_scale
from stream.ces.registry.shared_model import FollowUpByBand, Sampling, band_follow_ups


class ScaleConfig(RegistryModel):
    """A goal's scale: its kind, which points count as positive, and optional labels per locale."""

    kind: Annotated[ScaleKind, Field(strict=False)]
    positive: list[int] | None = None
    """Positive (low-effort) points; None means the kind's default (docs/domain.md)."""
    labels: dict[Locale, dict[int, LabelText]] | None = None
    """Label per point per locale; None means the built-in labels of the kind."""

    @model_validator(mode="after")
    def _check_points(self) -> ScaleConfig:
        scale = default_scale(self.kind)
        if self.positive is not None and self.kind in FIXED_POSITIVE_KINDS:
            raise problem("positive", f"the {self.kind} scale's positive points are fixed (promoters 9 and 10)")
        if self.positive is not None:
            self._check_positive(scale, frozenset(self.positive))
        if self.labels is not None:
            require_labels(self.labels)
            for locale, labels in self.labels.items():
                outside = sorted(value for value in labels if not scale.contains(value))
                if outside:
                    raise problem(f"labels.{locale}", not_points(outside, scale))
        return self

    @staticmethod
    def _check_positive(scale: Scale, positive: frozenset[int]) -> None:
        outside = sorted(point for point in positive if not scale.contains(point))
        if outside:
            raise problem("positive", not_points(outside, scale))
        if not positive:
            raise problem("positive", "name at least one positive point")
        if positive == frozenset(scale.points):
            raise problem("positive", f"every point of {span(scale)} is positive; nothing could be negative")
        # A positive point on the difficult side usually means the wrong kind (inverted or not).
        if scale.inverted:
            wrong = sorted(point for point in positive if point > scale.neutral_point)
        else:
            wrong = sorted(point for point in positive if point < scale.neutral_point)
        if wrong:
            side = "above" if scale.inverted else "below"
            raise problem(
                "positive",
                f"{', '.join(map(str, wrong))} {'lies' if len(wrong) == 1 else 'lie'} {side} the neutral point "
                f"{scale.neutral_point:g} of {span(scale)}, on the difficult side (wrong scale kind?)",
            )


def _scale_of(config: ScaleConfig) -> Scale:
    """The :class:`Scale` a config describes: the kind's default with the config's positive set."""
    scale = default_scale(config.kind)
    if config.positive is None:
        return scale
    return replace(scale, positive=frozenset(config.positive))


class InferredAbandonment(RegistryModel):
    """Treat a started goal without completion or abandonment after a timeout as abandoned."""

    enabled: bool = False
    timeout_seconds: PositiveSeconds = 900.0


class Triggers(RegistryModel):
    """Which goal outcomes may prompt the user."""

    completed: bool = True
    abandoned: bool = True
    inferred_abandonment: InferredAbandonment = InferredAbandonment()


class Cooldowns(RegistryModel):
    """How long one user is not asked about the same goal again."""

    user_goal_seconds: Seconds = 604800.0
    #: After the user dismissed the goal's prompt (a ``dismissed`` prompt event), ask them about the
    #: goal again this long after the dismissal, instead of ``user_goal_seconds`` after the prompt
    #: (shorter or longer). Unset: a dismissed prompt is like any other.
    after_dismissal_seconds: Seconds | None = None


class Alerting(RegistryModel):
    """How the generated alert rules judge this goal (``ces-stream monitoring``)."""

    min_answers: Annotated[int, Field(ge=1)] = 40
    """Answers a window needs before its CES can raise an alert (docs/alert-statistics.md: 30 at 99 %; 40
    keeps false pages at 100 answers/h to 0.1 per goal-week, docs/alerting.md "Alert quality")."""
    exit_gap_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.2
    """How much lower CES at exits may be than at completion before it is worth a ticket."""
    busy_events_per_hour: Annotated[float, Field(gt=0)] = 10.0
    """Goal events per hour (over the last day) from which silence means the app stopped sending."""


class MeasuredEffort(RegistryModel):
    """Measured effort beside reported effort: how long a goal takes from its first start to completion.

    A ``started`` event is remembered per user and goal for ``max_duration_seconds`` (with
    inferred abandonment on: its timeout, after which the goal counts as abandoned); a
    completion within that time is a timed completion. Costs one small entry in the user's
    state per started goal.
    """

    enabled: bool = True
    max_duration_seconds: PositiveSeconds = 3600.0
    duration_bands_seconds: Annotated[tuple[Annotated[int, Field(gt=0, strict=True)], ...], Field(strict=False)] = (
        30,
        120,
        600,
    )
    """Where the time to complete is cut into bands for CES per band: (30, 120, 600) gives
    <30s, 30s-2m, 2m-10m and 10m+. Whole seconds, increasing, at most 7."""

    @field_validator("duration_bands_seconds")
    @classmethod
    def _increasing(cls, bounds: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(bounds) <= 7 or any(high <= low for low, high in itertools.pairwise(bounds)):
            raise ValueError("list 1 to 7 increasing whole seconds, e.g. [30, 120, 600]")
        return bounds


class Budget(RegistryModel):
    """At most ``max_prompts`` prompts per user in ``period_seconds``, across every goal and survey kind
    (on top of the cooldowns). A goal's own budget applies to the prompts asked at its moments."""

    max_prompts: Annotated[int, Field(ge=1, le=64)]
    period_seconds: PositiveSeconds = 30 * 86400.0


class GoalConfig(RegistryModel):
    """One goal: its texts per locale, scale, target, triggers, sampling and timings."""

    slug: GoalSlug
    display_name: LocalizedText
    question: LocalizedText
    follow_up_question: LocalizedText
    scale: ScaleConfig
    sampling: Sampling
    target_ces_ratio: Ratio | None = None
    """The organisation's own CES target for this goal (docs/domain.md: no industry benchmark); None if unset."""
    triggers: Triggers = Triggers()
    cooldowns: Cooldowns = Cooldowns()
    alerting: Alerting = Alerting()
    measured_effort: MeasuredEffort = MeasuredEffort()
    enabled: bool = True
    prompt_expiry_seconds: PositiveSeconds = 1800.0
    max_event_age_seconds: PositiveSeconds = 300.0
    """Goal events older than this (relative to processing time) are too old to ask about."""
    locale_fallback: Locale = "en"
    survey: Literal["ces", "csat"] = "ces"
    """The goal's own question: CES (how easy) or CSAT (how satisfied); NPS is asked at its moments
    (``nps_moment``), not instead of a kind."""
    follow_up_by_band: FollowUpByBand | None = None
    """Follow-up questions per band of the score; None: ``follow_up_question`` after any score."""
    budget: Budget | None = None
    """The user's survey budget at this goal's moments; None: only the cooldowns limit."""
    nps_moment: bool = False
    """A completion of this goal is a good moment to ask the registry's NPS question (never an exit)."""
    team: Team | None = None
    """The team that owns the goal's alerts (their ``team`` label); None: the default receivers get them."""

    _scale: Scale = PrivateAttr()
    # Prompts reuse one ScaleSpec per locale (building it is a third of a prompt's cost).
    _scale_specs: dict[str, ScaleSpec] = PrivateAttr(default_factory=dict)

    _needs_nl_and_en = field_validator("display_name", "question", "follow_up_question")(require_locales)

    @model_validator(mode="after")
    def _fallback_has_texts(self) -> GoalConfig:
        fallback = self.locale_fallback
        for field, texts in (("question", self.question), ("follow_up_question", self.follow_up_question)):
            if fallback not in texts:
                raise problem(field, f"no text for locale_fallback {fallback!r}")
        if self.scale.labels is not None and fallback not in self.scale.labels:
            raise problem("scale.labels", f"no labels for locale_fallback {fallback!r}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._scale = _scale_of(self.scale)

    @property
    def survey_kind(self) -> SurveyKind:
        """The goal's own question as a :class:`SurveyKind` (ces or csat)."""
        return SurveyKind(self.survey)

    def start_kept_seconds(self) -> float | None:
        """How long a ``started`` event of this goal is remembered; None when starts are not tracked.

        With inferred abandonment on, its timeout (then the goal counts as abandoned); else,
        with measured effort on, its ``max_duration_seconds`` (then the start is forgotten).
        """
        inferred = self.triggers.inferred_abandonment
        if inferred.enabled:
            return inferred.timeout_seconds
        if self.measured_effort.enabled:
            return self.measured_effort.max_duration_seconds
        return None

    def scale_obj(self) -> Scale:
        """Return the goal's scale (built once at load).

        :returns: the :class:`Scale` with this goal's positive set.
        """
        return self._scale

    def question_for(self, locale: str) -> str:
        """Return the question in a locale.

        :param locale: the user's locale, e.g. ``nl-NL``.
        :returns: the text for the exact locale, else its language, else ``locale_fallback``.
        """
        return pick(self.question, locale, self.locale_fallback)

    def follow_up_for(self, locale: str) -> str:
        """Return the follow-up (open) question in a locale, with the fallback of :meth:`question_for`."""
        return pick(self.follow_up_question, locale, self.locale_fallback)

    def follow_ups_for(self, locale: str) -> list[FollowUp]:
        """Return the follow-up questions per band in a locale; empty without ``follow_up_by_band``."""
        return band_follow_ups(
            self.follow_up_by_band, self.follow_up_question, self._scale, locale, self.locale_fallback
        )

    def scale_spec_for(self, locale: str) -> ScaleSpec:
        """Describe the goal's scale for a prompt in a locale.

        :param locale: the user's locale.
        :returns: the ScaleSpec with the configured labels, or the built-in labels of the
            scale kind, in the locale chosen like :meth:`question_for`.
        """
        spec = self._scale_specs.get(locale)
        if spec is None:
            labels = (
                self.scale.labels
                if self.scale.labels is not None
                else default_labels(self.survey_kind, self.scale.kind)
            )
            if len(self._scale_specs) >= 256:  # locales come from events: keep the cache bounded
                self._scale_specs.clear()
            spec = self._scale_specs[locale] = self._scale.to_spec(pick(labels, locale, self.locale_fallback))
        return spec


class Defaults(RegistryModel):
    """Values merged under every goal (a goal's own field wins), plus the registry-wide user cooldown."""

    user_cooldown_seconds: Seconds = 86400.0
    """After any prompt, the user is not asked about any goal for this long."""
    locale_fallback: Locale | None = None
    prompt_expiry_seconds: PositiveSeconds | None = None
    max_event_age_seconds: PositiveSeconds | None = None
    follow_up_question: LocalizedText | None = None
    scale: ScaleConfig | None = None
    target_ces_ratio: Ratio | None = None
    triggers: Triggers | None = None
    sampling: Sampling | None = None
    cooldowns: Cooldowns | None = None
    alerting: Alerting | None = None
    measured_effort: MeasuredEffort | None = None
    enabled: bool | None = None
    survey: Literal["ces", "csat"] | None = None
    follow_up_by_band: FollowUpByBand | None = None
    budget: Budget | None = None
    team: Team | None = None

    _needs_nl_and_en = field_validator("follow_up_question")(require_locales)


class GoalRegistry(RegistryModel):
    """Every goal, in file order, with the registry-wide defaults."""

    version: Literal[1]
    defaults: Defaults = Defaults()
    goals: Annotated[tuple[GoalConfig, ...], Field(strict=False)]
    nps: NpsConfig | None = None
    """The NPS question, asked at the completions of goals marked ``nps_moment``; None: no NPS."""

    _by_slug: dict[str, GoalConfig] = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("goals"), list | tuple):
            return data
        defaults = data.get("defaults")
        if isinstance(defaults, Defaults):
            under = defaults.model_dump(exclude_unset=True, exclude_none=True, exclude={"user_cooldown_seconds"})
        elif isinstance(defaults, Mapping):
            under = {
                key: value
                for key, value in defaults.items()
                if key in Defaults.model_fields and key != "user_cooldown_seconds" and value is not None
            }
        else:
            return data
        goals = [{**under, **goal} if isinstance(goal, Mapping) else goal for goal in data["goals"]]
        return {**data, "goals": goals}

    @model_validator(mode="after")
    def _unique_slugs(self) -> GoalRegistry:
        if not self.goals:
            raise problem("goals", "list at least one goal")
        first_index: dict[str, int] = {}
        for index, goal in enumerate(self.goals):
            if goal.slug in first_index:
                raise problem(f"goals.{index}.slug", f"duplicate slug, already used by goals[{first_index[goal.slug]}]")
            first_index[goal.slug] = index
        moments = [goal.slug for goal in self.goals if goal.nps_moment]
        if self.nps is not None and self.nps.enabled and not moments:
            raise problem("nps", "no goal is marked nps_moment: NPS would never be asked")
        if self.nps is None and moments:
            raise problem(f"goals.{self.slugs.index(moments[0])}.nps_moment", "the registry has no nps question")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._by_slug = {goal.slug: goal for goal in self.goals}

    def get(self, slug: str) -> GoalConfig | None:
        """Return the goal with this slug, or None if the registry has none."""
        return self._by_slug.get(slug)

    @property
    def slugs(self) -> tuple[str, ...]:
        """Every goal slug, in file order."""
        return tuple(goal.slug for goal in self.goals)

    @property
    def user_cooldown_seconds(self) -> float:
        """After any prompt, the user is not asked about any goal for this long."""
        return self.defaults.user_cooldown_seconds

    @property
    def nps_enabled(self) -> NpsConfig | None:
        """The NPS question when it is asked (configured and enabled), else None."""
        return self.nps if self.nps is not None and self.nps.enabled else None
