"""Hedging: a candidate slow to answer gets company, and whichever of the two answers first is the answer.

A hedged attempt starts candidate i as any attempt, in the walk's own task, with one timer beside it.
If i has not committed (a plain answer whole, a stream its first chunk) when the timer fires, at
`factor` times its recent p95 (routing/estimates.py) within the tier's floor and cap, and the next
candidate is available and the retry budget grants one more call, the next candidate starts in a task
of its own. The first to commit wins; the other is cancelled, which releases its in-flight slot and
closes its stream. The fast path (i answers in time) costs the timer and nothing else: no task.

When the hedge wins, candidate i did not answer within `factor` times its p95 plus the hedge's own
time: an outlier, which is what outlier detection is for, so its breaker records a failure (not an
abandoned call), and a replica that accepts connections and never answers is ejected like one that
refuses them. (A candidate merely slow, not hung, is counted the same: it lost by more than its own
tail allows; a healthy one loses rarely, far below what trips a breaker.) When i wins, the hedge is
abandoned without a verdict: it started later, which says nothing of its backend. A candidate that
fails before the timer fires is a fallback, as without hedging; one that fails while its hedge runs
leaves the hedge to answer alone.

The delay is set by the hedged candidate's tier, and the hedge goes only to a tier that hedges too:
a cancelled hedge is still billed by a per-token provider (rules/schema.py, HedgeSpec). Requests that
must not run twice never get here (Call.hedgeable), nor modes whose attempts share state (the
Responses API's, dispatch/translated.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.backends.base import Backend
    from gateway.dispatch.walk import Mode, Walk
    from gateway.protocol import Call

__all__ = ["race"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_background: set[asyncio.Task[None]] = set()  # discards of late results, held until they ran


Candidate: TypeAlias = tuple["Backend", str]


class _Race(Generic[_T]):
    """One hedged attempt: candidate `first`, and `second` once the delay passed."""

    __slots__ = ("call", "first", "hedge", "mode", "racing", "second", "task", "walk", "won")

    def __init__(self, walk: Walk, mode: Mode[_T], call: Call, first: Candidate, second: Candidate) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.walk, self.mode, self.call = walk, mode, call
        self.first, self.second = first, second
        self.task = task
        self.hedge: asyncio.Task[_T] | None = None
        self.racing = True  # while the first may still win; the hedge may interrupt it only then
        self.won = False  # the hedge committed first

    def fire(self) -> None:
        """The delay passed and the first candidate has not committed: hedge, if allowed."""
        if not self.racing:
            return
        walk = self.walk
        backend, tier = self.second
        guard, now = walk.snap.guard, walk.clock()
        if walk.deadline <= now or not guard.available(backend, now):
            return
        slow, slow_tier = self.first
        if not guard.budget.acquire(now):
            walk.recorder.hedged(slow_tier, slow.name, "denied")
            return
        log.debug("hedging %s with %s", slow.name, backend.name)
        hedge = asyncio.get_running_loop().create_task(walk.attempt_on(backend, tier, self.mode, self.call))
        hedge.add_done_callback(self._done)
        self.hedge = hedge

    def _done(self, hedge: asyncio.Task[_T]) -> None:
        if self.racing and not hedge.cancelled() and hedge.exception() is None:
            self.won = True
            self.racing = False
            self.task.cancel()  # the first candidate's attempt, in the walk's task, ends here

    def _result(self, outcome: str) -> None:
        slow, tier = self.first
        self.walk.recorder.hedged(tier, slow.name, outcome)

    def _abandon(self) -> None:
        """Nobody waits for the hedge any more: cancel it; a result it still brings is discarded."""
        hedge = self.hedge
        if hedge is not None:
            hedge.cancel()
            hedge.add_done_callback(self._drop)

    def _drop(self, hedge: asyncio.Task[_T]) -> None:
        if hedge.cancelled():
            return
        exc = hedge.exception()
        if exc is None:
            _later(self.walk.discard(self.second[0], hedge.result()))
        elif not isinstance(exc, GatewayError):
            log.error("hedge to %s raised %r", self.second[0].name, exc)

    def _won(self, failed: bool = False) -> tuple[int, tuple[Backend, str, _T]]:
        """The hedge committed first: the first candidate never answered, which its breaker hears
        (unless it `failed` on its own in the same instant, which the guard recorded already)."""
        hedge = self.hedge
        assert hedge is not None
        if not failed:
            walk = self.walk
            walk.snap.guard.settle(self.first[0], ok=False, now=walk.clock())
        self._result("won")
        backend, tier = self.second
        return 2, (backend, tier, hedge.result())

    async def run(
        self, delay: float, failures: list[tuple[Backend, GatewayError]]
    ) -> tuple[int, tuple[Backend, str, _T] | None]:
        walk, (first, tier) = self.walk, self.first
        timer = asyncio.get_running_loop().call_later(delay, self.fire)
        try:
            result = await walk.attempt_on(first, tier, self.mode, self.call)
        except asyncio.CancelledError:
            timer.cancel()
            if not self.won:  # the client left, or the server stops: the hedge goes with it
                self.racing = False
                self._abandon()
                raise
            self.task.uncancel()
            return self._won()
        except GatewayError as err:
            timer.cancel()
            failures.append((first, err))
            if self.won:  # the hedge's cancellation arrived as the first's own timeout
                self.task.uncancel()
                return self._won(failed=True)
            self.racing = False
            log.warning("backend %s failed: %s", first.name, err.message)
            if self.hedge is None:
                if not err.retryable:
                    raise
                return 1, None
            if not err.retryable:
                self._abandon()
                raise
            return await self._alone(failures)
        except BaseException:
            timer.cancel()
            self.racing = False
            self._abandon()
            raise
        timer.cancel()
        self.racing = False
        if self.hedge is not None:
            await self._lost(first, result)
        return 1, (first, tier, result)

    async def _alone(
        self, failures: list[tuple[Backend, GatewayError]]
    ) -> tuple[int, tuple[Backend, str, _T] | None]:
        """The first candidate failed while its hedge runs: the hedge is the fallback, already started."""
        hedge = self.hedge
        assert hedge is not None
        backend, tier = self.second
        walk = self.walk
        walk.recorder.moved_on(walk.trace, failures[-1][1])
        try:
            result = await hedge  # cancelling the walk cancels it too
        except GatewayError as err:
            failures.append((backend, err))
            log.warning("backend %s failed: %s", backend.name, err.message)
            self._result("failed")
            if not err.retryable:
                raise
            return 2, None
        except asyncio.CancelledError:
            self._abandon()
            raise
        self._result("won")
        return 2, (backend, tier, result)

    async def _lost(self, first: Backend, result: _T) -> None:
        """The first candidate answered first: stop the hedge and wait until it let go of its slot."""
        hedge = self.hedge
        assert hedge is not None
        failed = hedge.done() and not hedge.cancelled() and hedge.exception() is not None
        self._result("failed" if failed else "lost")
        hedge.cancel()
        try:
            await asyncio.wait((hedge,))
        except BaseException:
            self._abandon()
            _later(self.walk.discard(first, result))
            raise
        self._drop(hedge)  # it may have answered too, in the same instant: that answer is discarded


def _later(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def race(
    walk: Walk,
    mode: Mode[_T],
    call: Call,
    first: Candidate,
    second: Candidate,
    delay: float,
    failures: list[tuple[Backend, GatewayError]],
) -> Coroutine[Any, Any, tuple[int, tuple[Backend, str, _T] | None]]:
    """`first`, hedged with `second` after `delay` seconds.

    Returns how many of the two candidates were used and the winner (backend, tier, result), or no
    winner and the failures added to `failures`. Raises what the walk would: a failure that no other
    candidate can mend, or a cancellation (the hedge cancelled with it)."""
    return _Race(walk, mode, call, first, second).run(delay, failures)
