"""The Responses API's response store in a real redis-server (Debian's package), where two stores
stand for two replicas. Without redis-server these tests skip on a workstation and fail in CI. In
memory: tests/unit/tenancy/test_response_store.py."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.errors import ServiceUnavailable
from gateway.tenancy.redis_responses import RedisResponses
from gateway.tenancy.response_store import ANONYMOUS
from gateway.testing.processes import free_port, stop
from tests.support import REDIS_PASSWORD as PASSWORD
from tests.support import start_redis

SECRET = b'{"output": "RECORD-MARKER-5d1e"}'  # stored contents: never in a log line


class Errors(list[str]):
    def __call__(self, op: str) -> None:
        self.append(op)


async def held(store: RedisResponses, tenant: str, ids: list[str]) -> list[str]:
    return [i for i in ids if await store.get(tenant, i) is not None]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop(proc)


TTL = 3600


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisResponses, RedisResponses, Redis]]:
    raw = Redis.from_url(redis_url)
    await raw.flushdb()
    a, b = (RedisResponses.from_url(redis_url, ttl_s=TTL, tenant_count=3, tenant_bytes=100) for _ in "ab")
    yield a, b, raw
    for client in (a, b, raw):
        await client.aclose()


async def test_a_record_stored_by_one_replica_is_read_and_deleted_by_the_other(
    replicas: tuple[RedisResponses, RedisResponses, Redis],
) -> None:
    a, b, raw = replicas
    assert await a.put("acme", "resp_1", SECRET)
    assert await b.get("acme", "resp_1") == SECRET
    assert await b.get("acme", "resp_2") is None
    assert await b.delete("acme", "resp_1") and not await a.delete("acme", "resp_1")
    assert await a.get("acme", "resp_1") is None
    base = "gateway:responses:{acme}:"
    assert await raw.zcard(base + "~index") == 0 and int(await raw.get(base + "~bytes")) == 0


async def test_tenants_are_isolated_in_redis(replicas: tuple[RedisResponses, RedisResponses, Redis]) -> None:
    a, b, raw = replicas
    await a.put("acme", "resp_1", SECRET)
    await a.put(ANONYMOUS, "resp_2", b"open")
    assert await b.get("beta", "resp_1") is None and await b.get(ANONYMOUS, "resp_1") is None
    assert not await b.delete("beta", "resp_1")
    assert await b.get("acme", "resp_1") == SECRET
    assert await b.get("acme", "a:b") is None and not await b.delete("acme", "}:x")
    assert sorted(await raw.keys("gateway:responses:{acme}:*")) == [
        b"gateway:responses:{acme}:resp_1",
        b"gateway:responses:{acme}:~bytes",
        b"gateway:responses:{acme}:~index",
        b"gateway:responses:{acme}:~sizes",
    ]


async def test_every_key_expires_within_the_ttl(
    replicas: tuple[RedisResponses, RedisResponses, Redis],
) -> None:
    a, _, raw = replicas
    await a.put("acme", "resp_1", SECRET)
    keys = await raw.keys("gateway:responses:*")
    assert len(keys) == 4
    for key in keys:
        assert 0 < await raw.ttl(key) <= TTL


async def test_quotas_evict_the_tenants_oldest(
    replicas: tuple[RedisResponses, RedisResponses, Redis],
) -> None:
    a, b, raw = replicas
    base = "gateway:responses:{acme}:"
    await a.put("beta", "keep", b"b" * 90)
    for i in range(4):  # count quota 3, alternating replicas
        assert await (a if i % 2 else b).put("acme", f"r{i}", b"x" * 10)
    assert await held(a, "acme", ["r0", "r1", "r2", "r3"]) == ["r1", "r2", "r3"]
    assert await a.put("acme", "big", b"y" * 85)  # count makes r1 go, bytes (100) r2; r3 stays
    assert await held(b, "acme", ["r1", "r2", "r3", "big"]) == ["r3", "big"]
    assert int(await raw.get(base + "~bytes")) == 95 and await raw.hlen(base + "~sizes") == 2
    assert not await a.put("acme", "huge", b"z" * 101)  # over the quota alone: refused, nothing lost
    assert await held(b, "acme", ["r3", "big"]) == ["r3", "big"]
    assert await b.get("beta", "keep") == b"b" * 90  # another tenant's quota is its own


async def test_concurrent_puts_on_two_replicas_keep_the_quota_exact(
    replicas: tuple[RedisResponses, RedisResponses, Redis],
) -> None:
    a, b, raw = replicas
    base = "gateway:responses:{acme}:"
    ok = await asyncio.gather(*((a if i % 2 else b).put("acme", f"r{i}", b"x" * 7) for i in range(30)))
    assert all(ok)
    assert await raw.zcard(base + "~index") == 3 and await raw.hlen(base + "~sizes") == 3
    assert int(await raw.get(base + "~bytes")) == 21
    assert len(await raw.keys(base + "r*")) == 3


async def test_index_entries_of_expired_records_are_forgotten(
    replicas: tuple[RedisResponses, RedisResponses, Redis],
) -> None:
    a, _, raw = replicas
    base = "gateway:responses:{acme}:"
    await a.put("acme", "live", b"x" * 10)
    # As if two records had been stored more than a TTL ago and Redis had expired them since.
    sec, usec = await raw.time()
    now = sec * 1_000_000 + usec
    await raw.zadd(
        base + "~index", {"gone1": now - (TTL + 5) * 1_000_000, "gone2": now - (TTL + 1) * 1_000_000}
    )
    await raw.hset(base + "~sizes", mapping={"gone1": 45, "gone2": 45})
    await raw.incrby(base + "~bytes", 90)
    assert await a.put("acme", "next", b"y" * 10)  # counting the dead, "live" would have to go
    assert await held(a, "acme", ["live", "next"]) == ["live", "next"]
    assert await raw.zrange(base + "~index", 0, -1) == [b"live", b"next"]
    assert int(await raw.get(base + "~bytes")) == 20


async def test_unreachable_store_refuses_puts_and_answers_503(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    errors = Errors()
    store = RedisResponses.from_url(dead, ttl_s=TTL, tenant_count=3, tenant_bytes=100, on_error=errors)
    with caplog.at_level(logging.WARNING, logger="gateway.tenancy.redis_responses"):
        assert not await store.put("acme", "resp_1", SECRET)
        for op in (store.get, store.delete):
            with pytest.raises(ServiceUnavailable) as info:
                await op("acme", "resp_1")
            assert info.value.status == 503 and info.value.headers["retry-after"] == "1"
            assert info.value.message == "The response store cannot be reached right now."
    assert errors == ["put", "get", "delete"]
    assert len(caplog.records) == 1  # at most one line every 30 s
    text = caplog.text
    assert "response store unreachable (put: ConnectionError)" in text
    assert PASSWORD not in text and SECRET.decode() not in text and dead not in text
    await store.aclose()


async def test_a_hung_redis_times_out_fast_and_recovery_needs_nothing(tmp_path: Path) -> None:
    proc, url = start_redis(tmp_path)
    errors = Errors()
    store = RedisResponses.from_url(url, ttl_s=TTL, tenant_count=3, tenant_bytes=100, on_error=errors)
    try:
        assert await store.put("acme", "resp_1", SECRET)
        os.kill(proc.pid, signal.SIGSTOP)  # accepts nothing, answers nothing: only the timeout helps
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await store.get("acme", "resp_1")
        assert not await store.put("acme", "resp_2", SECRET)
        assert time.monotonic() - started < 3  # two 0.5 s socket timeouts, not a hang
        os.kill(proc.pid, signal.SIGCONT)
        assert await store.get("acme", "resp_1") == SECRET
        assert await store.put("acme", "resp_2", SECRET)
        assert errors == ["get", "put"]
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await store.aclose()
        stop(proc)
