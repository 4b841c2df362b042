"""Deadlines for awaits on the hot path, armed in the awaiting frame itself.

`Deadline(seconds)` cancels the current task when the time is up; the frame that awaits asks it,
in its `except CancelledError`, whether the cancellation was its own (`expired()`), and disarms it
in its `finally`. It is what asyncio.timeout does, at a third of its cost, and with no coroutine of
its own between the awaiting frame and what it awaits (every frame on that chain is paid again at
each suspension). As asyncio.timeout does, it takes back its own cancellation (`uncancel`) and lets
any other one through: a hedge that won (dispatch/hedge.py) or a client that left, arriving with the
deadline, is still a cancellation, not a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["Deadline", "within"]

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


async def within(seconds: float, work: Awaitable[_T]) -> _T:
    """`work`, or TimeoutError after `seconds` (where a frame of its own does not matter)."""
    deadline = Deadline(seconds)
    try:
        return await work
    except asyncio.CancelledError:
        if deadline.expired():
            raise TimeoutError from None
        raise
    finally:
        deadline.disarm()
