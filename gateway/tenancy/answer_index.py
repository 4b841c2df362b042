"""Which tenant each answer went to: the index feedback is checked against and the decision log joins.

Every answered request leaves (its response id → tenant, route, tier) here for `retention_s`, so that
`POST /v1/feedback` can tell a tenant's own answer from another's (which it must not rate) and record
the feedback with the route and tier it judges. In this process by default (bounded by count, oldest
out first); in Redis when GATEWAY_REDIS_URL is set, so feedback may reach any replica. Writes are off
the request path: to memory they are a few array writes; to Redis a background task, dropped and
counted if Redis is down (feedback on that answer is then a 404).

In memory an entry is 24 bytes (a dict of id strings and objects took ~300): a ring of `max_count`
slots in flat arrays, written in turn, holding the id's hash (64 bits, keyed per process: no client
can aim at another's), when it expires, and the tenant, route and tier as codes of a small table of
names (bounded by the rules and the keys). The ring has no map from id to slot, which would cost
more than the entries: a lookup (feedback, rare next to answers) searches the hashes' bytes at C
speed (bytearray.find), under a millisecond for 200,000. Room is left for what the learning issue
adds to an entry (a family id and a signal within it: two more 4-byte arrays, ~8 bytes an entry).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AnswerIndex", "Answered", "MemoryAnswers"]


@dataclass(frozen=True, slots=True)
class Answered:
    tenant: str
    route: str
    tier: str


class AnswerIndex(Protocol):
    def remember(self, response_id: str, tenant: str, route: str, tier: str) -> None:
        """Never blocks the answer; may lose the entry if the store is down."""

    async def lookup(self, response_id: str) -> Answered | None:
        """None when unknown or expired. ServiceUnavailable when the store cannot be reached."""

    async def aclose(self) -> None: ...


class _Names:
    """Small codes for the few names an entry holds (tenants, routes, tiers: bounded by the rules)."""

    __slots__ = ("_codes", "names")

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.names: list[str] = []

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.names)
            self.names.append(name)
        return code


_EMPTY = bytes(8)


def _key(response_id: str) -> bytes:
    h = hash(response_id)
    return (h if h != 0 else 1).to_bytes(8, "little", signed=True)  # all zeros marks an empty slot


class MemoryAnswers:
    def __init__(
        self, max_count: int, retention_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_count
        self._retention = retention_s
        self._clock = clock
        self._names = _Names()
        self._next = 0  # the slot the next answer takes (the oldest one's, once the ring is full)
        self._count = 0
        # Allocated on first use, all `max_count` slots at once: the id's hash (8 bytes a slot; zeros:
        # empty), when it expires (the clock's), and the tenant's, route's and tier's codes.
        self._keys = bytearray()
        self._expires = array("d")
        self._tenant = array("I")
        self._route = array("H")
        self._tier = array("H")

    def _allocate(self) -> None:
        n = self._max
        self._keys = bytearray(8 * n)
        self._expires = array("d", bytes(8 * n))
        self._tenant = array("I", bytes(4 * n))
        self._route = array("H", bytes(2 * n))
        self._tier = array("H", bytes(2 * n))

    def __len__(self) -> int:
        return self._count

    def remember(self, response_id: str, tenant: str, route: str, tier: str) -> None:
        if not self._keys:
            self._allocate()
        slot, names = self._next, self._names
        self._next = slot + 1 if slot + 1 < self._max else 0
        if self._count < self._max:
            self._count += 1
        at = 8 * slot
        self._keys[at : at + 8] = _key(response_id)
        self._expires[slot] = self._clock() + self._retention
        self._tenant[slot] = names.code(tenant)
        self._route[slot] = names.code(route)
        self._tier[slot] = names.code(tier)

    def _slot(self, key: bytes) -> int | None:
        keys, at = self._keys, 0
        while True:
            at = keys.find(key, at)
            if at < 0:
                return None
            if at % 8 == 0:  # a hash's own place, not bytes straddling two
                return at // 8
            at += 1

    async def lookup(self, response_id: str) -> Answered | None:
        slot = self._slot(_key(response_id))
        if slot is None:
            return None
        if self._expires[slot] < self._clock():
            self._keys[8 * slot : 8 * slot + 8] = _EMPTY
            return None
        names = self._names.names
        return Answered(names[self._tenant[slot]], names[self._route[slot]], names[self._tier[slot]])

    async def aclose(self) -> None:
        pass
