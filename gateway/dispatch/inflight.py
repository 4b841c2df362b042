"""Each backend's live state as the planner reads it, and the requests in flight there.

In flight is as the gateway counts it: from an attempt's start to its answer's end (a stream's last
byte), whatever the backend reports itself. The planner ranks replicas by it. One `Live` per backend
name outlives reloads (the count of a backend that stays must not restart at zero); each swap binds it
to the backend object and gate (resilience/gate.py) of the rules now in force. The planner reads a
Live's `load` and `until` as values (routing/board.py): dispatch keeps them, resilience keeps the
gate, the backend its own queue, and nobody is called back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.resilience.gate import Gate

if TYPE_CHECKING:
    from gateway.backends.base import Backend

__all__ = ["InFlight", "Live", "Slot"]


class Live:
    __slots__ = ("backend", "gate", "in_flight", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_flight = 0
        self.backend: Backend | None = None
        self.gate = Gate()

    @property
    def load(self) -> int:
        backend = self.backend
        queued = backend.queued if backend is not None else 0
        return queued if queued > self.in_flight else self.in_flight

    @property
    def until(self) -> float:
        gate, backend = self.gate, self.backend
        if backend is None or not gate.up or backend.saturated:
            return math.inf
        return gate.until


class InFlight:
    def __init__(self) -> None:
        self.lives: dict[str, Live] = {}

    def __getitem__(self, name: str) -> int:
        live = self.lives.get(name)
        return live.in_flight if live is not None else 0

    def bind(self, backends: Mapping[str, Backend], gates: Mapping[str, Gate]) -> None:
        """The rules now in force: each backend's object and gate (a swap; dispatch/snapshot.py)."""
        for name, backend in backends.items():
            live = self._live(name)
            live.backend = backend
            live.gate = gates.get(name) or Gate()

    def _live(self, name: str) -> Live:
        live = self.lives.get(name)
        if live is None:
            live = self.lives[name] = Live(name)
        return live

    def enter(self, name: str) -> Slot:
        live = self._live(name)
        live.in_flight += 1
        return Slot(live)


class Slot:
    """One request's place in a backend's count; released once, however the request ends.

    A stream's slot passes from the attempt to the relay that sends it. If the server never starts
    the relay (the client left before the first byte), its frame is dropped unrun and the slot with
    it: releasing on collection keeps the count honest then too.
    """

    __slots__ = ("_live", "_open")

    def __init__(self, live: Live) -> None:
        self._live = live
        self._open = True

    def release(self) -> None:
        if self._open:
            self._open = False
            self._live.in_flight -= 1

    def __del__(self) -> None:
        self.release()
