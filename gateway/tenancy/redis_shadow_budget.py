"""Shadow judging's daily spend in Redis: one cap for all replicas. An unreachable Redis reads as
"spent", so shadowing pauses rather than spending blind."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.tenancy.redis_client import Outage, redis_client
from gateway.tenancy.shadow_budget import DAY_S

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisShadowBudget"]

log = logging.getLogger(__name__)


class RedisShadowBudget:
    def __init__(
        self,
        client: Redis,
        prefix: str = "gateway:shadow",
        wall: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._wall = wall
        self._failed = Outage(log, "shadow budget", "shadow judging pauses", on_error=on_error)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisShadowBudget:
        return cls(redis_client(url), **kw)

    def _key(self, route: str) -> str:
        return f"{self._prefix}:{int(self._wall() // DAY_S)}:{route}"

    async def spent(self, route: str) -> float:
        try:
            value = await self._client.get(self._key(route))
        except Exception as exc:  # noqa: BLE001 - unknown spend: count the cap as reached
            self._failed("spent", exc)
            return float("inf")
        return float(value) if value is not None else 0.0

    async def add(self, route: str, usd: float) -> None:
        key = self._key(route)
        try:
            await self._client.incrbyfloat(key, usd)
            await self._client.expire(key, 2 * DAY_S)
        except Exception as exc:  # noqa: BLE001 - lost spend is spend the next check cannot see; no more
            self._failed("add", exc)

    async def aclose(self) -> None:
        await self._client.aclose()
