"""Soak: moderate mixed load for a long time with faults injected every few minutes, watching the
gateway's memory and file descriptors. Exits 1 if either grew more than --max-growth after warm-up.

Everything runs on 127.0.0.1 and stops by itself after --duration seconds:

- three fake upstreams (gateway/testing/fake_upstream.py, each its own process): `small-a` and
  `small-b` (one tier, two replicas) and `large`, each answering in ~20 ms;
- the gateway in full configuration (learned-scorer routing, API keys with tenant limits, metrics,
  retries, breakers, fallback from small to large), pinned to one core;
- a closed-loop load of --concurrency workers paced to --rate requests/s in total: chat, streaming
  and not, `auto`, `small` and `large`, short and long prompts, some with a latency budget;
- every --fault-every seconds one upstream misbehaves for --fault-s seconds, in turn: HTTP 500,
  hang, 10x slow, streams cut mid-way, connections closed before a byte.

RSS and open fds of the gateway are sampled every 5 s. Growth is the mean of the last minute over the
mean of the first minute after warm-up. Warm-up lasts, unless --warmup says otherwise, until every kind
of fault has happened once: the first burst of errors raises the allocator's high-water mark once
(Python keeps freed arenas), and only growth on the second round is a leak. The time series and the
summary are written to loadtests/results/soak-*.json.

  .venv/bin/python loadtests/soak.py                       # 30 minutes
  .venv/bin/python loadtests/soak.py --duration 600 --fault-every 60 --fault-s 10   # a shorter look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from gateway.testing.processes import serve_fake, serve_gateway, stop

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
API_KEY = "sk-soak-8d2f6b"
HEALTHY = {"mode": "slow", "delay_ms": 20}
FAULTS = [
    {"mode": "error", "status": 500},
    {"mode": "hang"},
    {"mode": "slow", "delay_ms": 200},
    {"mode": "cut"},
    {"mode": "close"},
]

ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    max_difficulty: 0.9  # the default scorer puts chit-chat at 0.6-0.8 and proofs or SQL above 0.95
    first_token_timeout_ms: 2000
    backends:
      - {{name: small-a, kind: openai, base_url: "{small_a}/v1", model: fake-small, ttft_ms: 20}}
      - {{name: small-b, kind: openai, base_url: "{small_b}/v1", model: fake-small, ttft_ms: 20}}
  large:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0}}
    first_token_timeout_ms: 2000
    backends:
      - {{name: large, kind: openai, base_url: "{large}/v1", model: fake-large, ttft_ms: 20}}
retry: {{attempts: 2, budget_ratio: 0.2, backoff_ms: 20}}
breaker: {{consecutive_failures: 5, base_ejection_s: 2, max_ejection_s: 20}}
tenants:
  soak: {{requests_per_minute: 1000000, usd_per_day: 1000000}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small, fallback: [large]}}
  - {{model: large, tier: large, fallback: [small]}}
"""

