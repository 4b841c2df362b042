"""Active health: probe every backend on a timer with checks that never bill tokens.

The probe itself is each backend's `health()` (vLLM `/health`, `/v1/models` for other OpenAI-compatible
upstreams, "loaded" for the embedded model). A backend is marked down after `unhealthy_after` failed
probes in a row and up again after `healthy_after` good ones. Results feed readiness and the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.backends.base import Backend
from gateway.resilience.gate import Gate

__all__ = ["HealthMonitor", "HealthPolicy"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    interval_s: float = 5.0
    timeout_s: float = 2.0
    unhealthy_after: int = 2
    healthy_after: int = 1


class HealthMonitor:
    def __init__(
        self, backends: Mapping[str, Backend], policy: HealthPolicy, gates: dict[str, Gate] | None = None
    ) -> None:
        self._backends = backends
        self.policy = policy
        # The verdicts live in the gates (gate.py), where the planner reads them.
        self._gates: dict[str, Gate] = gates if gates is not None else {}
        self._streak: dict[str, int] = {}  # >0: good probes in a row, <0: bad ones
        self._task: asyncio.Task[None] | None = None

    def adopt(self, old: HealthMonitor) -> None:
        """Probe results of backends that survive a reload (their gates came over with them)."""
        for name, gate in old._gates.items():
            mine = self._gates.get(name)
            if mine is not None:
                mine.up = gate.up
        self._streak.update(old._streak)

    def up(self, name: str) -> bool:
        gate = self._gates.get(name)
        return gate is None or gate.up  # innocent until a probe says otherwise

    def snapshot(self) -> dict[str, bool]:
        return {name: self.up(name) for name in self._backends}

    async def _probe(self, name: str, backend: Backend) -> None:
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                ok = await backend.health()
        except TimeoutError:
            ok = False
        streak = self._streak.get(name, 0)
        streak = max(streak, 0) + 1 if ok else min(streak, 0) - 1
        self._streak[name] = streak
        was = self.up(name)
        if was and streak <= -self.policy.unhealthy_after:
            self._gate(name).up = False
            log.warning("backend %s is down (health check failed %d times)", name, -streak)
        elif not was and streak >= self.policy.healthy_after:
            self._gate(name).up = True
            log.info("backend %s is up again", name)

    def _gate(self, name: str) -> Gate:
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = Gate()
        return gate

    async def check_all(self) -> None:
        await asyncio.gather(*(self._probe(n, b) for n, b in list(self._backends.items())))

    async def _run(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self.policy.interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
