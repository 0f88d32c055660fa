"""Time buckets of CES counts, and the facts that fill them.

A *fact* is one thing that happened to a goal at an event time: an answer, a prompt
sent, a prompt the app reported shown or dismissed, an outcome (completed / abandoned /
abandoned_inferred), or the measured effort of a timed completion (:mod:`stream.ces.goals.effort`). The hot path folds
a whole batch of facts at once (:func:`stream.ces.goals.fold.fold_facts`) into one :class:`BucketCounts`
delta per touched bucket. The NPS question asked at a goal's moments is counted apart
(:mod:`stream.ces.goals.nps_counts`).

Everything here is plain integers: counts are additive, so deltas merge exactly in
any order and a sum of partial buckets (one per source partition) equals the bucket.
Answers are also counted per outcome and per channel (:mod:`stream.ces.goals.segments`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.goal_event import MAX_APP_VERSION_CHARS
from stream.ces.goals.effort import duration_key
from stream.ces.goals.facts import (
    AnswerFact,
    EffortFact,
    Fact,
    OutcomeFact,
    PromptEventFact,
    PromptFact,
)
from stream.ces.goals.nps_counts import NpsCounts
from stream.ces.goals.segments import (
    OUTCOMES,
    STRATA,
    AnswerCounts,
    add_cells,
    add_counts,
    channel_name,
    copy_segments,
    count_of,
    merge_segments,
    nonzero_cells,
    outcome_name,
    segments_equal,
    segments_from_json,
    segments_to_json,
    stratum_name,
    subtract_cells,
    subtract_counts,
    subtract_segments,
)
from stream.ces.registry import Sentiment
from stream.ces.releases.figures import release_key, split_release_key

__all__ = [
    "OUTCOMES",
    "AnswerFact",
    "BucketCounts",
    "EffortFact",
    "Fact",
    "OutcomeFact",
    "PromptEventFact",
    "PromptFact",
]

# Short JSON keys: a BucketCounts is stored per bucket in a Kafka changelog.
_JSON_OUTCOME_KEYS: dict[str, str] = {"completed": "c", "abandoned": "a", "abandoned_inferred": "i"}
_OUTCOMES_BY_JSON_KEY: dict[str, str] = {short: name for name, short in _JSON_OUTCOME_KEYS.items()}
_JSON_CHANNEL_KEYS: dict[str, str] = {"web": "w", "ios": "i", "android": "a", "other": "o"}
_CHANNELS_BY_JSON_KEY: dict[str, str] = {short: name for name, short in _JSON_CHANNEL_KEYS.items()}
# A stratum's key is its outcome's and its channel's: "cw" is completed/web.
_JSON_STRATUM_KEYS: dict[str, str] = {
    name: _JSON_OUTCOME_KEYS[outcome] + _JSON_CHANNEL_KEYS[channel] for (outcome, channel), name in STRATA.items()
}
_STRATA_BY_JSON_KEY: dict[str, str] = {short: name for name, short in _JSON_STRATUM_KEYS.items()}

# Duration band names are their own JSON keys (``<30s``, ``2m-10m``, ``10m+``: effort.band_names).
_BAND_NAME = re.compile(r"<?[0-9]+[smhd](?:-[0-9]+[smhd]|\+)?")


@dataclass(slots=True, eq=False)
class BucketCounts(AnswerCounts):
    """Additive counts of one goal in one time bucket (or a sum of buckets).

    The answer part comes from :class:`AnswerCounts`: ``scores`` maps a score to its number
    of answers; ``positive``/``neutral``/``negative`` are the answers per sentiment as
    classified when they arrived; ``score_sum`` is the sum of all scores (for the mean).
    ``prompts`` counts prompts sent; ``shown`` and ``dismissed`` the prompts the app reported
    shown and dismissed (``schemas.PromptEvent``); ``outcomes`` counts goal outcomes by name (a name from
    :data:`OUTCOMES`). ``by_outcome`` and ``by_channel`` split the answers by the outcome
    that triggered the prompt and by the goal's channel. ``durations`` counts timed
    completions per duration bucket (:func:`~stream.ces.goals.effort.duration_key`) and
    ``retried`` those of them started more than once; ``by_band`` splits the answers to
    prompts after a timed completion by its duration band (a segment like the others).
    ``strata`` holds per stratum (outcome x channel, ``completed/web``) ``[outcomes, answers,
    positive answers]``: the attempts and the answers the CES corrected for non-response weighs
    (:mod:`stream.ces.goals.nonresponse`); three integers, not a segment of their own, since every
    answer and outcome lands there. Left out with the segments.
    ``nps`` counts the NPS question asked at the goal's moments, apart from everything above
    (which is the goal's own question, CES or CSAT); None while there is none.
    ``by_release`` holds per release (``channel|version``: :func:`~stream.ces.releases.release_key`)
    ``[answers, positive answers, score sum]`` of the answers whose goal event named an app version
    (:mod:`stream.ces.releases`); cells like the strata, left out with the segments.
    Zero entries may be absent from the dicts; equality ignores them.
    """

    prompts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, AnswerCounts] = field(default_factory=dict)
    by_channel: dict[str, AnswerCounts] = field(default_factory=dict)
    durations: dict[int, int] = field(default_factory=dict)
    retried: int = 0
    by_band: dict[str, AnswerCounts] = field(default_factory=dict)
    strata: dict[str, list[int]] = field(default_factory=dict)
    shown: int = 0
    dismissed: int = 0
    nps: NpsCounts | None = None
    by_release: dict[str, list[int]] = field(default_factory=dict)

    def nps_part(self) -> NpsCounts:
        """The NPS counts, made on first use."""
        if self.nps is None:
            self.nps = NpsCounts()
        return self.nps

    def add_answer(
        self, score: int, sentiment: Sentiment, outcome: str, channel: str, band: str = "", app_version: str = ""
    ) -> None:
        """Count one answer, blended and in its outcome, channel, duration band and release segments.

        :param score: the score on the goal's scale.
        :param sentiment: its classification by the goal's scale.
        :param outcome: the outcome that triggered the prompt (one of :data:`OUTCOMES`).
        :param channel: the channel of the goal attempt (a ``Channel`` value).
        :param band: the duration band of a timed completion; ``""`` when not timed.
        :param app_version: the goal event's app version; ``""`` when it named none.
        :raises ValueError: for an unknown sentiment, outcome or channel.
        """
        sentiment = self.add(score, sentiment)
        for segments, name in ((self.by_outcome, outcome_name(outcome)), (self.by_channel, channel_name(channel))):
            counts = segments.get(name)
            if counts is None:
                counts = segments[name] = AnswerCounts()
            counts.add(score, sentiment)
        cell = self._stratum_cell(outcome, channel)
        cell[1] += 1
        if sentiment is Sentiment.positive:
            cell[2] += 1
        if band:
            counts = self.by_band.get(band)
            if counts is None:
                counts = self.by_band[band] = AnswerCounts()
            counts.add(score, sentiment)
        if app_version:
            key = release_key(channel_name(channel), app_version)
            release = self.by_release.get(key)
            if release is None:
                release = self.by_release[key] = [0, 0, 0]
            release[0] += 1
            release[1] += sentiment is Sentiment.positive
            release[2] += score

    def add_prompt(self) -> None:
        """Count one prompt sent."""
        self.prompts += 1

    def add_prompt_event(self, kind: str) -> None:
        """Count one prompt the app reported ``shown`` or ``dismissed``.

        :raises ValueError: for another kind.
        """
        if kind == "shown":
            self.shown += 1
        elif kind == "dismissed":
            self.dismissed += 1
        else:
            raise ValueError(f"unknown prompt event {kind!r}; expected shown or dismissed")

    def add_outcome(self, outcome: str, channel: str = "") -> None:
        """Count one goal outcome, and in its stratum when its channel is known.

        :param outcome: one of :data:`OUTCOMES` (a ``PromptOutcome`` member works too).
        :param channel: the channel of the attempt; ``""`` for an outcome recorded before
            strata were counted (a replay of an old decision): it stays out of the strata.
        :raises ValueError: for an unknown outcome or channel.
        """
        name = outcome_name(outcome)
        self.outcomes[name] = self.outcomes.get(name, 0) + 1
        if channel:
            self._stratum_cell(name, channel)[0] += 1

    def _stratum_cell(self, outcome: str, channel: str) -> list[int]:
        """The ``[outcomes, answers, positive]`` cell of a stratum, made on first use."""
        stratum = stratum_name(outcome, channel)
        cell = self.strata.get(stratum)
        if cell is None:
            cell = self.strata[stratum] = [0, 0, 0]
        return cell

    def add_effort(self, duration_s: float, retried: bool) -> None:
        """Count one timed completion: its duration from the first start, and whether it was retried."""
        key = duration_key(duration_s)
        self.durations[key] = self.durations.get(key, 0) + 1
        if retried:
            self.retried += 1

    def merge(self, other: AnswerCounts, *, segments: bool = True) -> None:
        """Add ``other`` into this one, in place; without ``segments`` the splits (outcome, channel, duration band,
        stratum) stay out."""
        AnswerCounts.merge(self, other)
        assert isinstance(other, BucketCounts)
        self.prompts += other.prompts
        self.shown += other.shown
        self.dismissed += other.dismissed
        add_counts(self.outcomes, other.outcomes)
        if other.durations:  # retried counts only timed completions
            add_counts(self.durations, other.durations)
            self.retried += other.retried
        if segments and other.by_outcome:
            merge_segments(self.by_outcome, other.by_outcome)
        if segments and other.by_channel:
            merge_segments(self.by_channel, other.by_channel)
        if segments and other.by_band:
            merge_segments(self.by_band, other.by_band)
        if segments and other.strata:
            add_cells(self.strata, other.strata)
        if other.nps is not None:
            self.nps_part().merge(other.nps, segments=segments)
        if segments and other.by_release:
            add_cells(self.by_release, other.by_release)

    def subtract(self, other: AnswerCounts) -> None:
        """Take ``other`` out of this one, in place (the inverse of :meth:`merge`).

        Used to slide a cached window sum; ``other`` must have been merged in before,
        so no count goes below zero. Entries that reach zero are dropped.
        """
        AnswerCounts.subtract(self, other)
        assert isinstance(other, BucketCounts)
        self.prompts -= other.prompts
        self.shown -= other.shown
        self.dismissed -= other.dismissed
        subtract_counts(self.outcomes, other.outcomes)
        if other.durations:
            subtract_counts(self.durations, other.durations)
            self.retried -= other.retried
        if other.by_outcome:
            subtract_segments(self.by_outcome, other.by_outcome)
        if other.by_channel:
            subtract_segments(self.by_channel, other.by_channel)
        if other.by_band:
            subtract_segments(self.by_band, other.by_band)
        if other.strata:
            subtract_cells(self.strata, other.strata)
        if other.nps is not None:
            self.nps_part().subtract(other.nps)
        if other.by_release:
            subtract_cells(self.by_release, other.by_release)

    def is_empty(self) -> bool:
        """True when nothing at all was counted."""
        return not (
            self.answers
            or self.prompts
            or self.shown
            or self.dismissed
            or any(self.outcomes.values())
            or any(self.scores.values())
            or any(self.durations.values())
            or (self.nps is not None and not self.nps.is_empty())
        )

    def copy(self, *, segments: bool = True) -> BucketCounts:
        """An independent copy; without ``segments`` the splits are left out."""
        return BucketCounts(
            dict(self.scores),
            self.positive,
            self.neutral,
            self.negative,
            self.score_sum,
            self.prompts,
            dict(self.outcomes),
            copy_segments(self.by_outcome) if segments and self.by_outcome else {},
            copy_segments(self.by_channel) if segments and self.by_channel else {},
            dict(self.durations),
            self.retried,
            copy_segments(self.by_band) if segments and self.by_band else {},
            {name: list(cell) for name, cell in self.strata.items()} if segments and self.strata else {},
            self.shown,
            self.dismissed,
            None if self.nps is None else self.nps.copy(segments=segments),
            {key: list(cell) for key, cell in self.by_release.items()} if segments and self.by_release else {},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BucketCounts):
            return NotImplemented
        return (
            AnswerCounts.__eq__(self, other)
            and self.prompts == other.prompts
            and _nonzero(self.outcomes) == _nonzero(other.outcomes)
            and segments_equal(self.by_outcome, other.by_outcome)
            and segments_equal(self.by_channel, other.by_channel)
            and _nonzero(self.durations) == _nonzero(other.durations)
            and self.retried == other.retried
            and segments_equal(self.by_band, other.by_band)
            and nonzero_cells(self.strata) == nonzero_cells(other.strata)
            and self.shown == other.shown
            and self.dismissed == other.dismissed
            and (self.nps or _NO_NPS) == (other.nps or _NO_NPS)
            and nonzero_cells(self.by_release) == nonzero_cells(other.by_release)
        )

    __hash__ = None  # mutable

    def to_json_obj(self) -> dict[str, Any]:
        """A compact JSON-safe dict: short keys, zero counts left out.

        ``{"s": {"5": 40, "4": 20}, "p": 60, "u": 0, "n": 35, "q": 10, "o": {"c": 3, "i": 1}}``:
        s = scores (score as string), p/u/n = positive/neutral/negative, q = prompts,
        o = outcomes (c = completed, a = abandoned, i = abandoned_inferred); bo / bc = answers
        by outcome (same keys as o) / by channel (w = web, i = ios, a = android, o = other),
        each ``{"s": ..., "p": ..., "u": ..., "n": ...}``; d = timed completions per duration
        key (key as string), r = retried, bb = answers by duration band (the band's name as
        key); st = ``[outcomes, answers, positive answers]`` per stratum, keyed by the outcome's and
        the channel's keys together (``cw`` = completed on web); sh / di = prompts shown / dismissed;
        np = the NPS counts (:meth:`NpsCounts.to_json_obj`); rv = ``[answers, positive, score sum]`` per
        release, keyed by the channel's key and the version (``w|2.3.0``).
        ``score_sum`` is not stored: it follows from ``s``. Records written before the segments,
        measured effort, strata or prompt events existed have no bo/bc, d/r/bb, st or sh/di.
        """
        obj = AnswerCounts.to_json_obj(self)
        if self.prompts:
            obj["q"] = self.prompts
        outcomes = {_JSON_OUTCOME_KEYS[name]: count for name, count in self.outcomes.items() if count}
        if outcomes:
            obj["o"] = outcomes
        if self.by_outcome:
            obj["bo"] = segments_to_json(self.by_outcome, _JSON_OUTCOME_KEYS)
        if self.by_channel:
            obj["bc"] = segments_to_json(self.by_channel, _JSON_CHANNEL_KEYS)
        if self.durations:  # most buckets time nothing: skip the comprehension
            durations = {str(key): count for key, count in self.durations.items() if count}
            if durations:
                obj["d"] = durations
        if self.retried:
            obj["r"] = self.retried
        if self.by_band:
            obj["bb"] = segments_to_json(self.by_band)
        if self.strata:
            strata = {_JSON_STRATUM_KEYS[name]: cell for name, cell in self.strata.items() if any(cell)}
            if strata:
                obj["st"] = strata
        if self.shown:
            obj["sh"] = self.shown
        if self.dismissed:
            obj["di"] = self.dismissed
        if self.nps is not None:
            nps = self.nps.to_json_obj()
            if nps:
                obj["np"] = nps
        if self.by_release:
            releases = {_release_json_key(key): cell for key, cell in self.by_release.items() if cell[0]}
            if releases:
                obj["rv"] = releases
        return obj

    @classmethod
    def from_json_obj(cls, obj: Any) -> BucketCounts:
        """Read what :meth:`to_json_obj` wrote.

        :raises ValueError: on an unknown key, a non-integer or negative count, or
            sentiment counts that do not add up to the number of scores.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"bucket counts must be a JSON object, not {type(obj).__name__}")
        unknown = set(obj) - {"s", "p", "u", "n", "q", "o", "bo", "bc", "d", "r", "bb", "st", "sh", "di", "np", "rv"}
        if unknown:
            raise ValueError(f"bucket counts: unknown keys {sorted(unknown)}")
        answers = AnswerCounts.from_json_obj({key: value for key, value in obj.items() if key in ("s", "p", "u", "n")})
        outcomes: dict[str, int] = {}
        for key, value in _mapping(obj, "o").items():
            if key not in _OUTCOMES_BY_JSON_KEY:
                raise ValueError(f"bucket counts: unknown outcome key {key!r}")
            outcomes[_OUTCOMES_BY_JSON_KEY[key]] = count_of(key, value)
        durations, retried = _effort_from_json(obj) if "d" in obj or "r" in obj else ({}, 0)
        return cls(
            scores=answers.scores,
            positive=answers.positive,
            neutral=answers.neutral,
            negative=answers.negative,
            score_sum=answers.score_sum,
            prompts=count_of("q", obj.get("q", 0)),
            outcomes={name: count for name, count in outcomes.items() if count},
            by_outcome=segments_from_json(obj.get("bo", {}), _OUTCOMES_BY_JSON_KEY, "answers by outcome"),
            by_channel=segments_from_json(obj.get("bc", {}), _CHANNELS_BY_JSON_KEY, "answers by channel"),
            durations={key: count for key, count in durations.items() if count},
            retried=retried,
            by_band=segments_from_json(obj["bb"], _BAND_NAME, "answers by duration band") if "bb" in obj else {},
            strata=_strata_from_json(obj) if "st" in obj else {},
            shown=count_of("sh", obj.get("sh", 0)),
            dismissed=count_of("di", obj.get("di", 0)),
            nps=NpsCounts.from_json_obj(obj["np"]) if "np" in obj else None,
            by_release=_releases_from_json(obj) if "rv" in obj else {},
        )


