"""The prompt-event joiner: a prompt the app reported shown or dismissed, against the user's prompts.

Pure and deterministic, like :mod:`stream.ces.users.answer_joiner`, and with the same rules and
reasons as an answer: the prompt id is not known for this user -> ``unknown_prompt``; the event
names another goal than the prompt -> ``schema_violation``; the prompt's event of this type was
counted before -> the same event again re-emits its recorded fact with the ORIGINAL offset (a
replay at the same offset; a reported ``duplicate`` at another), another event of that type is
a ``duplicate`` without a fact; the event happened after ``expires_at`` plus
:data:`~stream.ces.users.state.ANSWER_GRACE_S` -> ``expired_prompt``; else a
:class:`~stream.ces.goals.PromptEventFact` at ``occurred_at``.

``shown`` and ``dismissed`` are counted once each per prompt, whatever else happened to it (a
prompt answered and then closed counts as dismissed too: the app reported it). A dismissal of
the user's latest prompt on its goal starts the goal's cooldown after a dismissal
(``UserState.dismissed_by_goal``), and a dismissed prompt no longer holds back other prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.dead_letter import DeadLetterReason
from schemas.prompt_event import PromptEvent, PromptEventType
from stream.ces.goals import NPS, PromptEventFact
from stream.ces.users.prompt_records import PromptDisplay, RecordedPromptEvent
from stream.ces.users.state import ANSWER_GRACE_S, UserState

__all__ = ["PromptEventDecision", "decide_prompt_event"]


@dataclass(frozen=True, slots=True)
class PromptEventDecision:
    """What one prompt event led to.

    :param prompt_id: the prompt.
    :param event_id: the event.
    :param facts: ``(source offset, PromptEventFact)`` pairs, zero or one; the offset is the original
        one on replay and duplicate.
    :param dead_letter_reason: why the event goes to the dead letters, if it does.
    :param detail: explanation for the dead letter.
    :param replayed: True when the fact was re-emitted from the record, not decided now.
    """

    prompt_id: str
    event_id: str
    facts: list[tuple[int, PromptEventFact]] = field(default_factory=list)
    dead_letter_reason: DeadLetterReason | None = None
    detail: str = ""
    replayed: bool = False


def decide_prompt_event(state: UserState, event: PromptEvent, *, offset: int, now_s: float) -> PromptEventDecision:
    """Judge one prompt event against the user's prompts, and record an accepted one in ``state``.

    :param state: the user's state; updated in place when the event is accepted.
    :param event: the validated prompt event.
    :param offset: source offset of the event on the internal per-user topic.
    :param now_s: Kafka timestamp of that record, epoch seconds (dates the record, for pruning).
    """
    prompt_id = str(event.prompt_id)
    event_id = str(event.event_id)
    kind = event.type.value

    def reject(reason: DeadLetterReason, detail: str) -> PromptEventDecision:
        return PromptEventDecision(prompt_id, event_id, dead_letter_reason=reason, detail=detail)

    pending = state.pending.get(prompt_id)
    answered = state.answered.get(prompt_id)
    display = state.displays.get(prompt_id)
    known = pending or answered or display
    if known is None:
        return reject(DeadLetterReason.unknown_prompt, f"no prompt {prompt_id} is known for this user")
    if event.goal != known.goal:
        return reject(
            DeadLetterReason.schema_violation,
            f"goal: the event names {event.goal!r} but prompt {prompt_id} asked about {known.goal!r}",
        )
    recorded = None if display is None else (display.shown if kind == "shown" else display.dismissed)
    if recorded is not None:
        return _counted_before(recorded, prompt_id, event_id, kind, known.goal, offset, known.survey)
    at_s = event.occurred_at.timestamp()
    expires_at_s = pending.expires_at_s if pending is not None else display.expires_at_s if display else None
    # An answered prompt was live when it was answered: what the app reports of it counts.
    if answered is None and expires_at_s is not None and at_s > expires_at_s + ANSWER_GRACE_S:
        return reject(
            DeadLetterReason.expired_prompt,
            f"{kind} at {event.occurred_at.isoformat()}, {at_s - expires_at_s:.0f} s after prompt {prompt_id} expired",
        )
    if display is None:
        # A prompt answered before its first event has no expiry any more: it ends with the answer.
        display = state.displays[prompt_id] = PromptDisplay(
            known.goal, expires_at_s if expires_at_s is not None else at_s, now_s, survey=known.survey
        )
    recorded = RecordedPromptEvent(event_id, offset, at_s)
    if event.type is PromptEventType.shown:
        display.shown = recorded
    else:
        display.dismissed = recorded
        # Dismissing the NPS question says nothing about the goal's own question.
        if pending is not None and known.survey != NPS and _latest_on_its_goal(state, prompt_id):
            state.dismissed_by_goal[known.goal] = at_s
    display.recorded_at_s = now_s
    state.note_offset(offset)
    fact = PromptEventFact(known.goal, at_s, kind, known.survey)
    return PromptEventDecision(prompt_id, event_id, facts=[(offset, fact)])


def _counted_before(
    recorded: RecordedPromptEvent, prompt_id: str, event_id: str, kind: str, goal: str, offset: int, survey: str
) -> PromptEventDecision:
    if event_id != recorded.event_id:
        return PromptEventDecision(
            prompt_id,
            event_id,
            dead_letter_reason=DeadLetterReason.duplicate,
            detail=f"prompt {prompt_id} was already reported {kind} by event {recorded.event_id}",
        )
    facts = [(recorded.offset, PromptEventFact(goal, recorded.at_s, kind, survey))]
    if offset == recorded.offset:
        return PromptEventDecision(prompt_id, event_id, facts=facts, replayed=True)
    return PromptEventDecision(
        prompt_id,
        event_id,
        facts=facts,
        dead_letter_reason=DeadLetterReason.duplicate,
        detail=f"prompt event {event_id} was already processed at offset {recorded.offset}",
        replayed=True,
    )


def _latest_on_its_goal(state: UserState, prompt_id: str) -> bool:
    """Whether no other pending prompt on the same goal was made after this one."""
    prompt = state.pending[prompt_id]
    return not any(
        other.goal == prompt.goal and other.created_at_s > prompt.created_at_s
        for pid, other in state.pending.items()
        if pid != prompt_id
    )
