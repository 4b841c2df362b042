"""What dispatch asks of resilience, in one place: may this backend be called, and what happened.

It combines the passive breakers, the active health checks and each backend's own saturation into one
availability answer (kept as a value per backend, gate.py, which the planner and dispatch read without
asking), and turns what happened into breaker and retry-budget records: a failure when it happens
(`failed`, so that the next candidate and the next request already know), the answers a request took
once at its end (`finished`, with the request counted in the retry budget), retries of a failed
attempt through tenacity (`retried`, the rare path).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from gateway.backends.base import Backend
from gateway.errors import ClientError, GatewayError, UpstreamError, UpstreamSilent
from gateway.resilience.breaker import BreakerBoard, BreakerPolicy
from gateway.resilience.gate import Gate
from gateway.resilience.health import HealthMonitor, HealthPolicy
from gateway.resilience.retry import RetryBudget, retry_after_s, retry_failed
from gateway.rules import RoutesFile

__all__ = ["Guard", "RetryObserver", "counts_against"]

_T = TypeVar("_T")


def counts_against(err: GatewayError) -> bool:
    """Is this failure the backend's fault? (Not a client mistake, not the local queue being full.)"""
    return isinstance(err, UpstreamError) and not isinstance(err, ClientError) and err.code != "queue_full"


class RetryObserver(Protocol):
    """Told of each retry made and each refused by the budget (the metrics)."""

    def retry(self, backend: str, cause: str) -> None: ...

    def retry_denied(self, backend: str) -> None: ...


def _cause(exc: BaseException | None) -> str:
    return (exc.code or "unknown") if isinstance(exc, GatewayError) else "unknown"


@dataclass
class Guard:
    breakers: BreakerBoard
    health: HealthMonitor
    budget: RetryBudget
    attempts: int
    backoff_s: float
    max_wait_s: float = 2.0
    observer: RetryObserver | None = None
    # Each backend's gate (gate.py), shared with the breakers and the health checks that keep it.
    gates: dict[str, Gate] = field(default_factory=dict)

    @classmethod
    def from_spec(
        cls,
        spec: RoutesFile,
        backends: Mapping[str, Backend],
        observer: RetryObserver | None = None,
        previous: Guard | None = None,
    ) -> Guard:
        """A guard for `spec`; after a reload, `previous` hands over what it learnt about backends
        that are still there (breaker states, health streaks, the retry budget's window)."""
        b, h, r = spec.breaker, spec.health, spec.retry
        policy = BreakerPolicy(
            consecutive=b.consecutive_failures,
            failure_rate=b.failure_rate,
            min_requests=b.min_requests,
            window_s=b.window_s,
            base_ejection_s=b.base_ejection_s,
            max_ejection_s=b.max_ejection_s,
            max_ejected_share=b.max_ejected_share,
        )
        tiers = {name: [x.name for x in t.backends] for name, t in spec.tiers.items()}
        # A backend that stays keeps its gate object: what reads it (dispatch's live state) stays valid.
        old = previous.gates if previous is not None else {}
        gates = {b: old.get(b) or Gate() for names in tiers.values() for b in names}
        health = HealthMonitor(
            backends, HealthPolicy(h.interval_s, h.timeout_s, h.unhealthy_after, h.healthy_after), gates
        )
        board = BreakerBoard(policy, tiers, gates)
        budget = RetryBudget(ratio=r.budget_ratio)
        if previous is not None:
            board.adopt(previous.breakers)
            health.adopt(previous.health)
            budget.adopt(previous.budget)
        return cls(board, health, budget, r.attempts, r.backoff_ms / 1000, observer=observer, gates=gates)

    def settle(self, backend: Backend, ok: bool, now: float) -> None:
        if ok:
            self.breakers.success(backend.name, now)
        else:
            self.breakers.failure(backend.name, now)

    def finished(self, answered: Iterable[str], now: float) -> None:
        """A request ended: the backends whose answers it took answered well (their breakers hear it
        now, once), and it counts in the retry budget's share of traffic."""
        for name in answered:
            self.breakers.success(name, now)
        self.budget.request(now)

    def start(self, name: str, now: float) -> None:
        """An attempt goes to a backend whose breaker is not closed (its gate's `until` is finite or
        inf): it may be the half-open probe. A closed breaker needs no word (dispatch reads its gate)."""
        self.breakers.start(name, now)

    def abandon(self, name: str) -> None:
        """An attempt ended with no verdict (cancelled): a half-open probe must not stay taken."""
        self.breakers.abandon(name)

    def failed(self, name: str, err: GatewayError, now: float) -> None:
        """An attempt failed: the backend's fault counts against it (a Retry-After longer than we wait
        keeps it out that long, a hang ejects it at once); a request the upstream refused as such
        proves it answers."""
        if counts_against(err):
            self.breakers.failure(name, now, at_once=isinstance(err, UpstreamSilent))
            pause = retry_after_s(err)
            if pause > self.max_wait_s:
                self.breakers.hold(name, now, pause)
        elif isinstance(err, ClientError):
            self.breakers.success(name, now)  # it answered; the request was the problem

    def may_hedge(self, backend: Backend, now: float) -> bool | None:
        """May a hedge go to `backend` now? None: it may not be called; False: the retry budget
        refused it (counted); True: granted (spent from the budget)."""
        if not self.available(backend, now):
            return None
        return self.budget.acquire(now)

    def hedge_ended(self) -> None:
        """A hedge `may_hedge` granted is done (answered, failed or cancelled)."""
        self.budget.release()

    async def retried(
        self,
        backend: Backend,
        err: GatewayError,
        attempt: Callable[[], Awaitable[_T]],
        *,
        deadline: float,
        clock: Callable[[], float],
        timeouts: bool = True,
    ) -> _T:
        """A first attempt failed with `err` (its verdict recorded here): more attempts while the
        attempts, the deadline and the retry budget allow; the last error is raised. `timeouts`
        False: a timeout is not retried (the caller has another candidate: a backend that did not
        answer in time is not waited for twice). An answer is not recorded here: the request records
        the answers it took when it ends (`finished`)."""
        name = backend.name
        self.failed(name, err, clock())
        obs = self.observer

        async def once() -> _T:
            gate = self.gates.get(name)
            if gate is None or gate.until != -math.inf:  # not closed: this may be its probe
                self.breakers.start(name, clock())
            try:
                return await attempt()
            except GatewayError as again:
                self.failed(name, again, clock())
                raise
            except BaseException:
                self.breakers.abandon(name)
                raise

        return await retry_failed(
            once,
            err,
            attempts=self.attempts,
            deadline=deadline,
            budget=self.budget,
            clock=clock,
            allowed=lambda: self.breakers.allows(name, clock()),
            backoff_s=self.backoff_s,
            max_wait_s=self.max_wait_s,
            timeouts=timeouts,
            on_retry=None if obs is None else lambda exc: obs.retry(name, _cause(exc)),
            on_denied=None if obs is None else lambda: obs.retry_denied(name),
        )

    def report(self, backend: Backend, now: float) -> dict[str, object]:
        """One backend's state for readiness: health, breaker, its own queue."""
        return {
            "up": self.health.up(backend.name),
            "breaker": self.breakers.state(backend.name, now).value,
            "queued": backend.queued,
            "saturated": backend.saturated,
        }

    def available(self, backend: Backend, now: float) -> bool:
        gate = self.gates.get(backend.name)
        if gate is None:  # a guard built without gates (tests): ask the parts
            return (
                self.health.up(backend.name)
                and self.breakers.allows(backend.name, now)
                and not backend.saturated
            )
        return gate.up and now >= gate.until and not backend.saturated
