"""Cost of the decision log's `features` record (classify/inputs.py `scorer_inputs`), one core.

What a route with `log_features: true` adds per request on top of scoring it: the scorer's signals
again, the prompt slice's mean 256-d token vector read from the mapped float16 table, and rounding.
The scorer has just scored the same view, so the token memo is warm, as in the gateway. Prompts: the
shared benchmark files (when present) and bench_scorer.py's generated ones.

  OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/bench_scorer_inputs.py [--passes 3] [--cpu 0]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import random
import time

from bench_scorer import DATA, generated, rss_mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the first allowed)")
    args = ap.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    import numpy as np

    from gateway.classify.features import profile
    from gateway.classify.inputs import scorer_inputs
    from gateway.classify.scorer import default_scorer
    from gateway.classify.view import view_of_body
    from gateway.offline.data import load_arena, load_routerbench

    bodies: list[dict[str, object]] = []
    if DATA.exists():
        bodies += [e.body for e in load_routerbench(next(DATA.glob("routerbench*.csv.gz")))]
        bodies += [e.body for e in load_arena(next(DATA.glob("arenabench*.csv.gz")))]
    bodies += generated(random.Random(7))
    views = [view_of_body(b) for b in bodies]
    scorer = default_scorer()
    features = [profile(v) for v in views]
    for v, f in zip(views, features, strict=True):
        scorer.score(v, f)  # the gateway scores before it logs: a warm memo
    before = rss_mib()
    t0 = time.perf_counter()
    scorer_inputs(views[0], features[0])
    load_s = time.perf_counter() - t0
    passes, sizes = [], []
    for p in range(args.passes):
        times = np.empty(len(views))
        for i, (v, f) in enumerate(zip(views, features, strict=True)):
            t = time.perf_counter_ns()
            record = scorer_inputs(v, f)
            times[i] = (time.perf_counter_ns() - t) / 1000
            if p == 0:
                sizes.append(len(json.dumps(record, separators=(",", ":"))))
        passes.append(
            {
                "mean_us": round(float(times.mean()), 1),
                "p50_us": round(float(np.percentile(times, 50)), 1),
                "p99_us": round(float(np.percentile(times, 99)), 1),
            }
        )
    print(
        json.dumps(
            {
                "prompts": len(views),
                "cpu": cpu,
                "first_call_s": round(load_s, 3),
                "rss_mib_added_by_passes": round(rss_mib() - before, 1),
                "json_bytes_mean": round(sum(sizes) / len(sizes)),
                "passes": passes,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
