"""What every store shared between replicas through Redis does alike: its client, how it reports an
outage, and the writes it makes after an answer, off the request's path."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Background", "Outage", "redis_client"]

# Short timeouts: every shared store sits in front of a request (limits, a continued chain, feedback)
# or right after its answer.
_TIMEOUT_S = 0.5
_LOG_EVERY_S = 30.0


def redis_client(url: str) -> Redis:
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S)


class Outage:
    """A store's failures: each one counted (`on_error(op)`, the caller's metric), logged to the store's
    own logger at most every 30 s so that a Redis that is down does not flood the log, and by the
    exception's type only: never the URL (it may hold a password) nor a key."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        consequence: str = "",
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._log = log
        self._what = what
        self._consequence = f"; {consequence}" if consequence else ""
        self._on_error = on_error
        self._logged_at = -_LOG_EVERY_S

    def __call__(self, op: str, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(op)
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            self._logged_at = now
            what, why = self._what, type(exc).__name__
            self._log.warning("%s unreachable (%s: %s)%s", what, op, why, self._consequence)


class Background:
    """Writes made after an answer: started without waiting, held until they ran, awaited at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
