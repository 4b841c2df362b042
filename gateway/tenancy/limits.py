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
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    token_sum: int = 0
    day: int = -1
    spent_usd: float = 0.0


class TenantLimits:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._usage: dict[str, _Usage] = {}

    def _of(self, tenant: str) -> _Usage:
        u = self._usage.get(tenant)
        if u is None:
            u = self._usage[tenant] = _Usage()
        now = self._clock()
        while u.requests and u.requests[0] <= now - _MINUTE:
            u.requests.popleft()
        while u.tokens and u.tokens[0][0] <= now - _MINUTE:
            u.token_sum -= u.tokens.popleft()[1]
        day = int(self._wall() // _DAY)
        if day != u.day:
            u.day, u.spent_usd = day, 0.0
        return u

    async def admit(self, tenant: str, spec: TenantSpec) -> None:
        self.check(tenant, spec)

    def check(self, tenant: str, spec: TenantSpec) -> None:
        """Count one request, or refuse it with a 429 that says which limit and when to come back."""
        u = self._of(tenant)
        now = self._clock()
        if spec.usd_per_day is not None and u.spent_usd >= spec.usd_per_day:
            raise refusal(tenant, spec, "budget", _DAY - self._wall() % _DAY)
        if spec.requests_per_minute is not None and len(u.requests) >= spec.requests_per_minute:
            raise refusal(tenant, spec, "requests", u.requests[0] + _MINUTE - now)
        if spec.tokens_per_minute is not None and u.token_sum >= spec.tokens_per_minute:
            raise refusal(tenant, spec, "tokens", u.tokens[0][0] + _MINUTE - now)
        u.requests.append(now)

    def spent(self, tenant: str, tokens: int, usd: float) -> None:
        u = self._of(tenant)
        if tokens:
            u.tokens.append((self._clock(), tokens))
            u.token_sum += tokens
        u.spent_usd += usd

    async def aclose(self) -> None:
        pass
