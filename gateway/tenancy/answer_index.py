"""Which tenant each answer went to: the index feedback is checked against and the decision log joins.

Every answered request leaves (its response id → tenant, route, tier) here for `retention_s`, so that
`POST /v1/feedback` can tell a tenant's own answer from another's (which it must not rate) and record
the feedback with the route and tier it judges. In this process by default (bounded by count, oldest
out first); in Redis when GATEWAY_REDIS_URL is set, so feedback may reach any replica. Writes are off
the request path: to memory they are a dict insert; to Redis a background task, dropped and counted
if Redis is down (feedback on that answer is then a 404).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AnswerIndex", "Answered", "MemoryAnswers"]


@dataclass(frozen=True, slots=True)
class Answered:
    tenant: str
    route: str
    tier: str
    # For learning from the rating (gateway/learning/): the request's family (a leaf id of the weights'
    # family set), the family set, its place within the family (the scorer's within-family index), and
    # whether it was drawn for shadow judging (then its verdict labels it, not the rating).
    family: str | None = None
    family_set: str | None = None
    within: float | None = None
    shadowed: bool = False


class AnswerIndex(Protocol):
    def remember(self, response_id: str, answered: Answered) -> None:
        """Never blocks the answer; may lose the entry if the store is down."""

    async def lookup(self, response_id: str) -> Answered | None:
        """None when unknown or expired. ServiceUnavailable when the store cannot be reached."""

    async def aclose(self) -> None: ...


class MemoryAnswers:
    def __init__(
        self, max_count: int, retention_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_count
        self._retention = retention_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Answered, float]] = OrderedDict()

    def remember(self, response_id: str, answered: Answered) -> None:
        entries = self._entries
        entries[response_id] = (answered, self._clock() + self._retention)
        if len(entries) > self._max:
            entries.popitem(last=False)

    async def lookup(self, response_id: str) -> Answered | None:
        found = self._entries.get(response_id)
        if found is None:
            return None
        if found[1] < self._clock():
            del self._entries[response_id]
            return None
        return found[0]

    async def aclose(self) -> None:
        pass
