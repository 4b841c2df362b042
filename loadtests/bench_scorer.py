"""Cost of the difficulty scorer: features + score per request, one core, over varied prompts; RSS.

Prompts: the shared benchmark files (few-shot multiple choice, code tasks, real chat) plus generated
ones (greetings, multi-turn chats with system prompts, 100,000-character documents, code, Chinese,
text without spaces). Each pass scores every prompt once: the first pass starts from an empty token
memo (cold), later passes are warm. Request views are built beforehand (the gateway's protocol layer
builds them anyway). Targets: mean <= 100 µs, p99 <= 300 µs; the embedding adds <= 60 MiB RSS.

  OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/bench_scorer.py [--passes 3] [--cpu 0]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import random
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def generated(rng: random.Random) -> list[dict[str, object]]:
    words = "the of model routing request latency budget tier small large answer prove derive".split()
    out: list[dict[str, object]] = []
    for i in range(300):
        out.append({"messages": [{"role": "user", "content": rng.choice(["hi", "thanks!", "ok", "hello?"])}]})
        turns: list[dict[str, str]] = [{"role": "system", "content": "You are a careful assistant. " * 20}]
        for _ in range(rng.randint(1, 8)):
            turns.append({"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(5, 200)))})
            turns.append({"role": "assistant", "content": " ".join(rng.choices(words, k=50))})
        turns.append({"role": "user", "content": f"question {i}: " + " ".join(rng.choices(words, k=30))})
        out.append({"messages": turns})
        doc = " ".join(rng.choices(words, k=20_000))  # ~100,000 characters
        out.append({"messages": [{"role": "user", "content": doc + f"\nSummarise the above ({i})."}]})
        code = "\n".join(f"def f{i}_{j}(x):\n    return x * {j} + {rng.random():.6f}" for j in range(40))
        out.append({"messages": [{"role": "user", "content": code + "\nFix the bug in f3."}]})
        zh = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(600))
        out.append({"messages": [{"role": "user", "content": zh}]})
        blob = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789+/=", k=3000))
        out.append({"messages": [{"role": "user", "content": blob}]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the first allowed)")
    args = ap.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    from gateway.classify.features import profile
    from gateway.classify.view import view_of_body
    from gateway.routing import planner  # noqa: F401  (what a serving process has imported)

    before = rss_mib()
    t0 = time.perf_counter()
    from gateway.classify.scorer import default_scorer

    scorer = default_scorer()
    scorer.score(view_of_body({"messages": [{"role": "user", "content": "warm up"}]}))
    load_s = time.perf_counter() - t0
    after = rss_mib()

    import numpy as np

    from gateway.offline.data import load_arena, load_routerbench

    bodies: list[dict[str, object]] = []
    if DATA.exists():
        bodies += [e.body for e in load_routerbench(next(DATA.glob("routerbench*.csv.gz")))]
        bodies += [e.body for e in load_arena(next(DATA.glob("arenabench*.csv.gz")))]
    rng = random.Random(7)
    bodies += generated(rng)
    rng.shuffle(bodies)
    views = [view_of_body(b) for b in bodies]
    scorer._tokens._memo = dict(scorer._tokens._base)  # the first pass starts cold

    passes = []
    for p in range(args.passes):
        times = np.empty(len(views))
        cpu0 = time.process_time()
        for i, v in enumerate(views):
            t = time.perf_counter_ns()
            scorer.score(v, profile(v))
            times[i] = (time.perf_counter_ns() - t) / 1000
        cpu_us = (time.process_time() - cpu0) / len(views) * 1e6
        passes.append(
            {
                "pass": "cold" if p == 0 else f"warm{p}",
                "mean_us": round(float(times.mean()), 1),
                "p50_us": round(float(np.percentile(times, 50)), 1),
                "p99_us": round(float(np.percentile(times, 99)), 1),
                "max_us": round(float(times.max()), 1),
                "cpu_us_per_call": round(cpu_us, 1),
            }
        )
    print(
        json.dumps(
            {
                "prompts": len(views),
                "cpu": cpu,
                "load_s": round(load_s, 3),
                "rss_mib_before_load": round(before, 1),
                "rss_mib_after_load": round(after, 1),
                "rss_mib_added": round(after - before, 1),
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "passes": passes,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
