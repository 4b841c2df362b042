"""Retries of one backend call, bounded three ways: attempts, the request's deadline, a retry budget.

Only failures the upstream owns are retried (connect errors, timeouts, 429, 5xx), never a request the
upstream refused as such. A `Retry-After` the upstream sent is honoured: the retry waits that long, or
is not made when the wait is longer than `max_wait_s` or would outlive the deadline (the breaker then
keeps the backend out of rotation for that long, see guard.py). The budget keeps retries under a
share of recent requests, so a sick upstream under load gets one extra call in a few rather than a
doubled load; as in Envoy's retry budget, a few retries in flight at once are always allowed
(`floor`), so that light traffic is not left on a hung backend once a few of its requests were
rescued (a floor counted per window instead let 3 retries through in 10 s: at 3 requests a second,
the fourth request a hung replica accepted waited out its client's timeout).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from gateway.errors import GatewayError, UpstreamTimeout

__all__ = ["RetryBudget", "retry_after_s", "retry_failed"]

_T = TypeVar("_T")


class RetryBudget:
    """Allows a retry while fewer than `floor` granted ones are in flight, or while retries in the last
    `window_s` stay under `ratio` of requests. Whoever was granted one calls `release` when it ended;
    one never released stops counting as in flight after `window_s`."""

    def __init__(self, ratio: float = 0.2, window_s: float = 10.0, floor: int = 3) -> None:
        self.ratio, self.window_s, self.floor = ratio, window_s, floor
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()
        self._active: deque[float] = deque()  # when each retry still in flight was granted
        self.granted = 0
        self.denied = 0

    def adopt(self, old: RetryBudget) -> None:
        """A reload must not reset the window: a sick upstream would get a fresh allowance."""
        self._requests, self._retries, self._active = old._requests, old._retries, old._active
        self.granted, self.denied = old.granted, old.denied

    def _trim(self, now: float) -> None:
        for q in (self._requests, self._retries, self._active):
            while q and q[0] < now - self.window_s:
                q.popleft()

    def request(self, now: float) -> None:
        self._requests.append(now)
        self._trim(now)

    def acquire(self, now: float) -> bool:
        self._trim(now)
        if len(self._active) < self.floor or len(self._retries) < self.ratio * len(self._requests):
            self._retries.append(now)
            self._active.append(now)
            self.granted += 1
            return True
        self.denied += 1
        return False

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def release(self) -> None:
        """A granted retry ended (answered, failed or cancelled)."""
        if self._active:
            self._active.popleft()  # which one does not matter: only how many are left


def retry_after_s(exc: BaseException) -> float:
    """The upstream's Retry-After in seconds (the HTTP-date form is not worth a retry: 0)."""
    if isinstance(exc, GatewayError):
        value = exc.headers.get("retry-after", "")
        try:
            return max(0.0, float(value))
        except ValueError:
            return 0.0
    return 0.0


async def retry_failed(
    fn: Callable[[], Awaitable[_T]],
    first: GatewayError,
    *,
    attempts: int,
    deadline: float,
    budget: RetryBudget,
    clock: Callable[[], float],
    allowed: Callable[[], bool] = lambda: True,
    backoff_s: float = 0.05,
    max_wait_s: float = 2.0,
    on_retry: Callable[[BaseException | None], None] | None = None,
    on_denied: Callable[[], None] | None = None,
    timeouts: bool = True,
) -> _T:
    """The first attempt failed with `first`: run `fn` again while every bound allows (the first
    counts as attempt 1; `timeouts` False: not after a timeout); the last error is raised."""

    def pause(exc: BaseException | None, attempt: int) -> float:
        backoff: float = backoff_s * 2 ** (attempt - 1)
        return max(backoff, retry_after_s(exc)) if exc is not None else backoff

    held = False  # a retry granted by the budget is in flight (asleep before it, or running)

    def give_up(exc: BaseException | None, attempt: int) -> bool:
        nonlocal held
        if held:  # asked after the retry it was granted for failed: that one has ended
            budget.release()
            held = False
        if attempt >= attempts or (not timeouts and isinstance(exc, UpstreamTimeout)):
            return True
        now, wait = clock(), pause(exc, attempt)
        # A Retry-After longer than max_wait_s is better spent on another backend.
        if wait > max_wait_s or now + wait >= deadline or not allowed():
            return True
        if not budget.acquire(now):  # last: a retry that is not made spends no budget
            if on_denied is not None:
                on_denied()
            return True
        held = True
        if on_retry is not None:
            on_retry(exc)
        return False

    if not first.retryable or give_up(first, 1):
        raise first

    def stop(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return give_up(exc, state.attempt_number + 1)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return pause(exc, state.attempt_number + 1)

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(lambda e: isinstance(e, GatewayError) and e.retryable),
        reraise=True,
    )
    try:
        await asyncio.sleep(pause(first, 1))
        return await retrying(fn)
    finally:
        if held:  # the last retry answered, or the request ended while it ran or waited
            budget.release()
