"""The gateway's memory of unexpired prompts per user: what a stream that (re)connects is owed.

Keyed by the pseudonymous user reference (``stream.ces.intake.pseudonymise``), never the raw id.
Bounded per user (the oldest prompt goes first) and in all (the prompt closest to its expiry goes
first); an expired prompt is never handed out and is dropped by :meth:`PromptBuffer.expire`. A
prompt the user answered, or that was shown or dismissed, is *closed*: dropped, and not taken
again should its record be read once more (a replay after a gateway restart, or a worker that
re-sent it after a crash).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from stream.ces.gateway.prompts import EventId, PromptRecord

#: Closures kept per user, as a multiple of the prompts kept per user.
CLOSURES_PER_PROMPT = 4
# A heap is rebuilt from the live entries when it holds this many more than twice the live ones.
_COMPACT_SLACK = 1024


@dataclass(slots=True)
class _User:
    prompts: list[PromptRecord] = field(default_factory=list)
    """In the order they arrived (for one user: the order of their offsets)."""
    closed: dict[str, float] = field(default_factory=dict)
    """prompt_id -> when the closure may be forgotten, in the order they were closed."""


class PromptBuffer:
    """Unexpired prompts and closures per user reference.

    :param per_user: most prompts kept per user.
    :param total: most prompts kept in all, and most closures kept in all.
    :param closure_s: how long a closure of a prompt the buffer does not hold is kept (the replay
        window: its prompt may still be read).
    """

    def __init__(self, per_user: int, total: int, closure_s: float) -> None:
        if per_user < 1 or total < 1:
            raise ValueError("the buffer holds at least one prompt per user and in all")
        self.per_user = per_user
        self.total = total
        self.closure_s = closure_s
        self._users: dict[str, _User] = {}
        self._prompts = 0
        self._closures = 0
        self._expiries: list[tuple[float, str, str]] = []
        self._forgets: list[tuple[float, str, str]] = []

    @property
    def prompts(self) -> int:
        """Prompts held now."""
        return self._prompts

    @property
    def users(self) -> int:
        """Users with a prompt or a closure held now."""
        return len(self._users)

    def add(self, user_ref: str, prompt: PromptRecord, now_s: float) -> bool:
        """Keep a prompt read from the topic.

        :returns: True when it is new and deliverable (not expired, not closed, not held already under its
            ``prompt_id`` or event id): the caller hands it to the user's open streams.
        """
        if prompt.expires_s <= now_s:
            return False
        user = self._users.get(user_ref)
        if user is None:
            user = self._users[user_ref] = _User()
        elif prompt.prompt_id in user.closed or any(
            held.prompt_id == prompt.prompt_id or held.event_id == prompt.event_id for held in user.prompts
        ):
            return False
        user.prompts.append(prompt)
        self._prompts += 1
        heapq.heappush(self._expiries, (prompt.expires_s, user_ref, prompt.prompt_id))
        if len(user.prompts) > self.per_user:
            user.prompts.pop(0)
            self._prompts -= 1
        while self._prompts > self.total:
            self._evict_soonest_expiring()
        if len(self._expiries) > 2 * self._prompts + _COMPACT_SLACK:
            self._expiries = [(p.expires_s, ref, p.prompt_id) for ref, u in self._users.items() for p in u.prompts]
            heapq.heapify(self._expiries)
        return True

    def close(self, user_ref: str, prompt_id: str, now_s: float) -> None:
        """The user answered the prompt, or it was shown or dismissed: drop it and do not take it again."""
        user = self._users.get(user_ref)
        if user is None:
            user = self._users[user_ref] = _User()
        elif prompt_id in user.closed:
            return
        forget_s = now_s + self.closure_s
        for index, held in enumerate(user.prompts):
            if held.prompt_id == prompt_id:
                forget_s = held.expires_s
                del user.prompts[index]
                self._prompts -= 1
                break
        user.closed[prompt_id] = forget_s
        self._closures += 1
        heapq.heappush(self._forgets, (forget_s, user_ref, prompt_id))
        if len(user.closed) > CLOSURES_PER_PROMPT * self.per_user:
            del user.closed[next(iter(user.closed))]
            self._closures -= 1
        while self._closures > self.total:
            self._forget_soonest()
        if len(self._forgets) > 2 * self._closures + _COMPACT_SLACK:
            self._forgets = [(s, ref, pid) for ref, u in self._users.items() for pid, s in u.closed.items()]
            heapq.heapify(self._forgets)
        if not user.prompts and not user.closed:
            self._users.pop(user_ref, None)  # its last closure may have gone to the bound

    def pending(self, user_ref: str, after: EventId | None, now_s: float) -> list[PromptRecord]:
        """The user's unexpired, unclosed prompts a client that saw ``after`` (None: nothing) has not seen, oldest first."""
        user = self._users.get(user_ref)
        if user is None:
            return []
        return [
            prompt
            for prompt in user.prompts
            if prompt.expires_s > now_s and (after is None or not after.precedes(prompt.event_id))
        ]

    def expire(self, now_s: float) -> int:
        """Drop the prompts that expired and the closures past their time.

        :returns: how many prompts were dropped.
        """
        dropped = 0
        while self._expiries and self._expiries[0][0] <= now_s:
            expires_s, user_ref, prompt_id = heapq.heappop(self._expiries)
            dropped += self._remove_prompt(user_ref, prompt_id, expires_s)
        while self._forgets and self._forgets[0][0] <= now_s:
            forget_s, user_ref, prompt_id = heapq.heappop(self._forgets)
            self._remove_closure(user_ref, prompt_id, forget_s)
        return dropped

    def _evict_soonest_expiring(self) -> None:
        while self._expiries:
            expires_s, user_ref, prompt_id = heapq.heappop(self._expiries)
            if self._remove_prompt(user_ref, prompt_id, expires_s):
                return

    def _forget_soonest(self) -> None:
        while self._forgets:
            forget_s, user_ref, prompt_id = heapq.heappop(self._forgets)
            if self._remove_closure(user_ref, prompt_id, forget_s):
                return

    def _remove_prompt(self, user_ref: str, prompt_id: str, expires_s: float) -> int:
        """Remove the prompt a heap entry names, if it is still held (entries of removed prompts linger)."""
        user = self._users.get(user_ref)
        if user is None:
            return 0
        for index, held in enumerate(user.prompts):
            if held.prompt_id == prompt_id and held.expires_s == expires_s:
                del user.prompts[index]
                self._prompts -= 1
                if not user.prompts and not user.closed:
                    del self._users[user_ref]
                return 1
        return 0

    def _remove_closure(self, user_ref: str, prompt_id: str, forget_s: float) -> bool:
        user = self._users.get(user_ref)
        if user is None or user.closed.get(prompt_id) != forget_s:
            return False
        del user.closed[prompt_id]
        self._closures -= 1
        if not user.prompts and not user.closed:
            del self._users[user_ref]
        return True