def _effort_from_json(obj: Mapping[str, Any]) -> tuple[dict[int, int], int]:
    """The ``d`` and ``r`` parts of a bucket counts record: timed completions per duration key, retried."""
    durations: dict[int, int] = {}
    for key, value in _mapping(obj, "d").items():
        try:
            duration = int(key)
        except ValueError:
            raise ValueError(f"bucket counts: duration key {key!r} is not an integer") from None
        durations[duration] = count_of(key, value)
    retried = count_of("r", obj.get("r", 0))
    if retried > sum(durations.values()):
        raise ValueError(f"bucket counts: {retried} retried of {sum(durations.values())} timed completions")
    return durations, retried


def _strata_from_json(obj: Mapping[str, Any]) -> dict[str, list[int]]:
    """The ``st`` part of a bucket counts record: ``[outcomes, answers, positive]`` per stratum."""
    strata: dict[str, list[int]] = {}
    for key, value in _mapping(obj, "st").items():
        name = _STRATA_BY_JSON_KEY.get(key)
        if name is None:
            raise ValueError(f"bucket counts: unknown stratum key {key!r}")
        if not isinstance(value, list) or len(value) != 3:
            raise ValueError(f"bucket counts: stratum {key!r} must be [outcomes, answers, positive], not {value!r}")
        cell = [count_of(key, count) for count in value]
        if cell[2] > cell[1]:
            raise ValueError(f"bucket counts: stratum {key!r} has {cell[2]} positive of {cell[1]} answers")
        if any(cell):
            strata[name] = cell
    return strata


