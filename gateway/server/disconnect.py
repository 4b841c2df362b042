"""Cancelling work whose client has gone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.errors import ClientClosedRequest

if TYPE_CHECKING:
    from litestar import Request

__all__ = ["while_connected"]

_T = TypeVar("_T")
_WATCH_AFTER_S = 0.25


async def while_connected(request: Request[Any, Any, Any], work: Awaitable[_T]) -> _T:
    """Await `work`, cancelling it if the client disconnects first.

    The server only reports a disconnect through receive(); without this a request queued for the
    local model, or a hosted call billed by the token, would run on for nobody. Watching costs a task,
    so it starts only once the request has lasted _WATCH_AFTER_S: fast answers never pay for it.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    def arm() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(_WATCH_AFTER_S, arm)
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            raise ClientClosedRequest("The client closed the request.") from None
        raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
