"""This replica's open WebSocket connections: how many each key holds, and their drain on shutdown.

uvicorn closes every socket with 1012 the moment it starts shutting down, answers half-sent included;
`gateway serve` drains them first (cli.py): each connection finishes the response it is sending, then
closes with 1001 (a client reconnects to another replica), while no new socket is accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Protocol

from gateway.errors import RateLimited, ServiceUnavailable, UpgradeRequired

if TYPE_CHECKING:
    from gateway.observability.socket_metrics import SocketMetrics

__all__ = ["Drainable", "Sockets"]


class Drainable(Protocol):
    def drain(self) -> None:
        """Finish what is being answered, then close."""


def key_of(authorization: str | None, client: str) -> str:
    """Whose sockets these are: the key's digest (never the key), or the client's address without one."""
    if authorization:
        return hashlib.sha256(authorization.encode()).hexdigest()
    return client


class Sockets:
    def __init__(self, max_per_key: int, metrics: SocketMetrics) -> None:
        self._max = max_per_key
        self._metrics = metrics
        self._held: dict[str, int] = {}
        self._live: set[Drainable] = set()
        self._empty = asyncio.Event()
        self._empty.set()
        self.draining = False

    def __len__(self) -> int:
        return len(self._live)

    def admit(self, key: str) -> None:
        """One more socket for `key`, or the refusal that says why not."""
        if self._max == 0:
            self._metrics.upgrade("disabled")
            raise UpgradeRequired(
                "WebSocket mode is off on this gateway; use POST /v1/responses.", code="websockets_disabled"
            )
        if self.draining:
            self._metrics.upgrade("draining")
            raise ServiceUnavailable("This gateway replica is shutting down; connect again.")
        held = self._held.get(key, 0)
        if held >= self._max:
            self._metrics.upgrade("limited")
            raise RateLimited(
                f"This key holds {held} WebSocket connections to this replica, its limit.",
                code="websocket_connection_limit_reached",
                retry_after_s=1,
            )
        self._held[key] = held + 1
        self._metrics.upgrade("accepted")

    def opened(self, session: Drainable) -> None:
        self._live.add(session)
        self._empty.clear()

    def closed(self, key: str, session: Drainable | None, reason: str) -> None:
        held = self._held.get(key, 0) - 1
        if held > 0:
            self._held[key] = held
        else:
            self._held.pop(key, None)
        if session is not None:
            self._live.discard(session)
        if not self._live:
            self._empty.set()
        self._metrics.ended(reason)

    async def drain(self, timeout_s: float) -> int:
        """Refuse new sockets, let each finish its response and close; how many were still open after
        `timeout_s` (uvicorn closes those)."""
        self.draining = True
        for session in list(self._live):
            session.drain()
        try:
            async with asyncio.timeout(timeout_s):
                await self._empty.wait()
        except TimeoutError:
            pass
        return len(self._live)
