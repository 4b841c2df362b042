"""What shadow judging has spent today, per route, against the route's `shadow.usd_per_day`.

In this process (each replica its own cap) or, with GATEWAY_REDIS_URL, in Redis (one cap for all
replicas). A day is a UTC day. An unreachable Redis reads as "spent": shadowing pauses rather than
spending blind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from gateway.tenancy.shared import redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from gateway.config import Settings

__all__ = ["MemoryShadowBudget", "RedisShadowBudget", "ShadowBudget", "shadow_budget"]

_DAY = 86_400


class ShadowBudget(Protocol):
    async def spent(self, route: str) -> float: ...

    async def add(self, route: str, usd: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryShadowBudget:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._day = -1
        self._spent: dict[str, float] = {}

    def _today(self) -> dict[str, float]:
        day = int(self._wall() // _DAY)
        if day != self._day:
            self._day, self._spent = day, {}
        return self._spent

    async def spent(self, route: str) -> float:
        return self._today().get(route, 0.0)

    async def add(self, route: str, usd: float) -> None:
        today = self._today()
        today[route] = today.get(route, 0.0) + usd

    async def aclose(self) -> None:
        pass


class RedisShadowBudget:
    def __init__(
        self, client: Redis, prefix: str = "gateway:shadow", wall: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._wall = wall

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisShadowBudget:
        return cls(redis_client(url), **kw)

    def _key(self, route: str) -> str:
        return f"{self._prefix}:{int(self._wall() // _DAY)}:{route}"

    async def spent(self, route: str) -> float:
        try:
            value = await self._client.get(self._key(route))
        except Exception:  # noqa: BLE001 - unknown spend: count the cap as reached
            return float("inf")
        return float(value) if value is not None else 0.0

    async def add(self, route: str, usd: float) -> None:
        key = self._key(route)
        try:
            await self._client.incrbyfloat(key, usd)
            await self._client.expire(key, 2 * _DAY)
        except Exception:  # noqa: BLE001, S110 - lost spend is spend the next check cannot see; no more
            pass

    async def aclose(self) -> None:
        await self._client.aclose()


def shadow_budget(settings: Settings) -> ShadowBudget:
    if settings.redis_url is None:
        return MemoryShadowBudget()
    return RedisShadowBudget.from_url(settings.redis_url.get_secret_value())
