"""What dispatch asks of resilience, in one place: may this backend be called, and what happened.

It combines the passive breakers, the active health checks and each backend's own saturation into one
availability answer for the planner, and turns call outcomes into breaker and retry-budget records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gateway.backends.base import Backend
from gateway.errors import ClientError, GatewayError, UpstreamError
from gateway.resilience.breaker import BreakerBoard, BreakerPolicy
from gateway.resilience.health import HealthMonitor, HealthPolicy
from gateway.resilience.retry import RetryBudget, call_with_retries, retry_after_s
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
        health = HealthMonitor(
            backends, HealthPolicy(h.interval_s, h.timeout_s, h.unhealthy_after, h.healthy_after)
        )
        board = BreakerBoard(policy, tiers)
        budget = RetryBudget(ratio=r.budget_ratio)
        if previous is not None:
            board.adopt(previous.breakers)
            health.adopt(previous.health)
            budget.adopt(previous.budget)
        return cls(board, health, budget, r.attempts, r.backoff_ms / 1000, observer=observer)

    def settle(self, backend: Backend, ok: bool, now: float) -> None:
        if ok:
            self.breakers.success(backend.name, now)
        else:
            self.breakers.failure(backend.name, now)

    def report(self, backend: Backend, now: float) -> dict[str, object]:
        """One backend's state for readiness: health, breaker, its own queue."""
        return {
            "up": self.health.up(backend.name),
            "breaker": self.breakers.state(backend.name, now).value,
            "queued": backend.queued,
            "saturated": backend.saturated,
        }

    def available(self, backend: Backend, now: float) -> bool:
        return (
            self.health.up(backend.name) and self.breakers.allows(backend.name, now) and not backend.saturated
        )

    async def call(
        self,
        backend: Backend,
        attempt: Callable[[], Awaitable[_T]],
        *,
        deadline: float,
        clock: Callable[[], float],
        settle_later: bool = False,
    ) -> _T:
        """One backend's attempts: breaker-recorded, retried within the attempts, deadline and budget.

        With `settle_later` (streams) a success is not recorded here: a stream has succeeded only when
        it ended well, which the caller reports through `settle`.
        """
        name = backend.name
        obs = self.observer

        async def once() -> _T:
            self.breakers.start(name, clock())
            try:
                result = await attempt()
            except GatewayError as err:
                if counts_against(err):
                    self.breakers.failure(name, clock())
                    pause = retry_after_s(err)
                    if pause > self.max_wait_s:
                        self.breakers.hold(name, clock(), pause)
                elif isinstance(err, ClientError):
                    self.breakers.success(name, clock())  # it answered; the request was the problem
                raise
            except BaseException:
                # Cancelled (the client left) or worse: no verdict, and a half-open probe must not
                # stay taken forever.
                self.breakers.abandon(name)
                raise
            if not settle_later:
                self.breakers.success(name, clock())
            return result

        return await call_with_retries(
            once,
            attempts=self.attempts,
            deadline=deadline,
            budget=self.budget,
            clock=clock,
            allowed=lambda: self.breakers.allows(name, clock()),
            backoff_s=self.backoff_s,
            max_wait_s=self.max_wait_s,
            on_retry=None if obs is None else lambda exc: obs.retry(name, _cause(exc)),
            on_denied=None if obs is None else lambda: obs.retry_denied(name),
        )
