"""Each backend's live state as the planner reads it, and the requests in flight there.

In flight is as the gateway counts it: from an attempt's start to its answer's end (a stream's last
byte), whatever the backend reports itself. The planner ranks replicas by it. Of those, the attempts
still waiting for their answer (a stream's first chunk, a plain answer whole) say since when the
backend has been silent (`silent_since`: since the last thing it sent while some waited, a first
chunk, any chunk of a stream (the relay tells), a plain answer, or its engine's counters moving
(vLLM's metrics: backends/vllm.py), or since the first of them was sent), and how long a prompt it
is reading (`waiting_ktok`): a backend silent far longer than it takes to answer is taken as hung
by the planner (routing/board.py) and by the attempts waiting there (dispatch/modes.py), whatever
its breaker and health checks say.

One `Live` per backend name outlives reloads (the count of a backend that stays must not restart at
zero); each swap binds it to the backend object and gate (resilience/gate.py) of the rules now in
force. The planner reads a Live's `load`, `until` and silence as values (routing/board.py):
dispatch keeps them, resilience keeps the gate, the backend its own queue, and nobody is called back.
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
    __slots__ = (
        "backend",
        "gate",
        "in_flight",
        "name",
        "since",
        "waiting",
        "waiting_ktok",
        "waiting_whole",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_flight = 0
        self.waiting = 0  # attempts sent that have not answered yet
        self.waiting_whole = 0  # of them, plain ones (waiting for a whole answer, not a first chunk)
        self.since = math.inf  # since when those waiting heard nothing from it; inf while none waits
        # The longest prompt sent since none waited (thousands of tokens): reading it is silent work.
        # Kept until none waits rather than tracked per attempt: an allowance too long for a while
        # only delays taking a backend for hung, never takes a busy one for hung.
        self.waiting_ktok = 0.0
        self.backend: Backend | None = None
        self.gate = Gate()

    @property
    def load(self) -> int:
        backend = self.backend
        queued = backend.queued if backend is not None else 0
        return queued if queued > self.in_flight else self.in_flight

    @property
    def silent_since(self) -> float:
        """Since when the attempts waiting there heard nothing from it, nor its engine's counters
        of anything done (Backend.progressed_at); inf while none waits."""
        since = self.since
        backend = self.backend
        if backend is not None and backend.progressed_at > since:
            return backend.progressed_at
        return since

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

    def enter(self, name: str, now: float, *, whole: bool, ktok: float = 0.0) -> Slot:
        """An attempt sent at `now`, with a prompt of `ktok` thousand tokens, waiting for its whole
        answer (`whole`) or its first chunk."""
        live = self._live(name)
        live.in_flight += 1
        if not live.waiting:
            live.since = now
            live.waiting_ktok = ktok
        elif ktok > live.waiting_ktok:
            live.waiting_ktok = ktok
        live.waiting += 1
        live.waiting_whole += whole
        return Slot(live, whole)


class Slot:
    """One request's place in a backend's count; released once, however the request ends.

    A stream's slot passes from the attempt to the relay that sends it. If the server never starts
    the relay (the client left before the first byte), its frame is dropped unrun and the slot with
    it: releasing on collection keeps the count honest then too.
    """

    __slots__ = ("_live", "_open", "_waiting", "_whole")

    def __init__(self, live: Live, whole: bool) -> None:
        self._live = live
        self._open = True
        self._waiting = True
        self._whole = whole

    @property
    def live(self) -> Live:
        """The backend's live state this slot counts in."""
        return self._live

    def answered(self, now: float) -> None:
        """Its first chunk, or its whole answer, came at `now`: the backend is not silent."""
        if self._waiting:
            self._stop_waiting()
            live = self._live
            live.since = now if live.waiting else math.inf

    def ended(self, now: float) -> None:
        """Its stream ended whole at `now`: the backend answers, whatever else still waits there (a
        long prefill holding one request back is not taken for a hang while others finish)."""
        live = self._live
        if live.waiting:
            live.since = now

    def _stop_waiting(self) -> None:
        self._waiting = False
        live = self._live
        live.waiting -= 1
        live.waiting_whole -= self._whole
        if not live.waiting:
            live.since = math.inf

    def release(self) -> None:
        if self._open:
            self._open = False
            self._live.in_flight -= 1
            if self._waiting:  # it ended unanswered (failed, timed out, cancelled): no news either way
                self._stop_waiting()

    def __del__(self) -> None:
        self.release()
