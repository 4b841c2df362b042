"""The Responses API's response store in memory, with a fake clock, and the settings that choose the
stores (in a real redis-server: tests/live/test_response_store_redis.py)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from gateway.config import Settings
from gateway.tenancy.answer_index import MemoryAnswers
from gateway.tenancy.limits import TenantLimits
from gateway.tenancy.redis_answers import RedisAnswers
from gateway.tenancy.redis_limits import RedisLimits
from gateway.tenancy.redis_responses import RedisResponses
from gateway.tenancy.redis_shadow_budget import RedisShadowBudget
from gateway.tenancy.response_store import ANONYMOUS, MemoryResponses, valid_id
from gateway.tenancy.shadow_budget import MemoryShadowBudget
from gateway.tenancy.stores import build_stores


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def memory(clock: Clock | None = None, **kw: float) -> MemoryResponses:
    bounds: dict[str, float] = {"max_count": 100, "max_bytes": 10_000, "tenant_count": 100}
    bounds |= {"tenant_bytes": 10_000, "ttl_s": 60} | kw
    return MemoryResponses(clock=clock or Clock(), **bounds)  # type: ignore[arg-type]


async def held(store: MemoryResponses | RedisResponses, tenant: str, ids: list[str]) -> list[str]:
    return [i for i in ids if await store.get(tenant, i) is not None]


async def test_least_recently_used_goes_first_and_a_read_counts_as_use() -> None:
    store = memory(tenant_count=3)
    for i in "abc":
        assert await store.put("acme", i, b"x")
    assert await store.get("acme", "a") == b"x"  # a is now the most recently used
    await store.put("acme", "d", b"x")
    assert await held(store, "acme", list("abcd")) == ["a", "c", "d"]


async def test_expired_responses_are_gone_on_read_and_pruned_as_we_go() -> None:
    clock = Clock()
    store = memory(clock, ttl_s=60)
    await store.put("acme", "old", b"x" * 10)
    clock.now += 59.9
    assert await store.get("acme", "old") == b"x" * 10  # reading does not extend its life
    clock.now += 0.1
    assert await store.get("acme", "old") is None
    assert not await store.delete("acme", "old")

    for i in range(40):
        await store.put("beta", f"r{i}", b"y")
    clock.now += 60
    await store.put("acme", "new", b"z")  # drops at most 32 expired entries on the way
    assert store.count == 9 and store.bytes == 9
    await store.get("acme", "new")
    assert store.count == 1 and store.usage("beta") == (0, 0)


async def test_a_tenant_over_its_quota_loses_only_its_own() -> None:
    store = memory(tenant_count=2, tenant_bytes=100)
    await store.put("beta", "b1", b"b" * 10)
    for i in range(3):
        await store.put("acme", f"a{i}", b"a" * 10)
    assert await held(store, "acme", ["a0", "a1", "a2"]) == ["a1", "a2"]
    await store.put("acme", "big", b"a" * 91)  # the count makes a1 go, the bytes (101 > 100) a2
    assert await held(store, "acme", ["a1", "a2", "big"]) == ["big"]
    assert store.usage("acme") == (1, 91) and store.usage("beta") == (1, 10)
    assert await store.get("beta", "b1") == b"b" * 10


async def test_over_the_global_bound_the_heaviest_tenant_loses_first() -> None:
    store = memory(max_bytes=100, tenant_bytes=60)
    for i in range(5):
        await store.put("heavy", f"h{i}", b"h" * 10)
    await store.put("light", "l0", b"l" * 20)
    await store.put("other", "o0", b"o" * 25)
    await store.put("light", "l1", b"l" * 15)  # 110 bytes: heavy (50) gives up its oldest
    assert store.bytes == 100 and store.usage("heavy") == (4, 40)
    assert await held(store, "heavy", ["h0", "h1"]) == ["h1"]
    await store.put("light", "l2", b"l" * 20)  # light (55) is the heaviest now: its own oldest goes
    assert await held(store, "light", ["l0", "l1", "l2"]) == ["l1", "l2"]
    assert store.usage("heavy") == (4, 40) and store.usage("other") == (1, 25)


async def test_over_the_global_count_the_tenant_holding_the_most_loses_first() -> None:
    store = memory(max_count=6, tenant_count=6)
    for i in range(3):
        await store.put("big", f"b{i}", b"b" * 1000)
    for i in range(4):  # the 7th response: "many" holds 4 of them, however small they are
        await store.put("many", f"m{i}", b"m")
    assert store.count == 6
    assert store.usage("big") == (3, 3000) and store.usage("many") == (3, 3)
    assert await held(store, "many", ["m0", "m1", "m2", "m3"]) == ["m1", "m2", "m3"]


async def test_a_put_never_evicts_its_own_new_record() -> None:
    store = memory(max_bytes=100, tenant_bytes=100)
    await store.put("a", "a0", b"a" * 60)
    assert await store.put("b", "b0", b"b" * 70)  # b is heaviest, but holds only the new record
    assert store.usage("a") == (0, 0) and await store.get("b", "b0") == b"b" * 70


async def test_oversized_records_are_refused_and_ids_checked() -> None:
    store = memory(tenant_bytes=100)
    assert not await store.put("acme", "big", b"x" * 101)
    assert store.count == 0 and await store.get("acme", "big") is None
    assert await store.put("acme", "fits", b"x" * 100)
    for bad in ("", "a:b", "{acme}", "a" * 129, "r~1"):
        assert not valid_id(bad)
        with pytest.raises(ValueError, match="not a response id"):
            await store.put("acme", bad, b"x")
        assert await store.get("acme", bad) is None


async def test_tenants_read_and_delete_only_their_own() -> None:
    store = memory()
    await store.put("acme", "r1", b"acme's")
    await store.put(ANONYMOUS, "r2", b"open")
    assert await store.get("beta", "r1") is None
    assert await store.get(ANONYMOUS, "r1") is None
    assert not await store.delete("beta", "r1")
    assert await store.get("acme", "r1") == b"acme's"
    await store.put("acme", "r1", b"replaced")  # same id again: counted once
    assert store.usage("acme") == (1, 8)
    assert await store.delete("acme", "r1") and not await store.delete("acme", "r1")
    assert store.count == 1 and store.bytes == 4


async def test_settings_choose_the_stores_and_check_the_quotas() -> None:
    defaults = Settings()
    assert defaults.responses_ttl_s == 30 * 86_400
    local = build_stores(defaults)
    assert isinstance(local.responses, MemoryResponses)
    assert isinstance(local.answers, MemoryAnswers) and isinstance(local.limits, TenantLimits)
    assert isinstance(local.shadow_budget, MemoryShadowBudget)
    shared = Settings(redis_url=SecretStr("redis://127.0.0.1:1/0"), responses_tenant_max_bytes=2**40)
    stores = build_stores(shared)  # each connects on first use only
    assert isinstance(stores.responses, RedisResponses) and isinstance(stores.answers, RedisAnswers)
    assert isinstance(stores.limits, RedisLimits) and isinstance(stores.shadow_budget, RedisShadowBudget)
    await stores.aclose()
    with pytest.raises(ValidationError, match="TENANT_MAX_BYTES must not exceed"):
        Settings(responses_tenant_max_bytes=2**40)
    with pytest.raises(ValidationError, match="TENANT_MAX must not exceed"):
        Settings(responses_max=10, responses_tenant_max=11)
