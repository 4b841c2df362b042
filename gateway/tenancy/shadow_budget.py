"""What shadow judging has spent today, per route, against the route's `shadow.usd_per_day`.

In this process (each replica its own cap) or, with GATEWAY_REDIS_URL, in Redis (one cap for all
replicas: redis_shadow_budget.py). A day is a UTC day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["DAY_S", "MemoryShadowBudget", "ShadowBudget"]

DAY_S = 86_400


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
        day = int(self._wall() // DAY_S)
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
