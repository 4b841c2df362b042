"""Throughput of `gateway route` (offline replay): requests per second over real prompts.

Builds a JSONL file of chat requests from the prompts in ../shared/data (repeated to --count), runs
`gateway route --routes deploy/routes.example.yaml` on it once, and reports requests per second and the
tier mix. With --drafts, every line also carries Mistral-7B's answer to the prompt (the RouterBench
file's) as the draft a cascade would judge, with made-up token logprobs: the verifier runs on each.
Target: >= 5,000 lines/s either way.

  .venv/bin/python loadtests/bench_route.py [--count 20000] [--drafts]
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

from gateway.offline.data import load_arena, load_routerbench

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--routes", type=Path, default=ROOT / "deploy" / "routes.example.yaml")
    ap.add_argument("--drafts", action="store_true", help="lines carry a draft for the verifier")
    args = ap.parse_args()
    if args.drafts:
        from gateway.offline.verifier_fit import load_answered

        answered = load_answered(next(DATA.glob("routerbench*.csv.gz")))
        lines = [
            {
                "request": {"model": "auto", **a.example.body},
                "draft": {
                    "content": a.answer,
                    "finish_reason": "stop",
                    "logprobs": [-0.1 * (i % 7) for i in range(24)],
                },
            }
            for a in answered
        ]
    else:
        examples = load_routerbench(next(DATA.glob("routerbench*.csv.gz"))) + load_arena(
            next(DATA.glob("arena*.csv.gz"))
        )
        lines = [{"model": "auto", **e.body} for e in examples]
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "requests.jsonl"
        with src.open("w") as f:
            for line in itertools.islice(itertools.cycle(lines), args.count):
                f.write(json.dumps(line) + "\n")
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
    decisions: dict[str, int] = {}
    for line in rows:
        row = json.loads(line)
        tiers[row.get("tier")] = tiers.get(row.get("tier"), 0) + 1
        if "decision" in row:
            decisions[row["decision"]] = decisions.get(row["decision"], 0) + 1
    print(
        json.dumps(
            {
                "requests": len(rows),
                "seconds": round(elapsed, 2),
                "requests_per_s": round(len(rows) / elapsed),
                "tier_mix": tiers,
                **({"draft_decisions": decisions} if decisions else {}),
            }
        )
    )


if __name__ == "__main__":
    main()
