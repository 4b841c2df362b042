"""Which tenant each answer went to: the index feedback is checked against and the decision log joins.

Every answered request leaves (its response id → tenant, route, tier) here for `retention_s`, so that
`POST /v1/feedback` can tell a tenant's own answer from another's (which it must not rate) and record
the feedback with the route and tier it judges. In this process by default (bounded by count, oldest out
first); in Redis when GATEWAY_REDIS_URL is set, so feedback may reach any replica. Writes are off the
request path: to memory they are a few array writes; to Redis a background task, dropped and counted if
Redis is down (feedback on that answer is then a 404).

In memory an entry is 20 bytes (a dict of id strings and objects took ~300): a ring of `max_count` slots
in flat arrays, filled as answers come and then written in turn, holding the id's hash (64 bits, keyed
per process: no client can aim at another's), when it expires, its tenant, route, tier, family, family
set and whether it was shadowed as one code of a small table (bounded by the rules, the keys and the
weights' families), and its place within its family (a 4-byte float). The ring has no map from id to
slot, which would cost more than the entries: a lookup (feedback, rare next to answers) searches the
hashes' bytes at C speed (bytearray.find), under a millisecond for 200,000.
"""

from __future__ import annotations

import math
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.frozen import fast_init

__all__ = ["AnswerIndex", "Answered", "MemoryAnswers"]


@fast_init
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


# An entry's names, coded together: (tenant, route, tier, family, family set, shadowed)
_Names = tuple[str, str, str, str | None, str | None, bool]


class AnswerIndex(Protocol):
    def remember(self, response_id: str, answered: Answered) -> None:
        """Never blocks the answer; may lose the entry if the store is down."""

    async def lookup(self, response_id: str) -> Answered | None:
        """None when unknown or expired. ServiceUnavailable when the store cannot be reached."""

    async def aclose(self) -> None: ...


_KEY = struct.Struct("<q")
_NAN = float("nan")
_NEVER = 2**32 - 1  # the last second an unsigned 32-bit expiry holds (the monotonic clock: 136 years)


def _hash(response_id: str) -> int:
    h = hash(response_id)
    return h if h != 0 else 1  # all zeros marks an empty slot


class MemoryAnswers:
    def __init__(
        self, max_count: int, retention_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_count
        self._retention = retention_s
        self._clock = clock
        self._next = 0  # the slot the next answer takes (the oldest one's, once the ring is full)
        # Per slot, growing up to `max_count`: the id's hash (8 bytes; zeros: empty), the clock's
        # second when it expires (whole seconds, rounded up: it may outlive its retention by < 1 s; 4
        # bytes where a float took 8), the code of its names (a table bounded by the rules, keys and
        # families), and its place within its family (NaN: none).
        self._keys = bytearray()
        self._expires = array("I")
        self._codes = array("I")
        self._within = array("f")
        self._names: dict[_Names, int] = {}
        self._named: list[_Names] = []

    def __len__(self) -> int:
        return len(self._expires)

    def _code(self, names: _Names) -> int:
        code = self._names.get(names)
        if code is None:
            code = self._names[names] = len(self._named)
            self._named.append(names)
        return code

    def remember(self, response_id: str, answered: Answered) -> None:
        a = answered
        code = self._code((a.tenant, a.route, a.tier, a.family, a.family_set, a.shadowed))
        within = _NAN if a.within is None else a.within
        expires = min(math.ceil(self._clock() + self._retention), _NEVER)
        slot = self._next
        self._next = slot + 1 if slot + 1 < self._max else 0
        if len(self._expires) < self._max:  # still filling: slot is the end
            self._keys += _KEY.pack(_hash(response_id))
            self._expires.append(expires)
            self._codes.append(code)
            self._within.append(within)
            return
        _KEY.pack_into(self._keys, 8 * slot, _hash(response_id))
        self._expires[slot] = expires
        self._codes[slot] = code
        self._within[slot] = within

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
        slot = self._slot(_KEY.pack(_hash(response_id)))
        if slot is None:
            return None
        if self._expires[slot] < self._clock():
            _KEY.pack_into(self._keys, 8 * slot, 0)
            return None
        tenant, route, tier, family, family_set, shadowed = self._named[self._codes[slot]]
        within = self._within[slot]
        return Answered(
            tenant,
            route,
            tier,
            family,
            family_set,
            None if math.isnan(within) else round(within, 4),
            shadowed,
        )

    async def aclose(self) -> None:
        pass
