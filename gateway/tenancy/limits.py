"""Per-tenant limits: requests and tokens per minute, and a spend budget in USD per UTC day.

A request is admitted or refused before it is routed; its tokens and cost are counted once it has been
answered, so a request in flight can take a tenant past its limit once, never twice. `TenantLimits`
counts in this process (each replica its own traffic); `gateway.tenancy.redis_limits.RedisLimits` keeps the
same windows in Redis so that replicas share them. Both are a `LimitStore`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gateway.errors import RateLimited
from gateway.rules import TenantSpec

__all__ = ["LimitStore", "TenantLimits", "refusal"]

_MINUTE = 60.0
_DAY = 86_400


class LimitStore(Protocol):
    async def admit(self, tenant: str, spec: TenantSpec) -> None:
        """Count one request, or raise RateLimited saying which limit and when to come back."""

    def spent(self, tenant: str, tokens: int, usd: float) -> None:
        """Count an answered request's tokens and cost; never blocks the answer."""

    async def aclose(self) -> None: ...


def refusal(
    tenant: str, spec: TenantSpec, limit: Literal["budget", "requests", "tokens"], retry_after_s: float
) -> RateLimited:
    """The 429 for a tenant over one of its limits: which one, and when a retry can pass."""
    if limit == "budget":
        return RateLimited(
            f"Tenant '{tenant}' has spent its {spec.usd_per_day:g} USD budget for today (UTC).",
            code="budget_exceeded",
            retry_after_s=retry_after_s,
        )
    if limit == "requests":
        return RateLimited(
            f"Tenant '{tenant}' is over {spec.requests_per_minute} requests per minute.",
            code="rate_limit_requests",
            retry_after_s=retry_after_s,
        )
    return RateLimited(
        f"Tenant '{tenant}' is over {spec.tokens_per_minute} tokens per minute.",
        code="rate_limit_tokens",
        retry_after_s=retry_after_s,
    )


@dataclass
class _Usage:
    # The last minute in slots of _SLOT seconds, only those with traffic: [slot, requests, tokens].
    # A count per slot, not an entry per request: a tenant sending 2,000 requests a second kept 120k
    # timestamps and 120k (time, tokens) pairs (~17 MiB) in the exact window.
    slots: deque[list[int]] = field(default_factory=deque)
    requests: int = 0
    tokens: int = 0
    day: int = -1
    spent_usd: float = 0.0


_SLOT = 0.1  # seconds: what is counted leaves the window 60 to 60.1 s later, never sooner
_PER_S = round(1 / _SLOT)
_WINDOW = round(_MINUTE / _SLOT)


class TenantLimits:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._usage: dict[str, _Usage] = {}

    def _of(self, tenant: str, now: float) -> _Usage:
        u = self._usage.get(tenant)
        if u is None:
            u = self._usage[tenant] = _Usage()
        slots = u.slots
        gone = now * _PER_S - _WINDOW - 1  # a slot's last instant is a minute old
        while slots and slots[0][0] <= gone:
            _, requests, tokens = slots.popleft()
            u.requests -= requests
            u.tokens -= tokens
        day = int(self._wall() // _DAY)
        if day != u.day:
            u.day, u.spent_usd = day, 0.0
        return u

    @staticmethod
    def _slot(u: _Usage, now: float) -> list[int]:
        slot = int(now * _PER_S)
        if u.slots and u.slots[-1][0] == slot:
            return u.slots[-1]
        entry = [slot, 0, 0]
        u.slots.append(entry)
        return entry

    @staticmethod
    def _leaves(u: _Usage, column: int, now: float) -> float:
        """Seconds until the oldest slot holding this count leaves the window."""
        first = next(s for s in u.slots if s[column])
        return (first[0] + 1) * _SLOT + _MINUTE - now

    async def admit(self, tenant: str, spec: TenantSpec) -> None:
        self.check(tenant, spec)

    def check(self, tenant: str, spec: TenantSpec) -> None:
        """Count one request, or refuse it with a 429 that says which limit and when to come back."""
        now = self._clock()
        u = self._of(tenant, now)
        if spec.usd_per_day is not None and u.spent_usd >= spec.usd_per_day:
            raise refusal(tenant, spec, "budget", _DAY - self._wall() % _DAY)
        if spec.requests_per_minute is not None and u.requests >= spec.requests_per_minute:
            raise refusal(tenant, spec, "requests", self._leaves(u, 1, now))
        if spec.tokens_per_minute is not None and u.tokens >= spec.tokens_per_minute:
            raise refusal(tenant, spec, "tokens", self._leaves(u, 2, now))
        self._slot(u, now)[1] += 1
        u.requests += 1

    def spent(self, tenant: str, tokens: int, usd: float) -> None:
        now = self._clock()
        u = self._of(tenant, now)
        if tokens:
            self._slot(u, now)[2] += tokens
            u.tokens += tokens
        u.spent_usd += usd

    async def aclose(self) -> None:
        pass
