"""``GET /api/themes?goal=<slug>&days=<7|28>``: the comment themes of one goal on the worker's CES page.

The answer is computed by :func:`stream.pipeline.themes_job.goal_themes` in one process of its own
(a ``ProcessPoolExecutor`` of one ``spawn`` process, started at the first request, ended when the worker
stops): the read and the computation take seconds and hold the GIL, so in the worker they would stall its
event loop and its stages; and numpy, scipy and scikit-learn stay out of the worker's process.

After the themes of :data:`RETIRE_AFTER_COMMENTS` comments or more the process ends, giving its memory back,
and the next request starts another.

Each (goal, days) answer is kept :data:`CACHE_SECONDS`; requests for a key being computed wait for that
computation instead of starting another (:class:`SharedResults`). A goal the registry does not hold is a 404,
a period other than :data:`THEME_DAYS` a 400; a failure (broker unreachable, a read or computation that
takes too long, the process gone) is a 503 with the reason, never an exception into Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from stream.ces.registry import GoalRegistry
from stream.errors import CesError
from stream.pipeline.themes_job import READ_TIMEOUT_S, goal_themes
from stream.settings import Settings

log = logging.getLogger(__name__)

THEME_DAYS = (7, 28)
DEFAULT_DAYS = 7
CACHE_SECONDS = 600.0
# How long a request waits: the read's own limit, the computation (10 to 30 s for 100 000 comments) and the
# process's start with its imports. The computation goes on past it, for the next request.
WAIT_TIMEOUT_S = READ_TIMEOUT_S + 60.0
# After the themes of this many comments the process ends and the next request starts another: Python keeps
# the memory such a computation took (about 370 MB stay taken after 100 000 comments, 540 MB at the peak),
# while a process start costs a second or two.
RETIRE_AFTER_COMMENTS = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedResults(Generic[K, V]):
    """Results by key, each kept ``ttl_s`` seconds; callers asking for a key that is being computed share
    that one computation. A failure is handed to every caller waiting for it and is not kept."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._done: dict[K, tuple[float, V]] = {}
        self._running: dict[K, asyncio.Future[V]] = {}

    def fresh(self, key: K) -> V | None:
        """The kept result of ``key`` while it is fresh, else ``None``."""
        kept = self._done.get(key)
        if kept is None:
            return None
        if kept[0] <= self._clock():
            del self._done[key]
            return None
        return kept[1]

    def running(self, key: K) -> bool:
        return key in self._running

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        """The fresh result of ``key``, the one being computed, or a new computation's.

        A caller that is cancelled (or stops waiting) leaves the computation running for the others.
        """
        kept = self.fresh(key)
        if kept is not None:
            return kept
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(self._compute(key, compute))
            future.add_done_callback(_retrieve)
            self._running[key] = future
        return await asyncio.shield(future)

    async def _compute(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await compute()
            self._done[key] = (self._clock() + self.ttl_s, value)
            return value
        finally:
            del self._running[key]


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared computation's exception as seen: its callers may all have stopped waiting."""
    if not future.cancelled():
        future.exception()


def _ignore_interrupts() -> None:
    """In the themes process: Ctrl-C reaches the whole process group; the worker ends this process itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def themes_process() -> ProcessPoolExecutor:
    """One ``spawn`` process (a fresh interpreter: nothing of the worker's loop, threads or imports)."""
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
    )


class BadQuery(Exception):
    """A request for a goal or a period the worker does not know: its HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def themes_query(registry: GoalRegistry, goal: str | None, days: str | None) -> tuple[str, int]:
    """The (goal, days) a request asks for.

    :raises BadQuery: 404 for a goal the registry does not hold, 400 without a goal or for another period.
    """
    if not goal:
        raise BadQuery(400, "goal=<slug> is required")
    if registry.get(goal) is None:
        raise BadQuery(404, f"goal {goal!r} is not in the goal registry")
    try:
        period = DEFAULT_DAYS if days in (None, "") else int(str(days))
    except ValueError:
        period = -1
    if period not in THEME_DAYS:
        raise BadQuery(400, f"days must be one of {', '.join(map(str, THEME_DAYS))}")
    return goal, period


class ThemesApi:
    """What ``/api/themes`` answers, computed in the themes process, kept and shared per (goal, days)."""

    def __init__(
        self,
        settings: Settings,
        registry: GoalRegistry,
        *,
        ttl_s: float = CACHE_SECONDS,
        wait_timeout_s: float = WAIT_TIMEOUT_S,
        job: Callable[..., dict[str, Any]] = goal_themes,
        make_executor: Callable[[], Executor] = themes_process,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.wait_timeout_s = wait_timeout_s
        self.results: SharedResults[tuple[str, int], dict[str, Any]] = SharedResults(ttl_s)
        self._job = job
        self._make_executor = make_executor
        self._pool: Executor | None = None
        self._stopped = False

    def _executor(self) -> Executor:
        if self._stopped:
            raise CesError("the worker is stopping")
        if self._pool is None:
            self._pool = self._make_executor()
        return self._pool

    async def _compute(self, goal: str, days: int) -> dict[str, Any]:
        config = self.registry.get(goal)
        assert config is not None  # themes_query checked it
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        try:
            answer = await loop.run_in_executor(
                self._executor(), self._job, self.settings, goal, config.scale_obj(), days, now
            )
        except BrokenProcessPool:
            self._drop_pool()  # the process died (killed, out of memory): the next request starts another
            raise CesError("the themes process ended unexpectedly") from None
        if answer.get("comments", 0) >= RETIRE_AFTER_COMMENTS:
            self._retire_pool()
        return answer

    async def answer(self, goal: str | None, days: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a request's ``goal`` and ``days``."""
        try:
            slug, period = themes_query(self.registry, goal, days)
        except BadQuery as bad:
            return bad.status, {"error": bad.reason}
        try:
            body = await asyncio.wait_for(
                self.results.get((slug, period), lambda: self._compute(slug, period)), self.wait_timeout_s
            )
        except TimeoutError:
            reason = f"the themes took over {self.wait_timeout_s:.0f} s; they are still being computed, try again"
            return 503, {"error": reason}
        except CesError as exc:
            return 503, {"error": str(exc)}
        except Exception as exc:  # never into Faust: the page says what failed
            log.exception("the themes of %s over %s days failed", slug, period)
            return 503, {"error": f"the themes could not be computed: {type(exc).__name__}: {exc}"}
        return 200, body

    def _retire_pool(self) -> None:
        """Let the process end once it has done what it was given; the next request starts another."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        # A computation under way would hold the worker's exit until it ends: end its process now.
        # (ProcessPoolExecutor has no public way before Python 3.14's terminate_workers.)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()

    async def stop(self, sender: object = None, **kwargs: Any) -> None:
        """Shut the themes process down (the worker is stopping); requests from now on are refused."""
        self._stopped = True
        self._drop_pool()
