"""Hedging as a staggered race: a slow attempt gets company, and whichever answers first is the answer.

`race(first, second, delay, may_hedge, let_go, ended)` starts attempt `first` in the caller's own task,
with one timer beside it. If `first` has not committed (a plain answer whole, a stream its first chunk)
when the timer fires and `may_hedge()` says so, `second` starts in a task of its own, and `ended()` is
called once that task is done however it ended (the retry budget counts hedges in flight). The first to
commit wins; the other is cancelled, which releases its in-flight slot and closes its stream. The fast
path (the first answers in time) costs the timer and nothing else: no task.

What the race returns is its outcome, nothing more: which attempt answered (`winner`: 0, 1 or None),
its answer, the failures on the way (by attempt), and what became of the hedge (`hedge`: won, lost,
failed, or None when none started). It knows nothing of breakers, metrics or candidates: the walk
(dispatch/walk.py) settles the breakers, records the hedge and moves on from the outcome. The one
thing handed back later is an answer nobody will read (a cancelled hedge that answered in the same
instant), to `let_go`, so that its slot and stream are let go.

A first attempt that fails before the timer fires is a plain failure (the walk falls back, as without
hedging); one that fails while the hedge runs leaves the hedge to answer alone (`fell_back`), unless
its failure ends the request (`ends_request`: the request itself was refused), which cancels the hedge.

The policy of when to hedge, and to whom, is the walk's and the rules': the delay is set by the hedged
candidate's tier (a factor of its recent p95), and the hedge goes only to a tier that hedges too, since
a cancelled hedge is still billed by a per-token provider (rules/schema.py, HedgeSpec). Requests that
must not run twice never get here (Call.hedgeable), nor modes whose attempts share state (the
Responses API's, dispatch/translated.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gateway.errors import ContextOverflow, GatewayError

__all__ = ["Outcome", "ends_request", "race"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def ends_request(err: GatewayError) -> bool:
    """A failure no other candidate can mend: the request itself was refused. (A window too small for
    it is mended by a larger one, so that one moves on too.)"""
    return not err.retryable and not isinstance(err, ContextOverflow)


@dataclass(slots=True)
class Outcome(Generic[_T]):
    winner: int | None  # 0: the first attempt answered, 1: the hedge; None: neither
    result: _T | None = None
    errors: list[tuple[int, GatewayError]] = field(default_factory=list)  # (attempt, its failure)
    hedge: str | None = None  # won, lost or failed; None: no hedge started
    fell_back: bool = False  # the first failed while the hedge ran, which then went on alone


class _Race(Generic[_T]):
    __slots__ = ("ended", "first", "hedge", "let_go", "may_hedge", "racing", "second", "task", "won")

    def __init__(
        self,
        first: Callable[[], Awaitable[_T]],
        second: Callable[[], Coroutine[Any, Any, _T]],
        may_hedge: Callable[[], bool],
        let_go: Callable[[int, _T], None],
        ended: Callable[[], None],
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.first, self.second = first, second
        self.may_hedge, self.let_go, self.ended = may_hedge, let_go, ended
        self.task = task
        self.hedge: asyncio.Task[_T] | None = None
        self.racing = True  # while the first may still win; the hedge may interrupt it only then
        self.won = False  # the hedge committed first

    def _fire(self) -> None:
        """The delay passed and the first attempt has not committed: hedge, if allowed."""
        if not self.racing or not self.may_hedge():
            return
        hedge = asyncio.get_running_loop().create_task(self.second())
        hedge.add_done_callback(self._done)
        self.hedge = hedge

    def _done(self, hedge: asyncio.Task[_T]) -> None:
        # A done callback, not a `finally` in the hedge: a task cancelled before its first step never
        # runs its coroutine's body.
        self.ended()
        if self.racing and not hedge.cancelled() and hedge.exception() is None:
            self.won = True
            self.racing = False
            self.task.cancel()  # the first attempt, in the caller's task, ends here

    def _abandon(self) -> None:
        """Nobody waits for the hedge any more: cancel it; an answer it still brings is let go."""
        hedge = self.hedge
        if hedge is not None:
            hedge.cancel()
            hedge.add_done_callback(self._drop)

    def _drop(self, hedge: asyncio.Task[_T]) -> None:
        if hedge.cancelled():
            return
        exc = hedge.exception()
        if exc is None:
            self.let_go(1, hedge.result())
        elif not isinstance(exc, GatewayError):
            log.error("hedge raised %r", exc)

    async def run(self, delay: float) -> Outcome[_T]:
        timer = asyncio.get_running_loop().call_later(delay, self._fire)
        try:
            result = await self.first()
        except asyncio.CancelledError:
            timer.cancel()
            if not self.won:  # the client left, or the server stops: the hedge goes with it
                self.racing = False
                self._abandon()
                raise
            self.task.uncancel()
            return self._won([])
        except GatewayError as err:
            timer.cancel()
            if self.won:  # the hedge's cancellation arrived as the first's own failure
                self.task.uncancel()
                return self._won([(0, err)])
            self.racing = False
            if self.hedge is None:
                return Outcome(None, errors=[(0, err)])
            if ends_request(err):  # the walk raises it: the hedge is cancelled, and not counted
                self._abandon()
                return Outcome(None, errors=[(0, err)])
            return await self._alone(err)
        except BaseException:
            timer.cancel()
            self.racing = False
            self._abandon()
            raise
        timer.cancel()
        self.racing = False
        if self.hedge is None:
            return Outcome(0, result)
        return await self._lost(result)

    def _won(self, errors: list[tuple[int, GatewayError]]) -> Outcome[_T]:
        hedge = self.hedge
        assert hedge is not None
        return Outcome(1, hedge.result(), errors, hedge="won")

    async def _alone(self, err: GatewayError) -> Outcome[_T]:
        """The first attempt failed while its hedge runs: the hedge is the fallback, already started."""
        hedge = self.hedge
        assert hedge is not None
        try:
            result = await hedge  # cancelling the caller cancels it too
        except GatewayError as failed:
            return Outcome(None, errors=[(0, err), (1, failed)], hedge="failed", fell_back=True)
        except asyncio.CancelledError:
            self._abandon()
            raise
        return Outcome(1, result, [(0, err)], hedge="won", fell_back=True)

    async def _lost(self, result: _T) -> Outcome[_T]:
        """The first attempt answered first: stop the hedge and wait until it let go of its slot."""
        hedge = self.hedge
        assert hedge is not None
        failed = hedge.done() and not hedge.cancelled() and hedge.exception() is not None
        hedge.cancel()
        try:
            await asyncio.wait((hedge,))
        except BaseException:
            self._abandon()
            self.let_go(0, result)
            raise
        self._drop(hedge)  # it may have answered too, in the same instant: that answer is let go
        return Outcome(0, result, hedge="failed" if failed else "lost")


async def race(
    first: Callable[[], Awaitable[_T]],
    second: Callable[[], Coroutine[Any, Any, _T]],
    delay: float,
    may_hedge: Callable[[], bool],
    let_go: Callable[[int, _T], None],
    ended: Callable[[], None],
) -> Outcome[_T]:
    """Attempt `first`, and `second` beside it once `delay` seconds passed, if `may_hedge()` then.

    Returns the outcome (module docstring). Raises only a cancellation (the hedge cancelled with it)."""
    return await _Race(first, second, may_hedge, let_go, ended).run(delay)
