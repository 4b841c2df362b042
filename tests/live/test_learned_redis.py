"""Counts learned while serving, in a real redis-server (Debian's package): two stores stand for two
replicas adding to and reading the same counts. In memory: tests/unit/learning/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.tenancy.learned_store import Delta
from gateway.tenancy.redis_learned_store import RedisLearned
from gateway.testing.processes import free_port, stop
from tests.support import start_redis

DAY = 86_400.0


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop(proc)


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisLearned, RedisLearned]]:
    raw = Redis.from_url(redis_url)
    await raw.flushdb()
    await raw.aclose()
    a, b = RedisLearned.from_url(redis_url), RedisLearned.from_url(redis_url)
    yield a, b
    await a.aclose()
    await b.aclose()


async def test_two_replicas_add_to_and_read_the_same_counts(
    replicas: tuple[RedisLearned, RedisLearned],
) -> None:
    a, b = replicas
    path = ("f2.1", "f2", "root")
    # 2 x 100 labels at once from two replicas: the script's atomic read-modify-write loses none
    await asyncio.gather(
        *(a.add("set", [Delta(path, 1.0)], 0.0, DAY, 10) for _ in range(100)),
        *(b.add("set", [Delta(path, 0.0)], 0.0, DAY, 10) for _ in range(100)),
    )
    for store in (a, b):
        counts = await store.read("set")
        # Redis's clock decays them a hair between adds: 200 labels, as good as whole.
        assert counts["f2.1"].n == pytest.approx(200, rel=1e-5)
        assert counts["f2"].n == pytest.approx(200, rel=1e-5) and counts["root"].n == pytest.approx(
            200, rel=1e-5
        )
        assert counts["f2.1"].s == pytest.approx(100, rel=1e-5)
    assert await a.sets() == ["set"]


async def test_a_tenants_cap_holds_across_replicas(replicas: tuple[RedisLearned, RedisLearned]) -> None:
    a, b = replicas
    path = ("f0", "root")
    done = await asyncio.gather(
        *(r.add("set", [Delta(path, 1.0, "acme")], 0.0, DAY, 10) for r in (a, b) * 20)
    )
    assert sum(ok for (ok,) in done) == 10
    assert (await b.add("set", [Delta(path, 1.0, "beta")], 0.0, DAY, 10)) == [True]
    assert (await a.read("set"))["f0"].n == pytest.approx(11, rel=1e-5)


async def test_counts_decay_with_redis_clock_and_reset_forgets_them(
    replicas: tuple[RedisLearned, RedisLearned],
) -> None:
    a, b = replicas
    await a.add("set", [Delta(("f1", "root"), 1.0)], 0.0, 1.0, 10)  # a half-life of one second
    await asyncio.sleep(1.0)
    await b.add("set", [Delta(("f1", "root"), 1.0)], 0.0, 1.0, 10)
    n = (await a.read("set"))["f1"].n
    assert 1.4 < n < 1.6  # the first halved before the second was added
    await a.reset("set")
    assert await b.read("set") == {} and await b.sets() == []


async def test_an_unreachable_store_loses_labels_and_reads_as_none(tmp_path: Path) -> None:
    errors: list[str] = []
    store = RedisLearned.from_url(f"redis://127.0.0.1:{free_port()}/0", on_error=errors.append)
    assert await store.add("set", [Delta(("root",), 1.0)], 0.0, DAY, 10) == [False]
    assert await store.read("set") == {}
    assert errors == ["add", "read"]
    await store.aclose()


async def test_a_fold_is_remembered_apart_from_the_counts(
    replicas: tuple[RedisLearned, RedisLearned],
) -> None:
    a, b = replicas
    await a.add("set", [Delta(("f1",), 1.0)] * 4, 0.0, DAY, 10)
    assert await b.folded_at("set") == 0.0
    await a.reset("set", folded_at=123.5)
    assert await b.read("set") == {} and await b.folded_at("set") == 123.5  # every replica sees it
    await b.add("set", [Delta(("f1",), 1.0)], 0.0, DAY, 10)
    await a.reset("set")  # an operator's reset forgets the counts, not the fold
    assert await b.folded_at("set") == 123.5
