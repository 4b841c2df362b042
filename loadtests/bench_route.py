"""Throughput of `gateway route` (offline replay): requests per second over real prompts.

Builds a JSONL file of chat requests from the prompts in ../shared/data (repeated to --count), runs
`gateway route --routes deploy/routes.example.yaml` on it once, and reports requests per second and the
scorer's per-request latency. Target: >= 5,000 requests/s.

  .venv/bin/python loadtests/bench_route.py [--count 20000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.classify.data import load_arena, load_routerbench

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--routes", type=Path, default=ROOT / "deploy" / "routes.example.yaml")
    args = ap.parse_args()
    examples = load_routerbench(next(DATA.glob("routerbench*.csv.gz"))) + load_arena(
        next(DATA.glob("arena*.csv.gz"))
    )
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "requests.jsonl"
        with src.open("w") as f:
            for e in itertools.islice(itertools.cycle(examples), args.count):
                f.write(json.dumps({"model": "auto", **e.body}) + "\n")
        t0 = time.perf_counter()
        with src.open("rb") as stdin:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gateway",
                    "route",
                    "--routes",
                    str(args.routes),
                    "--header",
                    "x-latency-budget-ms: 2000",
                ],
                stdin=stdin,
                capture_output=True,
                check=True,
            )
        elapsed = time.perf_counter() - t0
    rows = out.stdout.splitlines()
    tiers: dict[str, int] = {}
    for line in rows:
        tier = json.loads(line).get("tier")
        tiers[tier] = tiers.get(tier, 0) + 1
    print(
        json.dumps(
            {
                "requests": len(rows),
                "seconds": round(elapsed, 2),
                "requests_per_s": round(len(rows) / elapsed),
                "tier_mix": tiers,
            }
        )
    )


if __name__ == "__main__":
    main()
