"""Cancelling work whose client has gone.

The server only reports a disconnect through receive(); without a watch, a request queued for the
local model, or a hosted call billed by the token, would run on for nobody. Watching a request costs a
task that waits on its receive(), so it starts only once the request has lasted _WATCH_AFTER_S: fast
answers never pay for it. One sweep for all requests (`Watch`, started with the gateway) finds those
that have lasted that long, a few times a second: a request pays a dict entry to be watched, rather
than a timer of its own, and awaits its work in its own frame (`with watch.watching(request): ...`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.errors import ClientClosedRequest

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

__all__ = ["Watch", "while_connected"]

_T = TypeVar("_T")
_WATCH_AFTER_S = 0.25
_SWEEP_S = _WATCH_AFTER_S / 2  # a request is watched from 0.25 to 0.375 s on


class _Watched:
    """One request watched while its block runs; the cancellation its client's leaving caused leaves
    the block as ClientClosedRequest."""

    __slots__ = ("gone", "owner", "request", "since", "task", "watcher")

    def __init__(
        self, owner: Watch, request: ASGIConnection[Any, Any, Any, Any], task: asyncio.Task[Any], since: float
    ) -> None:
        self.owner = owner
        self.request = request
        self.task = task
        self.since = since
        self.gone = False
        self.watcher: asyncio.Task[None] | None = None

    def __enter__(self) -> _Watched:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.owner.leave(self)
        if self.gone and kind is asyncio.CancelledError:
            raise ClientClosedRequest("The client closed the request.") from None

    async def watch(self) -> None:
        while (await self.request.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.task.cancel()


class Watch:
    """The requests in flight, each watched for its client leaving once it has lasted a while."""

    def __init__(self) -> None:
        self._watched: dict[int, _Watched] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def watching(self, request: ASGIConnection[Any, Any, Any, Any]) -> _Watched:
        task = asyncio.current_task()
        assert task is not None
        entry = _Watched(self, request, task, asyncio.get_running_loop().time())
        self._watched[id(entry)] = entry
        return entry

    def leave(self, entry: _Watched) -> None:
        self._watched.pop(id(entry), None)
        if entry.watcher is not None:
            entry.watcher.cancel()

    def sweep(self, now: float) -> None:
        """Watch every request that has lasted _WATCH_AFTER_S and is not watched yet."""
        loop = asyncio.get_running_loop()
        due = now - _WATCH_AFTER_S
        for entry in list(self._watched.values()):
            if entry.watcher is None and entry.since <= due:
                entry.watcher = loop.create_task(entry.watch())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_SWEEP_S)
            self.sweep(loop.time())

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._run(), name="disconnect-watch")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for entry in list(self._watched.values()):
            if entry.watcher is not None:
                entry.watcher.cancel()


async def while_connected(request: ASGIConnection[Any, Any, Any, Any], work: Awaitable[_T]) -> _T:
    """Await `work`, cancelling it if the client disconnects first (the app's Watch notices)."""
    watch: Watch = request.app.state.gateway.watch
    with watch.watching(request):
        return await work
