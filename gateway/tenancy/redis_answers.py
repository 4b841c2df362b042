"""The answer index in Redis (GATEWAY_REDIS_URL): feedback reaches any replica. Writes are background
tasks, dropped and counted when Redis is down (feedback on that answer is then a 404)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.errors import ServiceUnavailable
from gateway.tenancy.answer_index import Answered
from gateway.tenancy.redis_client import Background, Outage, redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisAnswers"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Answered).decode


class RedisAnswers:
    def __init__(
        self,
        client: Redis,
        *,
        retention_s: float,
        prefix: str = "gateway:answers",
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._retention = max(1, round(retention_s))
        self._prefix = prefix
        self._failed = Outage(log, "answer index", on_error=on_error)
        self._pending = Background()

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisAnswers:
        return cls(redis_client(url), **kw)

    def remember(self, response_id: str, tenant: str, route: str, tier: str) -> None:
        self._pending.run(self._set(response_id, Answered(tenant, route, tier)))

    async def _set(self, response_id: str, answered: Answered) -> None:
        try:
            await self._client.set(f"{self._prefix}:{response_id}", _encode(answered), ex=self._retention)
        except Exception as exc:  # noqa: BLE001 - a lost index entry is counted and logged, never raised
            self._failed("remember", exc)

    async def lookup(self, response_id: str) -> Answered | None:
        try:
            raw = await self._client.get(f"{self._prefix}:{response_id}")
        except Exception as exc:  # noqa: BLE001 - any client failure is an outage of the store
            self._failed("lookup", exc)
            raise ServiceUnavailable("Feedback cannot be checked right now.") from None
        return None if raw is None else _decode(raw)

    async def flush(self) -> None:
        await self._pending.flush()

    async def aclose(self) -> None:
        await self.flush()
        await self._client.aclose()