def _release_json_key(key: str) -> str:
    channel, version = split_release_key(key)
    return release_key(_JSON_CHANNEL_KEYS[channel], version)


def _releases_from_json(obj: Mapping[str, Any]) -> dict[str, list[int]]:
    """The ``rv`` part of a bucket counts record: ``[answers, positive, score sum]`` per release."""
    releases: dict[str, list[int]] = {}
    for key, value in _mapping(obj, "rv").items():
        short, version = split_release_key(key)
        channel = _CHANNELS_BY_JSON_KEY.get(short)
        if channel is None or not version or len(version) > MAX_APP_VERSION_CHARS:
            raise ValueError(f"bucket counts: release key {key!r} is not <channel>|<version>")
        if not isinstance(value, list) or len(value) != 3:
            raise ValueError(f"bucket counts: release {key!r} must be [answers, positive, score sum], not {value!r}")
        if type(value[2]) is not int:  # a score sum may be negative (scales may start below zero)
            raise ValueError(f"bucket counts: release {key!r} has a score sum that is not an integer")
        cell = [count_of(key, value[0]), count_of(key, value[1]), value[2]]
        if cell[1] > cell[0]:
            raise ValueError(f"bucket counts: release {key!r} has {cell[1]} positive of {cell[0]} answers")
        if cell[0]:
            releases[release_key(channel, version)] = cell
    return releases


_NO_NPS = NpsCounts()


def _nonzero(counts: dict[Any, int]) -> dict[Any, int]:
    return {key: count for key, count in counts.items() if count}


def _mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"bucket counts: {key!r} must be an object")
    return value