PROMPTS = [
    "hi",
    "Translate 'good morning' into French.",
    "Summarise the plot of Hamlet in two sentences.",
    "Prove that there are infinitely many primes, then write a Python function returning the first n "
    "primes and analyse its complexity step by step.",
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.outcomes: Counter[str] = Counter()
        self.tiers: Counter[str] = Counter()
        self.samples: list[dict[str, float]] = []
        self.faults: list[dict[str, Any]] = []
        self.end = 0.0

    async def worker(self, session: aiohttp.ClientSession, url: str, i: int, pace_s: float) -> None:
        rng = random.Random(i)
        headers = {"authorization": f"Bearer {API_KEY}"}
        while (now := time.monotonic()) < self.end:
            stream = rng.random() < 0.4
            body: dict[str, Any] = {
                "model": rng.choice(["auto", "auto", "small", "large"]),
                "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
                "max_tokens": 32,
                "stream": stream,
            }
            extra = {"x-latency-budget-ms": "2000"} if rng.random() < 0.3 else {}
            try:
                async with session.post(url, json=body, headers={**headers, **extra}) as resp:
                    data = await resp.read()
                    ok = resp.status == 200 and (not stream or b"data: [DONE]" in data)
                    broken = stream and b'"error"' in data
                    if broken:  # a stream cut after its first byte: reported in-band, as it must be
                        self.outcomes["stream error event"] += 1
                    else:
                        self.outcomes["ok" if ok else f"status {resp.status}"] += 1
                    self.tiers[resp.headers.get("x-gateway-tier", "-")] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.outcomes[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - now)))

    async def faults_loop(self, session: aiohttp.ClientSession, upstreams: dict[str, str]) -> None:
        n = 0
        while time.monotonic() + self.args.fault_every < self.end:
            await asyncio.sleep(self.args.fault_every)
            name = list(upstreams)[n % len(upstreams)]
            fault = FAULTS[n % len(FAULTS)]
            n += 1
            self.faults.append({"t": round(time.monotonic() - self.t0, 1), "upstream": name, **fault})
            print(f"[{time.monotonic() - self.t0:6.0f} s] fault on {name}: {fault}", flush=True)
            await session.post(upstreams[name] + "/_fake/script", json=fault)
            await asyncio.sleep(self.args.fault_s)
            await session.post(upstreams[name] + "/_fake/script", json=HEALTHY)

    async def sampler(self, pid: int) -> None:
        while time.monotonic() < self.end:
            t = time.monotonic() - self.t0
            self.samples.append({"t": round(t, 1), "rss_kib": rss_kib(pid), "fds": fds(pid)})
            if len(self.samples) % 12 == 0:
                s = self.samples[-1]
                rss = s["rss_kib"] / 1024
                print(f"[{t:6.0f} s] rss {rss:.1f} MiB, fds {s['fds']}, {dict(self.outcomes)}", flush=True)
            await asyncio.sleep(5)

    async def run(self, url: str, upstreams: dict[str, str], pid: int) -> None:
        self.t0 = time.monotonic()
        self.end = self.t0 + self.args.duration
        conn = aiohttp.TCPConnector(limit=self.args.concurrency + 8)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            pace = self.args.concurrency / self.args.rate
            await asyncio.gather(
                self.sampler(pid),
                self.faults_loop(session, upstreams),
                *(self.worker(session, url, i, pace) for i in range(self.args.concurrency)),
            )

    def growth(self, key: str) -> tuple[float, float, float]:
        warm, last = self.args.warmup, self.samples[-1]["t"]
        first = [s[key] for s in self.samples if warm <= s["t"] < warm + 60]
        final = [s[key] for s in self.samples if s["t"] >= last - 60]
        a, b = sum(first) / len(first), sum(final) / len(final)
        return a, b, b / a - 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1800)
    ap.add_argument("--warmup", type=float, default=None, help="seconds; default: one round of faults")
    ap.add_argument("--rate", type=float, default=150, help="requests per second, all workers together")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--fault-every", type=float, default=150)
    ap.add_argument("--fault-s", type=float, default=20)
    ap.add_argument("--max-growth", type=float, default=0.05)
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = len(FAULTS) * (args.fault_every + args.fault_s) + 30
    assert args.duration >= args.warmup + 120, "need a minute after warm-up and a last minute"
    procs: list[subprocess.Popen[bytes]] = []
    soak = Soak(args)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            upstreams = {}
            fakes = (("small_a", "fake-small"), ("small_b", "fake-small"), ("large", "fake-large"))
            for name, model in fakes:
                proc, upstreams[name] = serve_fake(model, cpu="0", script=HEALTHY)
                procs.append(proc)
            routes = Path(tmp) / "routes.yaml"
            routes.write_text(ROUTES.format(**upstreams))
            gw, url = serve_gateway(
                routes,
                cpu="1",
                GATEWAY_LOG_LEVEL="error",
                GATEWAY_API_KEYS=f"soak:{API_KEY}",
                # A hung upstream is given up on after 2 s of silence, then the next replica or tier
                # answers; the default (300 s) suits long non-streamed generations, not a 20 ms fake.
                GATEWAY_READ_TIMEOUT_S="2",
            )
            procs.append(gw)
            asyncio.run(soak.run(f"{url}/v1/chat/completions", upstreams, gw.pid))
        finally:
            for p in reversed(procs):
                stop(p)
    verdicts = {}
    for key in ("rss_kib", "fds"):
        a, b, g = soak.growth(key)
        verdicts[key] = {"after_warmup": round(a, 1), "last_minute": round(b, 1), "growth": round(g, 4)}
    total = sum(soak.outcomes.values())
    summary = {
        "args": vars(args),
        "requests": total,
        "outcomes": dict(soak.outcomes),
        "tiers": dict(soak.tiers),
        "faults": soak.faults,
        "growth": verdicts,
        "max_rss_mib": round(max(s["rss_kib"] for s in soak.samples) / 1024, 1),
        "max_fds": max(s["fds"] for s in soak.samples),
    }
    out = ROOT / "loadtests" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({**summary, "samples": soak.samples}, indent=1))
    print(json.dumps(summary, indent=1))
    failed = [k for k, v in verdicts.items() if v["growth"] > args.max_growth]
    print(f"{'FAIL' if failed else 'PASS'}: growth after warm-up {verdicts} (bound {args.max_growth:.0%})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
