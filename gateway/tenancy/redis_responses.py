"""Stored responses shared by every replica through Redis (GATEWAY_REDIS_URL).

Per tenant, under one hash tag (a Redis Cluster keeps a tenant's keys on one shard, as Lua needs):

    {prefix}:{tenant}:{id}     the record, EX = the TTL
    {prefix}:{tenant}:~index   sorted set: id -> when it was stored (Redis's clock, microseconds)
    {prefix}:{tenant}:~sizes   hash: id -> its record's bytes
    {prefix}:{tenant}:~bytes   the sum of those sizes

Ids never hold '~', ':' or braces (`valid_id`), so no id names another tenant's key or a bookkeeping key.
A put is one Lua script: it forgets index entries stored more than a TTL ago (their records have
expired), then drops the tenant's oldest until the new record fits its count and byte quotas, so two
replicas storing at once cannot both take the last room. The bookkeeping keys expire a TTL after the
tenant's last put, with its last record: nothing outlives the TTL. Get and delete read the tenant's own
key only. Order is by age, not by use: refreshing it on every read would make each read a write.

If Redis cannot be reached, a put is refused (the answer is served, marked not stored) and a get or
delete is a 503 with Retry-After; each failure is counted by `on_error(op)` and logged at most every
30 s, with neither the URL nor any record in the message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from gateway.errors import ServiceUnavailable
from gateway.tenancy.redis_client import Outage, redis_client
from gateway.tenancy.response_store import valid_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisResponses"]

log = logging.getLogger(__name__)
_FORGET = 128  # expired index entries a put forgets at most: bounded work, and it keeps up with puts
_UNREACHABLE = "The response store cannot be reached right now."

# KEYS: index, sizes, bytes (as above). ARGV[1]: the key prefix of the tenant's records ("...:{t}:").
# Records to evict are named by the index, so their keys are built here rather than passed in KEYS;
# they share the tenant's hash tag, hence its slot, which is what a Redis Cluster needs of a script.
_DROP = """
local function drop(id)
  local n = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  if n > 0 then redis.call('DECRBY', KEYS[3], n) end
  return redis.call('DEL', ARGV[1] .. id)
end
"""

# ARGV: record prefix, id, record, TTL s, count quota, byte quota, most expired entries to forget.
# Returns how many of the tenant's records were evicted to make room.
_PUT = (
    _DROP
    + """
local t = redis.call('TIME')
-- In microseconds, written with %.0f: Lua would print a number this long with 14 digits only.
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stale = string.format('%.0f', now - tonumber(ARGV[4]) * 1000000)
local id, ttl, size = ARGV[2], tonumber(ARGV[4]), string.len(ARGV[3])
local max_count, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', stale, 'LIMIT', 0, ARGV[7])) do
  drop(old)
end
if redis.call('ZSCORE', KEYS[1], id) then drop(id) end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])  -- nothing left to count: heal a counter another hand changed
end
local evicted = 0
while redis.call('ZCARD', KEYS[1]) > 0 and (redis.call('ZCARD', KEYS[1]) >= max_count
    or tonumber(redis.call('GET', KEYS[3]) or '0') + size > max_bytes) do
  drop(redis.call('ZRANGE', KEYS[1], 0, 0)[1])
  evicted = evicted + 1
end
redis.call('SET', ARGV[1] .. id, ARGV[3], 'EX', ttl)
redis.call('ZADD', KEYS[1], string.format('%.0f', now), id)
redis.call('HSET', KEYS[2], id, size)
redis.call('INCRBY', KEYS[3], size)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
return evicted
"""
)

# ARGV: record prefix, id. Returns 1 if the record existed.
_DELETE = _DROP + "\nreturn drop(ARGV[2])\n"


class RedisResponses:
    def __init__(
        self,
        client: Redis,
        *,
        ttl_s: float,
        tenant_count: int,
        tenant_bytes: int,
        on_error: Callable[[str], None] | None = None,
        prefix: str = "gateway:responses",
    ) -> None:
        if tenant_count <= 0 or tenant_bytes <= 0 or ttl_s <= 0:
            raise ValueError("need positive quotas and ttl_s")
        self._client = client
        self._ttl = max(1, math.ceil(ttl_s))  # EX takes whole seconds
        self._tenant_count, self._tenant_bytes = tenant_count, tenant_bytes
        consequence = "answers are served but not stored, and chains cannot be continued"
        self._failed = Outage(log, "response store", consequence, on_error)
        self._prefix = prefix
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisResponses:
        return cls(redis_client(url), **kw)

    def _base(self, tenant: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:"

    def _meta(self, base: str) -> list[str]:
        return [f"{base}~index", f"{base}~sizes", f"{base}~bytes"]

    async def put(self, tenant: str, response_id: str, record: bytes) -> bool:
        if not valid_id(response_id):
            raise ValueError("not a response id")
        if len(record) > self._tenant_bytes:
            return False
        base = self._base(tenant)
        quotas = [self._ttl, self._tenant_count, self._tenant_bytes, _FORGET]
        args: list[bytes | str | int] = [base, response_id, record, *quotas]
        try:
            await self._put(keys=self._meta(base), args=args)
        except RedisError as exc:
            self._failed("put", exc)
            return False
        return True

    async def get(self, tenant: str, response_id: str) -> bytes | None:
        if not valid_id(response_id):
            return None
        try:
            # Bytes: from_url leaves decode_responses off, records are not text to the store.
            record = cast("bytes | None", await self._client.get(self._base(tenant) + response_id))
        except RedisError as exc:
            self._failed("get", exc)
            raise ServiceUnavailable(_UNREACHABLE) from None
        return record

    async def delete(self, tenant: str, response_id: str) -> bool:
        if not valid_id(response_id):
            return False
        base = self._base(tenant)
        try:
            existed = await self._delete(keys=self._meta(base), args=[base, response_id])
        except RedisError as exc:
            self._failed("delete", exc)
            raise ServiceUnavailable(_UNREACHABLE) from None
        return bool(existed)

    async def aclose(self) -> None:
        await self._client.aclose()
