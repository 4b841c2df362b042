"""CPU per request of several servers up at once, the load alternated between them in short rounds.

bench_overhead.py starts each server afresh for each repetition, ~20 s apart: on a machine shared with
another tenant the floor's own CPU a request moved 0.19-0.38 ms between repetitions, and a 10% change
hid inside the spread. Here every server is started once (each on the same core, bench_overhead's
SERVER_CPU; the load generator and the mock on the other), warmed, then driven in rounds: each round
gives every server one segment of --seconds at concurrency -c, in an order that reverses every round,
so neighbours in time are compared (--stream, --delay and -c mean what they do in bench_overhead.py).
A round's ratios are the first server's CPU a request over each other's (for `floor` first: the
issue's floor ÷ gateway); the median and spread over rounds are printed.

Servers are bench_overhead.py's chat variants (floor, gateway, gateway-pinned, gateway-nolearn,
gateway-learned, and NAME@base from --base). Every request carries the next of 2,000 varied prompts
(varied_load.py). Bounded: rounds x servers x (seconds + 0.5) s of load, after a warm-up each.

  .venv/bin/python loadtests/bench_pairs.py --servers floor,gateway-pinned,gateway --rounds 12
  .venv/bin/python loadtests/bench_pairs.py --servers gateway,gateway@base --base /tmp/before
  .venv/bin/python loadtests/bench_pairs.py --servers floor,gateway --stream --delay 50 -c 256
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.testing.processes import free_port, wait_http
from loadtests import bench_overhead as bo
from loadtests.procs import cpu_seconds, start

WARMUP_S = 0.5  # each segment's own: loadgen counts no request in it, the server's CPU counts them all
CHAT = ("floor", "gateway", "gateway-pinned", "gateway-nolearn", "gateway-learned")


def run(
    names: list[str], rounds: int, seconds: float, c: int, stream: bool, delay_ms: int, tmp: Path
) -> dict[str, Any]:
    from varied_load import prompts  # beside this script, as bench_overhead.py reads it

    texts = tmp / "prompts.jsonl"
    texts.write_text("".join(json.dumps(t) + "\n" for t in prompts(2000)))
    mport = free_port()
    mock = start(
        [bo.PY, str(bo.BENCH / "mock_upstream.py")], {"MOCK_PORT": str(mport)}, bo.BENCH, bo.LOAD_CPU
    )
    servers: dict[str, tuple[Any, str, str]] = {}
    try:
        upstream = f"http://127.0.0.1:{mport}"
        wait_http(upstream + "/health", mock)
        for name in names:
            port = free_port()
            own = tmp / name.replace("@", "-at-")
            own.mkdir()
            cmd, env, cwd = bo.server_cmd(name, port, upstream, own)
            proc = start(cmd, env, cwd, bo.SERVER_CPU)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            model = "small" if name.removesuffix("@base") == "gateway-pinned" else "auto"
            servers[name] = (proc, url, model)
            health = "/healthz" if name.startswith("gateway") else "/health"
            wait_http(f"http://127.0.0.1:{port}{health}", proc)
            bo.load(url, c, 3.0, tmp / "warm.json", stream, model=model, texts=texts)
        per: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                proc, url, model = servers[name]
                cpu0 = cpu_seconds(proc.pid)
                res = bo.load(url, c, seconds, tmp / "seg.json", stream, WARMUP_S, model=model, texts=texts)
                counted = max(int(res["total_requests"]), 1) * (seconds + WARMUP_S) / seconds
                per[name].append(1000 * (cpu_seconds(proc.pid) - cpu0) / counted)
            shown = ", ".join(f"{n} {per[n][-1]:.3f}" for n in names)
            print(f"round {r}: CPU ms a request {shown}", flush=True)
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(10)
        mock.terminate()
        mock.wait(10)
    out: dict[str, Any] = {"ms_per_request": per, "ratios": {}}
    for name in names[1:]:
        ratios = [a / b for a, b in zip(per[names[0]], per[name], strict=True)]
        out["ratios"][f"{names[0]} / {name}"] = {
            "median": round(statistics.median(ratios), 3),
            "mean": round(statistics.fmean(ratios), 3),
            "below_1": sum(x < 1 for x in ratios),
            "rounds": [round(x, 3) for x in ratios],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="floor,gateway-pinned,gateway")
    ap.add_argument("--base", type=Path, help="the checkout NAME@base servers run from")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("-c", type=int, default=64)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--delay", type=int, default=0, help="the mock upstream's delay, ms")
    args = ap.parse_args()
    names = args.servers.split(",")
    for n in names:
        if n.removesuffix("@base") not in CHAT:
            raise SystemExit(f"{n}: not one of {', '.join(CHAT)} (or NAME@base)")
    if len(names) < 2 or args.rounds < 1 or args.seconds <= 0:
        raise SystemExit("two servers or more, one round or more, seconds > 0")
    bo.BASE = args.base
    with tempfile.TemporaryDirectory() as d:
        out = run(names, args.rounds, args.seconds, args.c, args.stream, args.delay, Path(d))
    for key, r in out["ratios"].items():
        print(
            f"CPU a request, {key}: median {r['median']}, mean {r['mean']} over {args.rounds} rounds "
            f"({r['below_1']} below 1): {r['rounds']}"
        )
    results = bo.ROOT / "loadtests" / "results"
    results.mkdir(exist_ok=True)
    (results / f"pairs-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
