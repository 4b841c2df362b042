"""The tail under chaos: the slowest answer while the cheap tier's only backend dies, comes back, hangs
and wakes, with default settings.

Two fake upstreams (gateway/testing/fake_upstream.py, each its own process, answering in ~20 ms): `small`
(the unpriced tier, one backend) and `large` (priced, one backend); `gateway serve` with nothing but
those tiers and `model: auto` / `small` routes (every setting at its default, no hedging configured),
pinned to one core. Six clients on the other core mix plain and streamed chat for --duration s, while
the small backend is
  killed (SIGKILL) at 15% of the run, restarted on its port at 35%,
  stopped (SIGSTOP: its socket accepts, nothing answers) at 55%, woken (SIGCONT) at 80%.
Every request's time to its whole answer is kept with its status and the tier that answered. The
script prints the slowest answers (when, which phase), the client errors, and the verdict against the
bound: no answer slower than --max-s (2 s) and no client error (a stream the kill cuts after its first
byte is counted apart: it was committed, and ends with an in-band error event). Exits 1 when either
fails.

    .venv/bin/python loadtests/chaos.py [--duration 30] [--clients 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

# Run as a script, Python puts loadtests/ on the path, not the root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.testing.processes import serve_fake, serve_gateway, stop

ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {{name: small, kind: openai, base_url: "{small}/v1", model: fake-small}}
  large:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0}}
    backends:
      - {{name: large, kind: openai, base_url: "{large}/v1", model: fake-large}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small, fallback: [large]}}
"""
HEALTHY = {"mode": "slow", "delay_ms": 20}
PROMPTS = [
    "hi",
    "Translate 'good morning' into French.",
    "Summarise the plot of Hamlet in two sentences.",
    "Write a haiku about the sea.",
]
# (share of the run, what happens to the small backend)
PLAN = [(0.15, "kill"), (0.35, "restart"), (0.55, "stop"), (0.80, "wake")]


class Chaos:
    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.t0 = 0.0
        self.phase = "healthy"
        # (seconds since start, seconds taken, outcome, tier, phase, stream)
        self.rows: list[tuple[float, float, str, str, str, bool]] = []

    async def client(self, session: aiohttp.ClientSession, url: str, i: int) -> None:
        rng = random.Random(i)
        end = self.t0 + self.duration
        while (start := time.monotonic()) < end:
            stream = rng.random() < 0.5
            body: dict[str, Any] = {
                "model": rng.choice(["auto", "auto", "small"]),
                "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
                "max_tokens": 32,
                "stream": stream,
            }
            phase = self.phase
            try:
                async with session.post(url, json=body) as resp:
                    data = await resp.read()
                    tier = resp.headers.get("x-gateway-tier", "-")
                    if resp.status != 200:
                        outcome = f"status {resp.status}"
                    elif stream and (b"data: [DONE]" not in data or b'"error"' in data):
                        outcome = "stream broken"
                    else:
                        outcome = "ok"
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome, tier = type(exc).__name__, "-"
            now = time.monotonic()
            self.rows.append((start - self.t0, now - start, outcome, tier, phase, stream))

    async def faults(self, small: dict[str, Any]) -> None:
        for share, what in PLAN:
            await asyncio.sleep(max(0.0, self.t0 + share * self.duration - time.monotonic()))
            proc: subprocess.Popen[bytes] = small["proc"]
            if what == "kill":
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                self.phase = "killed"
            elif what == "restart":
                small["proc"], _ = await asyncio.to_thread(
                    serve_fake, "fake-small", cpu="0", script=HEALTHY, port=small["port"]
                )
                self.phase = "restarted"
            elif what == "stop":
                proc.send_signal(signal.SIGSTOP)
                self.phase = "hung"
            else:
                proc.send_signal(signal.SIGCONT)
                self.phase = "woken"
            print(f"{time.monotonic() - self.t0:6.2f} s  small backend {what}", file=sys.stderr)

    async def run(self, url: str, small: dict[str, Any], clients: int) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.t0 = time.monotonic()
            await asyncio.gather(self.faults(small), *(self.client(session, url, i) for i in range(clients)))


def _detail(r: tuple[float, float, str, str, str, bool]) -> dict[str, Any]:
    """One request of the run, as the summary lists it."""
    at, seconds, outcome, tier, phase, stream = r
    return {
        "at_s": round(at, 2),
        "ms": round(1000 * seconds, 1),
        "outcome": outcome,
        "tier": tier,
        "phase": phase,
        "stream": stream,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--max-s", type=float, default=2.0)
    args = ap.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    small: dict[str, Any] = {}
    chaos = Chaos(args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            small["proc"], small_url = serve_fake("fake-small", cpu="0", script=HEALTHY)
            small["port"] = int(small_url.rsplit(":", 1)[1])
            large, large_url = serve_fake("fake-large", cpu="0", script=HEALTHY)
            procs.append(large)
            routes = Path(tmp) / "routes.yaml"
            routes.write_text(ROUTES.format(small=small_url, large=large_url))
            gw, url = serve_gateway(routes, cpu="1", GATEWAY_LOG_LEVEL="error")
            procs.append(gw)
            asyncio.run(chaos.run(f"{url}/v1/chat/completions", small, args.clients))
        finally:
            small_proc = small.get("proc")
            if small_proc is not None:
                if small_proc.poll() is None:
                    os.kill(small_proc.pid, signal.SIGCONT)
                stop(small_proc)
            for p in reversed(procs):
                stop(p)
    rows = chaos.rows
    outcomes = Counter(r[2] for r in rows)
    # A stream the kill cuts after its first byte was committed to the client: it ends with an error
    # event, as the protocol says it must (no candidate can take over a generation half sent).
    cut = outcomes.get("stream broken", 0)
    errors = sum(n for o, n in outcomes.items() if o not in ("ok", "stream broken"))
    times = sorted(r[1] for r in rows if r[2] == "ok")
    slowest = sorted(rows, key=lambda r: -r[1])[:5]
    summary = {
        "requests": len(rows),
        "outcomes": dict(outcomes),
        "tiers": dict(Counter(r[3] for r in rows)),
        "p50_ms": round(1000 * statistics.median(times), 1) if times else None,
        "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 1) if times else None,
        "max_ms": round(1000 * times[-1], 1) if times else None,
        "slowest": [_detail(r) for r in slowest],
        "errors": [_detail(r) for r in rows if r[2] != "ok"][:10],
        "by_phase_max_ms": {
            p: round(1000 * max(r[1] for r in rows if r[4] == p), 1)
            for p in dict.fromkeys(r[4] for r in rows)
        },
    }
    print(json.dumps(summary, indent=1))
    slow = times[-1] > args.max_s if times else True
    ok = not slow and errors == 0
    print(
        f"{'met ' if ok else 'MISS'}  slowest answer {summary['max_ms']} ms (bound {args.max_s * 1000:.0f}), "
        f"client errors {errors} of {len(rows)} (and {cut} streams cut after their first byte, in-band)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
