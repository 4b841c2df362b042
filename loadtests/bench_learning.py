"""What learning while serving costs, off the request path and on it, and how big its state grows.

- updater: labels offered to the learner and applied to the store (the bounded queue, the store's
  decayed add, the layer recomputed after each batch): microseconds a label, in memory, and in Redis
  with --redis URL (a real redis-server: one Lua script a batch);
- state: 100,000 labels (--labels) spread over every family of the shipped weights, a third of them
  ratings from 2,000 tenants: the state file's bytes, the in-process store's Python memory
  (tracemalloc), and with --redis the keys' MEMORY USAGE;
- scorer: the family scorer's cost a request with nothing learned, and with every family's learned
  counts in force (the bounded within-family term, and the prior's score computed beside it).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/bench_learning.py [--labels 100000] [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.classify.scorer import default_scorer
from gateway.learning.labels import Label
from gateway.learning.layer import LearnedLayer
from gateway.learning.learner import Learner
from gateway.learning.rails import Rails
from gateway.tenancy.learned_store import Decayed, LearnedStore, MemoryLearned

RAILS = Rails(thresholds=(0.2, 0.5, 1.0), tenant_cap=10)


def labels(n: int, family_set: str, families: list[str]) -> list[Label]:
    out = []
    for i in range(n):
        family = families[(i * 7919) % len(families)]
        rating = i % 3 == 0
        tenant = f"tenant-{i % 2000}" if rating else None
        out.append(
            Label(family_set, family, float(i % 4 == 0), "rating" if rating else "verdict", "auto", tenant)
        )
    return out


async def updater(store: LearnedStore, n: int) -> dict[str, Any]:
    scorer = default_scorer()
    fams = scorer.families()
    learner = Learner(store, RAILS, queue_max=n + 1)
    learner.attach(scorer.family_set, scorer)
    batch = labels(n, scorer.family_set, fams)
    t0 = time.perf_counter()
    for label in batch:
        learner.offer(label)
    offered = time.perf_counter() - t0
    counted = await learner.apply_pending()
    applied = time.perf_counter() - t0 - offered
    return {
        "labels": n,
        "counted": counted,
        "offer_us_per_label": round(offered / n * 1e6, 3),
        "apply_us_per_label": round(applied / n * 1e6, 2),
    }


async def state_size(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        store = MemoryLearned(Path(d))
        result = await updater(store, n)
        await store.flush()
        size = (Path(d) / "learned.json").stat().st_size
        # What the store holds, measured on a copy read back from its file (the labels, the queue and
        # the learner are gone by then).
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        held = MemoryLearned(Path(d))
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert await held.sets()
    return {**result, "state_file_bytes": size, "store_python_bytes": used}


async def redis_size(url: str, n: int) -> dict[str, Any]:
    from redis.asyncio import Redis

    from gateway.tenancy.redis_learned_store import RedisLearned

    raw = Redis.from_url(url)
    await raw.flushdb()
    result = await updater(RedisLearned.from_url(url), n)
    total = 0
    async for key in raw.scan_iter("gateway:learned*"):
        total += int(await raw.memory_usage(key) or 0)
    await raw.aclose()
    return {**result, "redis_bytes": total}


def scorer_cost(repeat: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from varied_load import bodies, prompts

    from gateway.protocol import chat_view

    scorer = default_scorer()
    views = [chat_view(json.loads(b), len(b)) for b in bodies(prompts(1000), "chat", "auto", False)]
    layer = LearnedLayer(scorer.family_set, scorer, RAILS)
    now = time.time()
    layer.load({f: Decayed(50.0, 50.0, now) for f in scorer.families()})
    learned = scorer.with_learned(layer)

    def run(s: Any) -> float:
        t0 = time.perf_counter()
        for v in views:
            s.scored(v)
        return (time.perf_counter() - t0) / len(views) * 1e6

    run(scorer), run(learned)  # warm the token memo
    plain, with_learned = [], []
    for _ in range(repeat):
        plain.append(run(scorer))
        with_learned.append(run(learned))
    return {
        "nothing_learned_us": round(statistics.median(plain), 2),
        "every_family_in_force_us": round(statistics.median(with_learned), 2),
        "families_in_force": sum(1 for s in layer.states() if s.in_force),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=100_000)
    ap.add_argument("--redis", help="a redis:// URL of a scratch database (it is flushed)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    out: dict[str, Any] = {"memory": asyncio.run(state_size(args.labels))}
    if args.redis:
        out["redis"] = asyncio.run(redis_size(args.redis, args.labels))
    out["scorer"] = scorer_cost(args.repeat)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
