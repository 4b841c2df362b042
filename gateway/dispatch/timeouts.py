"""Deadlines for awaits on the hot path, armed in the awaiting frame itself.

`Deadline(seconds)` cancels the current task when the time is up; the frame that awaits asks it,
in its `except CancelledError`, whether the cancellation was its own (`expired()`), and disarms it
in its `finally`. It is what asyncio.timeout does, at a third of its cost, and with no coroutine of
its own between the awaiting frame and what it awaits (every frame on that chain is paid again at
each suspension). As asyncio.timeout does, it takes back its own cancellation (`uncancel`) and lets
any other one through: a hedge that won (dispatch/hedge.py) or a client that left, arriving with the
deadline, is still a cancellation, not a timeout.

`Watch(seconds, look, first)` is a Deadline that may also fire sooner: from `first` seconds on it
asks `look` when to ask again (None: give up now), until the deadline proper.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Deadline", "Silent", "Watch", "within"]

_T = TypeVar("_T")


class Deadline:
    __slots__ = ("_cancelling", "_handle", "_task", "fired")

    def __init__(self, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self.fired = False
        self._handle = asyncio.get_running_loop().call_later(seconds, self._fire)

    def _fire(self) -> None:
        self.fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """In an `except CancelledError`: was it this deadline's (taken back, then) rather than
        someone else's?"""
        return self.fired and self._task.uncancel() <= self._cancelling

    def disarm(self) -> None:
        self._handle.cancel()


class Watch(Deadline):
    __slots__ = ("_end", "_look", "gave_up")

    def __init__(self, seconds: float, look: Callable[[], float | None], first: float) -> None:
        self._look = look
        self.gave_up = False
        self._end = asyncio.get_running_loop().time() + seconds
        super().__init__(min(first, seconds))

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        left = self._end - loop.time()
        if left > 0:  # before the deadline proper: asked
            later = self._look()
            if later is not None:
                self._handle = loop.call_later(min(later, left), self._fire)
                return
            self.gave_up = True
        super()._fire()


class Silent(TimeoutError):
    """A Watch's `look` gave up before its deadline."""


async def within(
    seconds: float,
    work: Awaitable[_T],
    look: Callable[[], float | None] | None = None,
    first: float = math.inf,
) -> _T:
    """`work`, or TimeoutError after `seconds` (where a frame of its own does not matter); with
    `look`, a Watch's: Silent when it gave up sooner."""
    deadline = Deadline(seconds) if look is None else Watch(seconds, look, first)
    try:
        return await work
    except asyncio.CancelledError:
        if deadline.expired():
            raise (Silent if isinstance(deadline, Watch) and deadline.gave_up else TimeoutError) from None
        raise
    finally:
        deadline.disarm()
