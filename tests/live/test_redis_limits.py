"""Tenant limits shared through a real redis-server (Debian's package): two stores or two gateway
processes stand for two replicas. Without redis-server the tests skip on a workstation and fail in CI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis
from redis.asyncio import Redis

from gateway.errors import RateLimited, ServiceUnavailable
from gateway.rules import TenantSpec
from gateway.tenancy.redis_limits import RedisLimits
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import free_port, stop
from tests.live.test_tenants import ROUTES  # two tiers; acme: 4 requests a minute, beta: $0.05 a day
from tests.support import REDIS_PASSWORD as PASSWORD
from tests.support import Gateway, start_gateway, start_redis

ACME, BETA = "sk-acme-redis-1", "sk-beta-redis-2"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop(proc)


class Errors(list[str]):
    def __call__(self, op: str) -> None:
        self.append(op)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisLimits, RedisLimits, Redis]]:
    raw = Redis.from_url(redis_url)
    await raw.flushdb()
    a, b = RedisLimits.from_url(redis_url), RedisLimits.from_url(redis_url)
    yield a, b, raw
    for store in (a, b):
        await store.aclose()
    await raw.aclose()


async def test_request_window_is_shared_and_atomic(replicas: tuple[RedisLimits, RedisLimits, Redis]) -> None:
    a, b, _ = replicas
    spec = TenantSpec(requests_per_minute=10)
    # 30 concurrent admissions split over two replicas: exactly the limit gets through.
    results = await asyncio.gather(
        *((a if i % 2 else b).admit("acme", spec) for i in range(30)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 20 and all(r is None for r in results if not isinstance(r, RateLimited))
    assert refused[0].code == "rate_limit_requests"
    assert 58 <= int(refused[0].headers["retry-after"]) <= 60
    await a.admit("beta", spec)  # another tenant has its own window
    await b.admit("acme", TenantSpec())  # no limits: never refused, never a round trip


async def test_old_requests_leave_the_window(replicas: tuple[RedisLimits, RedisLimits, Redis]) -> None:
    a, _, raw = replicas
    spec = TenantSpec(requests_per_minute=2)
    now, _ = await raw.time()
    key = "gateway:limits:{acme}:requests"
    await raw.zadd(key, {"old-1": now - 61, "old-2": now - 60.5, "recent": now - 30})
    await a.admit("acme", spec)  # the two old ones no longer count; the recent one does
    with pytest.raises(RateLimited) as info:
        await a.admit("acme", spec)
    assert 29 <= int(info.value.headers["retry-after"]) <= 31  # when the recent one leaves
    assert await raw.zcard(key) == 2


async def test_tokens_and_spend_recorded_on_one_replica_limit_the_other(
    replicas: tuple[RedisLimits, RedisLimits, Redis],
) -> None:
    a, b, raw = replicas
    tokens = TenantSpec(tokens_per_minute=100)
    await b.admit("acme", tokens)
    a.spent("acme", 60, 0.0)
    a.spent("acme", 60, 0.0)
    await a.flush()
    with pytest.raises(RateLimited) as info:
        await b.admit("acme", tokens)
    assert info.value.code == "rate_limit_tokens" and 59 <= int(info.value.headers["retry-after"]) <= 60

    budget = TenantSpec(usd_per_day=0.5)
    a.spent("beta", 10, 0.3)
    await a.flush()
    await b.admit("beta", budget)
    b.spent("beta", 10, 0.25)
    await b.flush()
    with pytest.raises(RateLimited) as info:
        await a.admit("beta", budget)
    assert info.value.code == "budget_exceeded"
    now, _ = await raw.time()
    assert int(info.value.headers["retry-after"]) == pytest.approx(86_400 - now % 86_400, abs=2)


async def test_unreachable_store_fails_open_or_closed_as_configured() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    spec = TenantSpec(requests_per_minute=1)
    errors = Errors()
    lenient = RedisLimits.from_url(dead, on_error=errors)
    strict = RedisLimits.from_url(dead, fail_open=False, on_error=errors)
    for _ in range(3):
        await lenient.admit("acme", spec)  # over the limit, but nobody can count: admitted
    lenient.spent("acme", 10, 0.1)
    await lenient.flush()
    with pytest.raises(ServiceUnavailable) as info:
        await strict.admit("acme", spec)
    assert info.value.status == 503 and info.value.headers["retry-after"] == "1"
    assert errors == ["admit"] * 3 + ["spent", "admit"]
    await lenient.aclose()
    await strict.aclose()


@pytest.fixture(scope="module")
def pair(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    small = FakeUpstream(model="small-model", reply="small answer")
    large = FakeUpstream(model="large-model", reply="large answer")
    for f in (small, large):
        f.start_in_thread()
    routes = ROUTES.format(small=small.base_url, large=large.base_url)
    env = {"GATEWAY_API_KEYS": f"acme:{ACME},beta:{BETA}", "GATEWAY_REDIS_URL": redis_url}
    gws = [start_gateway(tmp_path_factory.mktemp(f"replica{i}"), routes, **env) for i in range(2)]
    redis.Redis.from_url(redis_url).flushdb()  # the store tests above spent in the same tenants
    yield gws[0], gws[1]
    for g in gws:
        stop(g.proc)
    for f in (small, large):
        f.stop_thread()


def ask(gw: Gateway, key: str, model: str = "small") -> None:
    client = openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=10)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_two_gateways_share_request_and_spend_limits(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    for gw in (a, b, a, b):
        ask(gw, ACME)
    for gw in (a, b):
        with pytest.raises(openai.RateLimitError) as limited:
            ask(gw, ACME)
        assert limited.value.code == "rate_limit_requests"

    ask(a, BETA, "large")  # 7 + 2 tokens at $10,000 per million: $0.09, over beta's $0.05
    deadline = time.monotonic() + 5  # usage is written after the answer, off its path
    refusal: openai.RateLimitError | None = None
    while refusal is None and time.monotonic() < deadline:
        try:
            ask(b, BETA)
            time.sleep(0.05)
        except openai.RateLimitError as exc:
            refusal = exc
    assert refusal is not None, "replica b never saw beta's spend on replica a"
    assert refusal.code == "budget_exceeded"


def test_redis_password_never_reaches_logs_or_metrics(pair: tuple[Gateway, Gateway]) -> None:
    for gw in pair:
        text = gw.log.read_text() + httpx.get(gw.url + "/metrics").text
        assert PASSWORD not in text
        assert 'gateway_limit_store_errors_total{op="admit"} 0.0' in text


def test_gateway_keeps_serving_when_redis_is_down(tmp_path: Path) -> None:
    up = FakeUpstream(model="small-model", reply="small answer")
    up.start_in_thread()
    routes = ROUTES.format(small=up.base_url, large=up.base_url)
    dead = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    gw = start_gateway(tmp_path, routes, GATEWAY_API_KEYS=f"acme:{ACME}", GATEWAY_REDIS_URL=dead)
    try:
        for _ in range(6):  # over acme's 4 a minute, but no store can count them
            ask(gw, ACME)
        metrics = httpx.get(gw.url + "/metrics").text
        assert 'gateway_limit_store_errors_total{op="admit"} 6.0' in metrics
        log = gw.log.read_text()
        assert log.count("tenant limit store unreachable") == 1 and PASSWORD not in log
    finally:
        stop(gw.proc)
        up.stop_thread()
