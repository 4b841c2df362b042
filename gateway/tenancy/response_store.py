"""Stored responses for the Responses API: what `previous_response_id` continues and GET /v1/responses reads.

A record is opaque bytes to the store (the handler's JSON: the response and its input items), kept per
tenant: a tenant reads only its own, and another tenant's id is simply unknown (404). An open gateway
(no API keys) passes `ANONYMOUS` for every request. A response is kept for `ttl_s` after it was stored,
as OpenAI keeps one for 30 days after it was created: reading it does not extend its life.

`MemoryResponses` keeps them in this process, bounded by count and bytes, per tenant and in all;
`gateway.tenancy.redis_responses.RedisResponses` keeps them in Redis so that a chain started on one
replica continues on another. Both are a `ResponseStore`; tenancy/stores.py builds the one the settings
ask for.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

__all__ = ["ANONYMOUS", "MemoryResponses", "ResponseStore", "valid_id"]

ANONYMOUS = "anonymous"  # the one tenant of a gateway without API keys

# Ids are the gateway's own (resp_...), but a client sends them back; this alphabet keeps one tenant's
# id from ever spelling another tenant's Redis key (no ':', '{', '}').
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PRUNE = 32  # expired entries dropped per call at most: bounded work, and it keeps up with puts


def valid_id(response_id: str) -> bool:
    """Whether `response_id` could name a stored response (the handler may 404 any other at once)."""
    return _ID.fullmatch(response_id) is not None


class ResponseStore(Protocol):
    async def put(self, tenant: str, response_id: str, record: bytes) -> bool:
        """Keep `record` for this tenant. False when it was not stored (the store cannot be reached,
        or the record alone is over the tenant's byte quota): the answer is still served, marked not
        stored. Never raises for an outage; ValueError for an id `valid_id` refuses."""

    async def get(self, tenant: str, response_id: str) -> bytes | None:
        """The record; None when unknown, expired, evicted or another tenant's. Raises
        ServiceUnavailable (503, Retry-After) when the store cannot be reached: a chain must not
        silently restart from nothing."""

    async def delete(self, tenant: str, response_id: str) -> bool:
        """True if this tenant had it. ServiceUnavailable when the store cannot be reached."""

    async def aclose(self) -> None: ...


class _Tenant:
    __slots__ = ("bytes", "lru")

    def __init__(self) -> None:
        self.lru: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # id -> (record, expires)
        self.bytes = 0


class MemoryResponses:
    """In this process: least recently used out first, within a tenant's quota and within the bounds.

    A tenant over its own quota (count or bytes) loses its own least recently used responses, never
    another tenant's. Over the global bound, the tenant holding the most of what is over (bytes, or
    responses when the count is) loses its least recently used one, so a heavy tenant cannot push the
    others out. Every operation is O(1) amortised, but choosing whom to evict for the global bound scans
    the tenants holding responses (as many as there are API keys' tenants, at most).
    """

    def __init__(
        self,
        *,
        max_count: int,
        max_bytes: int,
        tenant_count: int,
        tenant_bytes: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < tenant_count <= max_count or not 0 < tenant_bytes <= max_bytes or ttl_s <= 0:
            raise ValueError("need 0 < tenant quota <= global bound (count and bytes) and ttl_s > 0")
        self._max_count, self._max_bytes = max_count, max_bytes
        self._tenant_count, self._tenant_bytes = tenant_count, tenant_bytes
        self._ttl = ttl_s
        self._clock = clock
        self._tenants: dict[str, _Tenant] = {}
        # Every entry in the order it was stored, which is the order it expires in (one TTL for all).
        self._expiry: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.count = 0  # responses held, all tenants
        self.bytes = 0  # their records' bytes (the dict and tuple overhead comes on top)

    def usage(self, tenant: str) -> tuple[int, int]:
        """(responses, bytes) this tenant holds now."""
        t = self._tenants.get(tenant)
        return (len(t.lru), t.bytes) if t is not None else (0, 0)

    def _remove(self, tenant: str, t: _Tenant, response_id: str) -> None:
        record, _ = t.lru.pop(response_id)
        del self._expiry[(tenant, response_id)]
        t.bytes -= len(record)
        self.count -= 1
        self.bytes -= len(record)
        if not t.lru:
            del self._tenants[tenant]

    def _prune(self, now: float) -> None:
        for _ in range(_PRUNE):
            if not self._expiry:
                return
            (tenant, response_id), expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            self._remove(tenant, self._tenants[tenant], response_id)

    def _live(self, tenant: str, response_id: str) -> _Tenant | None:
        """The tenant's entry holder if it has this response unexpired; an expired one is dropped."""
        now = self._clock()
        self._prune(now)
        t = self._tenants.get(tenant)
        if t is None or response_id not in t.lru:
            return None
        if t.lru[response_id][1] <= now:
            self._remove(tenant, t, response_id)
            return None
        return t

    async def put(self, tenant: str, response_id: str, record: bytes) -> bool:
        if not valid_id(response_id):
            raise ValueError("not a response id")
        if len(record) > self._tenant_bytes:
            return False
        now = self._clock()
        self._prune(now)
        t = self._tenants.get(tenant)
        if t is not None and response_id in t.lru:
            self._remove(tenant, t, response_id)
        t = self._tenants.setdefault(tenant, _Tenant())
        t.lru[response_id] = (record, now + self._ttl)
        self._expiry[(tenant, response_id)] = now + self._ttl
        t.bytes += len(record)
        self.count += 1
        self.bytes += len(record)
        # The new record alone fits the tenant's quota, and a quota fits the bound: both loops end
        # before they reach it (it is the most recently used of its tenant).
        while len(t.lru) > self._tenant_count or t.bytes > self._tenant_bytes:
            self._remove(tenant, t, next(iter(t.lru)))
        while self.count > self._max_count or self.bytes > self._max_bytes:
            self._evict_heaviest(tenant, by_bytes=self.bytes > self._max_bytes)
        return True

    def _evict_heaviest(self, putting: str, *, by_bytes: bool) -> None:
        def weight(item: tuple[str, _Tenant]) -> int:
            return item[1].bytes if by_bytes else len(item[1].lru)

        # The putting tenant's new record is not a candidate: only its older ones are.
        candidates = ((n, t) for n, t in self._tenants.items() if n != putting or len(t.lru) > 1)
        name, t = max(candidates, key=weight)
        self._remove(name, t, next(iter(t.lru)))

    async def get(self, tenant: str, response_id: str) -> bytes | None:
        t = self._live(tenant, response_id)
        if t is None:
            return None
        t.lru.move_to_end(response_id)
        return t.lru[response_id][0]

    async def delete(self, tenant: str, response_id: str) -> bool:
        t = self._live(tenant, response_id)
        if t is None:
            return False
        self._remove(tenant, t, response_id)
        return True

    async def aclose(self) -> None:
        pass
