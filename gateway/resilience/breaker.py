"""Passive health: outlier ejection per backend, with a clock passed in.

A backend is ejected after `consecutive` failures in a row, or when at least `min_requests` calls in
the last `window_s` failed at `failure_rate` or more. The ejection lasts `base_ejection_s`, doubling with
each ejection in a row (up to `max_ejection_s`). When it ends the backend is half-open: one request is
let through as a probe; success closes the breaker, failure ejects it again for longer. A backend that
is ejected again soon after a successful probe (within `max_ejection_s`) keeps its longer ejection: one
good answer from a flapping backend does not reset its record. At most
`max_ejected_share` of a tier is ejected at once (one backend always may be: the tiers behind it are
the fallback).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from gateway.resilience.gate import Gate

__all__ = ["Breaker", "BreakerBoard", "BreakerPolicy", "State"]


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    consecutive: int = 5
    failure_rate: float = 0.5
    min_requests: int = 20
    window_s: float = 10.0
    base_ejection_s: float = 5.0
    max_ejection_s: float = 120.0
    max_ejected_share: float = 0.5


@dataclass(slots=True)
class Breaker:
    policy: BreakerPolicy
    state: State = State.CLOSED
    failures_in_row: int = 0
    ejections_in_row: int = 0
    open_until: float = 0.0
    probing: bool = False
    closed_at: float = float("-inf")
    ejections: int = 0
    calls: deque[tuple[float, bool]] = field(default_factory=deque)
    # What the planner and dispatch read instead of asking (gate.py): kept in step by every change.
    gate: Gate = field(default_factory=Gate)

    def _sync(self) -> None:
        # Closed: -inf. Open: the ejection's end, from when a probe may go; half-open, the same (a time
        # passed: allowed, yet not -inf, so that whoever sends the probe knows to take it: `start`);
        # inf while the probe is out.
        state = self.state
        if state is State.CLOSED:
            self.gate.until = -math.inf
        elif state is State.HALF_OPEN and self.probing:
            self.gate.until = math.inf
        else:
            self.gate.until = self.open_until

    def current(self, now: float) -> State:
        if self.state is State.OPEN and now >= self.open_until:
            self.state, self.probing = State.HALF_OPEN, False
            self._sync()
        return self.state

    def allows(self, now: float) -> bool:
        """May a request be sent now? In half-open state, only the one probe."""
        state = self.current(now)
        return state is State.CLOSED or (state is State.HALF_OPEN and not self.probing)

    def start(self, now: float) -> None:
        if self.current(now) is State.HALF_OPEN:
            self.probing = True
            self._sync()

    def abandon(self) -> None:
        """The call ended with no verdict (the client left): let the next request be the probe."""
        if self.state is State.HALF_OPEN:
            self.probing = False
            self._sync()

    def _trim(self, now: float) -> None:
        while self.calls and self.calls[0][0] < now - self.policy.window_s:
            self.calls.popleft()

    def success(self, now: float) -> None:
        self.failures_in_row = 0
        self._record(now, ok=True)
        if self.current(now) is State.HALF_OPEN:
            self.state, self.probing, self.closed_at = State.CLOSED, False, now
            self.calls.clear()
            self._sync()

    def failure(self, now: float, may_eject: bool, at_once: bool = False) -> bool:
        """Record a failure; True if it ejected the backend (`at_once`: whatever the counts say)."""
        self.failures_in_row += 1
        self._record(now, ok=False)
        if self.current(now) is State.HALF_OPEN:
            self._eject(now)  # the probe failed: a probe is always allowed to re-eject
            return True
        if self.state is State.CLOSED and may_eject and (at_once or self._tripped()):
            self._eject(now)
            return True
        return False

    def hold(self, now: float, seconds: float) -> None:
        """The backend asked for a pause (Retry-After): out of rotation until then, then a probe."""
        until = now + seconds
        if self.state is not State.OPEN or until > self.open_until:
            self.state, self.open_until, self.probing = State.OPEN, until, False
            self._sync()

    def _record(self, now: float, ok: bool) -> None:
        self.calls.append((now, ok))
        self._trim(now)

    def _tripped(self) -> bool:
        p = self.policy
        if self.failures_in_row >= p.consecutive:
            return True
        n = len(self.calls)
        return n >= p.min_requests and sum(1 for _, ok in self.calls if not ok) / n >= p.failure_rate

    def _eject(self, now: float) -> None:
        p = self.policy
        if self.state is State.CLOSED and now - self.closed_at > p.max_ejection_s:
            self.ejections_in_row = 0  # healthy long enough since the last probe: a fresh start
        self.ejections_in_row += 1
        self.ejections += 1
        duration = min(p.base_ejection_s * 2 ** (self.ejections_in_row - 1), p.max_ejection_s)
        self.state, self.open_until, self.probing = State.OPEN, now + duration, False
        self.failures_in_row = 0
        self.calls.clear()
        self._sync()


class BreakerBoard:
    """The breakers of all backends, and the tiers they belong to (for the ejection cap)."""

    def __init__(
        self, policy: BreakerPolicy, tiers: dict[str, list[str]], gates: dict[str, Gate] | None = None
    ) -> None:
        self.policy = policy
        self._tier_of = {b: t for t, names in tiers.items() for b in names}
        self._members = tiers
        gates = gates if gates is not None else {}
        self._breakers = {
            b: Breaker(policy, gate=gates.setdefault(b, Gate())) for names in tiers.values() for b in names
        }
        for breaker in self._breakers.values():
            breaker._sync()  # a fresh breaker is closed, whatever the gate it was given said

    def get(self, name: str) -> Breaker | None:
        return self._breakers.get(name)

    def adopt(self, old: BreakerBoard) -> None:
        """Keep the state of backends that survive a reload, when their policy did not change (their
        gates came over with them, guard.py)."""
        if old.policy != self.policy:
            return
        for name in self._breakers.keys() & old._breakers.keys():
            breaker = old._breakers[name]
            breaker.gate = self._breakers[name].gate
            breaker._sync()
            self._breakers[name] = breaker

    def allows(self, name: str, now: float) -> bool:
        b = self._breakers.get(name)
        return b is None or b.allows(now)

    def state(self, name: str, now: float) -> State:
        b = self._breakers.get(name)
        return State.CLOSED if b is None else b.current(now)

    def start(self, name: str, now: float) -> None:
        b = self._breakers.get(name)
        if b is not None:
            b.start(now)

    def abandon(self, name: str) -> None:
        b = self._breakers.get(name)
        if b is not None:
            b.abandon()

    def success(self, name: str, now: float) -> None:
        b = self._breakers.get(name)
        if b is not None:
            b.success(now)

    def hold(self, name: str, now: float, seconds: float) -> None:
        b = self._breakers.get(name)
        if b is not None and seconds > 0:
            b.hold(now, seconds)

    def failure(self, name: str, now: float, *, at_once: bool = False) -> bool:
        """A failure there; `at_once`: one that ejects it without waiting for the next (a hang)."""
        b = self._breakers.get(name)
        if b is None:
            return False
        members = self._members.get(self._tier_of.get(name, ""), [name])
        ejected = sum(1 for m in members if self._breakers[m].current(now) is not State.CLOSED)
        cap = max(1, math.floor(self.policy.max_ejected_share * len(members)))
        return b.failure(now, may_eject=ejected < cap, at_once=at_once)
