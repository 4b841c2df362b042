"""Which tenant each answer went to: the index feedback is checked against and the decision log joins.

Every answered request leaves (its response id → tenant, route, tier) here for `retention_s`, so that
`POST /v1/feedback` can tell a tenant's own answer from another's (which it must not rate) and record
the feedback with the route and tier it judges. In this process by default (bounded by count, oldest
out first); in Redis when GATEWAY_REDIS_URL is set, so feedback may reach any replica. Writes are off
the request path: to memory they are a dict insert; to Redis a background task, dropped and counted
if Redis is down (feedback on that answer is then a 404).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from gateway.tenancy.shared import Background, Outage, redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from gateway.config import Settings

__all__ = ["AnswerIndex", "Answered", "MemoryAnswers", "RedisAnswers", "answer_index"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answered:
    tenant: str
    route: str
    tier: str


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

    def remember(self, response_id: str, answered: Answered) -> None:
        self._pending.run(self._set(response_id, answered))

    async def _set(self, response_id: str, answered: Answered) -> None:
        try:
            await self._client.set(f"{self._prefix}:{response_id}", _encode(answered), ex=self._retention)
        except Exception as exc:  # noqa: BLE001 - a lost index entry is counted and logged, never raised
            self._failed("remember", exc)

    async def lookup(self, response_id: str) -> Answered | None:
        from gateway.errors import ServiceUnavailable

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


def answer_index(settings: Settings, on_error: Callable[[str], None] | None = None) -> AnswerIndex:
    if settings.redis_url is None:
        return MemoryAnswers(settings.answers_max, settings.answers_retention_s)
    return RedisAnswers.from_url(
        settings.redis_url.get_secret_value(), retention_s=settings.answers_retention_s, on_error=on_error
    )
