"""Counts learned while serving, in Redis: every replica adds to and reads the same counts.

One hash per family set holds each family's (labels, shortfalls, as of when), brought up to date and
added to inside one Lua script with Redis's own clock, so replicas whose clocks drift still decay
alike and two replicas adding at once lose nothing. A second hash holds each (family, tenant) tally of
counted ratings, checked against the cap in the same script; it is bounded in entries (a tenant new to
a full table has its ratings refused, never another's forgotten). Keys share a hash tag per family
set (Redis Cluster keeps them on one shard, as Lua needs). An outage loses the labels it refuses
(counted by the caller) and reads as no learned counts: routing falls back to the prior.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gateway.tenancy.learned_store import MAX_TALLIES, Decayed, Delta
from gateway.tenancy.redis_client import Outage, redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLearned"]

log = logging.getLogger(__name__)

# KEYS: counts hash, tallies hash. ARGV: family set, half-life (s), tenant cap,
# max tallies, then per label: its path length, the path, its shortfall (0/1), its tenant ("": none).
_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local half, cap, maxt = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function decayed(raw)
  if not raw then return 0, 0, now end
  local n, s, at = string.match(raw, '([^|]+)|([^|]+)|([^|]+)')
  n, s, at = tonumber(n), tonumber(s), tonumber(at)
  if now > at then
    local f = math.pow(0.5, (now - at) / half)
    n, s = n * f, s * f
  end
  return n, s, math.max(now, at)
end
local function put(key, field, n, s, at)
  redis.call('HSET', key, field, string.format('%.17g|%.17g|%.17g', n, s, at))
end
local out, i = {}, 5
while i <= #ARGV do
  local len = tonumber(ARGV[i])
  local path = {}
  for j = 1, len do path[j] = ARGV[i + j] end
  local y, tenant = tonumber(ARGV[i + len + 1]), ARGV[i + len + 2]
  i = i + len + 3
  local ok = 1
  if tenant ~= '' then
    local field = path[1] .. '\\31' .. tenant
    local raw = redis.call('HGET', KEYS[2], field)
    if not raw and redis.call('HLEN', KEYS[2]) >= maxt then
      ok = 0
    else
      local n, s, at = decayed(raw)
      if n + 1 > cap then ok = 0 else put(KEYS[2], field, n + 1, s + y, at) end
    end
  end
  if ok == 1 then
    for j = 1, len do
      local n, s, at = decayed(redis.call('HGET', KEYS[1], path[j]))
      put(KEYS[1], path[j], n + 1, s + y, at)
    end
  end
  out[#out + 1] = ok
end
return out
"""

_PREFIX = "gateway:learned"
_SETS = f"{_PREFIX}:sets"
_FOLDED = f"{_PREFIX}:folded"  # family set -> the time of the latest export whose counts were reset


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisLearned:
    def __init__(self, client: Redis, on_error: Callable[[str], None] | None = None) -> None:
        self._client = client
        self._failed = Outage(log, "learned-count store", "labels are lost, routing uses the prior", on_error)
        self._add = client.register_script(_ADD)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisLearned:
        return cls(redis_client(url), **kw)

    @staticmethod
    def _keys(family_set: str) -> list[str]:
        base = f"{_PREFIX}:{{{family_set}}}"
        return [f"{base}:counts", f"{base}:tallies"]

    async def add(
        self, family_set: str, deltas: Sequence[Delta], now: float, half_life_s: float, tenant_cap: float
    ) -> list[bool]:
        if not deltas:
            return []
        args: list[Any] = [family_set, half_life_s, tenant_cap, MAX_TALLIES]
        for d in deltas:
            args += [len(d.path), *d.path, d.shortfall, d.tenant or ""]
        try:
            # The list of family sets sits outside the set's hash tag: added apart, not in the script.
            await self._client.sadd(_SETS, family_set)
            done = await self._add(keys=self._keys(family_set), args=args)
        except Exception as exc:  # noqa: BLE001 - an outage loses these labels, counted by the caller
            self._failed("add", exc)
            return [False] * len(deltas)
        return [bool(int(v)) for v in done]

    async def read(self, family_set: str) -> dict[str, Decayed]:
        try:
            raw = await self._client.hgetall(self._keys(family_set)[0])
        except Exception as exc:  # noqa: BLE001 - unreachable: no learned counts, the prior routes
            self._failed("read", exc)
            return {}
        out = {}
        for k, v in raw.items():
            try:
                out[_text(k)] = Decayed.of([float(x) for x in _text(v).split("|")])
            except (ValueError, UnicodeDecodeError):
                continue
        return out

    async def reset(self, family_set: str, folded_at: float | None = None) -> None:
        await self._client.delete(*self._keys(family_set))
        await self._client.srem(_SETS, family_set)
        if folded_at is not None:
            await self._client.hset(_FOLDED, family_set, repr(folded_at))

    async def folded_at(self, family_set: str) -> float:
        try:
            raw = await self._client.hget(_FOLDED, family_set)
        except Exception as exc:  # noqa: BLE001 - unreachable: no reset now (it could not be done either)
            self._failed("read", exc)
            return math.inf
        return 0.0 if raw is None else float(_text(raw))

    async def sets(self) -> list[str]:
        members = await self._client.smembers(_SETS)
        return sorted(_text(m) for m in members)

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        await self._client.aclose()
