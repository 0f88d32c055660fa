"""Facts: the things that happen to a goal at an event time, as the user stage emits them.

An answer, a prompt sent, a prompt the app reported shown or dismissed, an outcome
(completed / abandoned / abandoned_inferred), the measured effort of a timed completion. The
goal's bucket counts (:mod:`stream.ces.goals.buckets`) are made of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from stream.ces.registry import Sentiment

__all__ = [
    "HIGH_EFFORT",
    "NPS",
    "REST",
    "AnswerFact",
    "EffortFact",
    "Fact",
    "OutcomeFact",
    "PromptEventFact",
    "PromptFact",
    "without_releases",
]


#: The ``survey`` of a fact about the NPS question asked at a goal's moment; its answers and prompts
#: are counted apart from the goal's own question (CES or CSAT: any other value).
NPS = "nps"

#: The NPS answer's group in the split by recent effort: after a high-effort CES answer, or the rest.
HIGH_EFFORT, REST = "high_effort", "rest"


@dataclass(frozen=True, slots=True)
class AnswerFact:
    """An accepted answer: ``score`` on the prompt's scale, classified as ``sentiment``.

    ``outcome`` triggered the prompt; ``channel`` is where the goal was attempted; ``band`` is
    the duration band of a timed completion (``""``: not timed). ``survey`` is the question
    answered (``ces``, ``csat``, or :data:`NPS`); ``effort_group`` of an NPS answer is
    :data:`HIGH_EFFORT` or :data:`REST` (``""`` for the others). ``app_version`` is the goal event's
    (``""``: it named none); the goal's own question's answers are also counted per release.
    """

    goal: str
    at_s: float
    score: int
    sentiment: Sentiment
    outcome: str
    channel: str
    band: str = ""
    survey: str = "ces"
    effort_group: str = ""
    app_version: str = ""


@dataclass(frozen=True, slots=True)
class PromptFact:
    """A prompt sent after ``outcome`` (counted for the response ratio), asking ``survey``."""

    goal: str
    at_s: float
    outcome: str
    survey: str = "ces"


@dataclass(frozen=True, slots=True)
class OutcomeFact:
    """A goal outcome (counted for the completion ratio, prompted or not), and in its stratum
    (outcome x ``channel``) unless the channel is ``""`` (a decision recorded before strata)."""

    goal: str
    at_s: float
    outcome: str
    channel: str = ""


@dataclass(frozen=True, slots=True)
class EffortFact:
    """The measured effort of a timed completion: seconds from the attempt's first start, and
    whether it was started more than once (counted at the completion's time)."""

    goal: str
    at_s: float
    duration_s: float
    retried: bool


@dataclass(frozen=True, slots=True)
class PromptEventFact:
    """A prompt the app reported ``shown`` or ``dismissed`` (``kind``), at the event's time; the
    prompt asked ``survey``."""

    goal: str
    at_s: float
    kind: str
    survey: str = "ces"


Fact = AnswerFact | PromptFact | OutcomeFact | EffortFact | PromptEventFact


def without_releases(facts: list[tuple[int, Fact]]) -> list[tuple[int, Fact]]:
    """The facts with no answer counted per release (``CES_RELEASE_COUNTS=false``)."""
    return [
        (offset, replace(fact, app_version="") if type(fact) is AnswerFact and fact.app_version else fact)
        for offset, fact in facts
    ]


# Exact types: the fold checks ``type(fact) in FACT_TYPES`` and sees no subclasses.
FACT_TYPES = frozenset({AnswerFact, PromptFact, OutcomeFact, EffortFact, PromptEventFact})
