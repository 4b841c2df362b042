"""Tenant limits shared by every replica through Redis (GATEWAY_REDIS_URL).

Same windows as the in-process `TenantLimits`: requests in the last 60 s, tokens in the last 60 s, USD
spent in the current UTC day. Each check is one Lua script, so two replicas admitting at once cannot
both take the last slot, and it reads Redis's clock, so replicas whose clocks drift still agree.

If Redis cannot be reached the gateway keeps serving (fail open, the default: a limit store outage must
not become a gateway outage) or refuses with 503 (`GATEWAY_LIMITS_FAIL_OPEN=false`); either way the
error is counted in `gateway_limit_store_errors_total` and logged at most every 30 s.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any, Literal

from gateway.errors import ServiceUnavailable
from gateway.rules import TenantSpec
from gateway.tenancy.limits import refusal
from gateway.tenancy.redis_client import Background, Outage, redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimits"]

log = logging.getLogger(__name__)
_LIMITS: tuple[Literal["budget", "requests", "tokens"], ...] = ("budget", "requests", "tokens")

# KEYS: requests (sorted set of admission times), tokens (hash: second -> tokens), usd (hash: day -> USD).
# ARGV: requests/min, tokens/min, USD/day (negative: no limit), a member unique to this request.
# Returns {code, seconds until a retry can pass}, code 0 = admitted or an index into _LIMITS; floats
# travel as strings (Lua numbers would truncate).
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local usd_limit = tonumber(ARGV[3])
if usd_limit >= 0 then
  local spent = tonumber(redis.call('HGET', KEYS[3], tostring(math.floor(now / 86400))) or '0')
  if spent >= usd_limit then return {1, tostring(86400 - now % 86400)} end
end
local rpm = tonumber(ARGV[1])
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {2, tostring(tonumber(first[2]) + 60 - now)}
  end
end
local tpm = tonumber(ARGV[2])
if tpm >= 0 then
  local fields = redis.call('HGETALL', KEYS[2])
  local sum, oldest = 0, nil
  for i = 1, #fields, 2 do
    local sec = tonumber(fields[i])
    if sec <= now - 60 then
      redis.call('HDEL', KEYS[2], fields[i])
    else
      sum = sum + tonumber(fields[i + 1])
      if oldest == nil or sec < oldest then oldest = sec end
    end
  end
  if sum >= tpm then return {3, tostring(oldest + 60 - now)} end
end
if rpm >= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], 61)
end
return {0, '0'}
"""

# KEYS: tokens, usd (as above). ARGV: tokens, USD.
_SPENT = """
local now = tonumber(redis.call('TIME')[1])
if tonumber(ARGV[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], tostring(now), ARGV[1])
  redis.call('EXPIRE', KEYS[1], 61)
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBYFLOAT', KEYS[2], tostring(math.floor(now / 86400)), ARGV[2])
  redis.call('EXPIRE', KEYS[2], 172800)
end
return 0
"""


def _limit(value: float | None) -> float:
    return -1 if value is None else value


class RedisLimits:
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "gateway:limits",
        fail_open: bool = True,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._fail_open = fail_open
        consequence = "admitting without limits" if fail_open else "refusing limited tenants"
        self._failed = Outage(log, "tenant limit store", consequence, on_error)
        self._admit = client.register_script(_ADMIT)
        self._spent = client.register_script(_SPENT)
        self._ids = count()
        self._replica = f"{os.getpid():x}.{time.time_ns():x}"
        self._pending = Background()

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisLimits:
        return cls(redis_client(url), **kw)

    def _keys(self, tenant: str) -> list[str]:
        # One hash tag per tenant: a Redis Cluster keeps a tenant's keys on one shard, as Lua needs.
        base = f"{self._prefix}:{{{tenant}}}"
        return [f"{base}:requests", f"{base}:tokens", f"{base}:usd"]

    async def admit(self, tenant: str, spec: TenantSpec) -> None:
        if spec.requests_per_minute is None and spec.tokens_per_minute is None and spec.usd_per_day is None:
            return
        member = f"{self._replica}.{next(self._ids)}"
        args: list[str | float] = [
            _limit(spec.requests_per_minute),
            _limit(spec.tokens_per_minute),
            _limit(spec.usd_per_day),
            member,
        ]
        try:
            code, retry = await self._admit(keys=self._keys(tenant), args=args)
        except Exception as exc:  # noqa: BLE001 - any client failure is an outage of the store
            self._failed("admit", exc)
            if self._fail_open:
                return
            raise ServiceUnavailable("Tenant limits cannot be checked right now.") from None
        if int(code):
            raise refusal(tenant, spec, _LIMITS[int(code) - 1], float(retry))

    def spent(self, tenant: str, tokens: int, usd: float) -> None:
        if tokens <= 0 and usd <= 0:
            return
        self._pending.run(self._record(tenant, tokens, usd))

    async def _record(self, tenant: str, tokens: int, usd: float) -> None:
        keys = self._keys(tenant)
        try:
            await self._spent(keys=keys[1:], args=[tokens, repr(usd)])
        except Exception as exc:  # noqa: BLE001 - lost usage is logged and counted, never raised
            self._failed("spent", exc)

    async def flush(self) -> None:
        """Wait for usage still being written (tests, shutdown)."""
        await self._pending.flush()

    async def aclose(self) -> None:
        await self.flush()
        await self._client.aclose()
