"""Hedging: the latency tail while a replica is killed, then hangs, then wakes; and the fast path's cost.

For each variant, a fresh gateway (its own process) in front of one self-hosted tier of two fake
replicas (gateway/testing/fake_upstream.py, in this process's threads, ~20 ms before the first byte,
the body at once), under closed-loop load from --concurrency workers (half of the requests streamed,
each read to its end). Replica A is killed (connections refused, open ones dropped) for --kill-s,
then accepts connections and never answers for --hang-s (health checks still pass), then answers
again for --wake-s (scenario `kill-hang-wake`, the issue's); scenario `hang-wake` hangs A while it
is in rotation, without the kill (whose ejection keeps A out of most of the hang). Variants:

- `default`: routes.yaml says nothing about hedging, timeouts or breakers (hedging is on: the tier
  has no per-token price);
- `off`: the same with `hedge: {enabled: false}`: what the issue measured;
- `off-read-1s` (with --with-timeout): hedging off, GATEWAY_READ_TIMEOUT_S=1, the other way to bound
  a hang (every slow answer becomes a failure after 1 s).

Printed per scenario and variant, for the requests that ended before the faults, those in flight
during them (kill, hang, wake) and those in flight during the hang alone: count, errors (a client
timeout of --client-timeout-s is one), p50/p99/max latency and how many took over 2 s (the goal:
none); with the gateway's hedge counters. JSON rows go to stdout (lines starting with `{`).

--fast-path instead times, in-process (the harness, fake backends that answer at once), what arming a
hedge costs a request that needs none: the same requests through a tier with hedging on and off,
alternated request by request, on uvloop (what `gateway serve` runs) unless --loop asyncio; medians
of --count pairs.

  .venv/bin/python loadtests/bench_hedging.py                   # ~3 min
  .venv/bin/python loadtests/bench_hedging.py --with-timeout
  .venv/bin/python loadtests/bench_hedging.py --fast-path --count 10000
  # light traffic: one client, 0.3 s between its requests (each request A accepts needs a hedge)
  .venv/bin/python loadtests/bench_hedging.py --scenarios hang-wake --concurrency 1 --pause-s 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import serve_gateway, stop

BASELINE = {"mode": "slow", "delay_ms": 20, "spread": False}
GOAL_S = 2.0

ROUTES = """\
version: 1
default_tier: local
tiers:
  local:
{hedge}    backends:
      # Priors as fast as the fakes are (they send every token at once): a replica with fewer than
      # five recent answers is hedged at twice the tail its prior implies (tests/live/test_chaos_hedging.py).
      - {{name: rep-a, kind: vllm, base_url: "{a}", model: m, ttft_ms: 20, tpot_ms: 0.05}}
      - {{name: rep-b, kind: vllm, base_url: "{b}", model: m, ttft_ms: 20, tpot_ms: 0.05}}
routes:
  - {{model: local, tier: local}}
"""


@dataclass
class Row:
    start: float
    seconds: float
    error: str | None

    @property
    def end(self) -> float:
        return self.start + self.seconds


async def _one(session: aiohttp.ClientSession, url: str, stream: bool, limit_s: float) -> str | None:
    body = {"model": "local", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=limit_s)) as resp:
            data = await resp.read()
            if resp.status != 200:
                return f"HTTP {resp.status}"
            if stream and not data.rstrip().endswith(b"data: [DONE]"):
                return "stream cut"
            return None
    except TimeoutError:
        return "client timeout"
    except aiohttp.ClientError as exc:
        return type(exc).__name__


async def _load(
    url: str, concurrency: int, stop_at: list[float], limit_s: float, pause_s: float = 0.0
) -> list[Row]:
    rows: list[Row] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(i: int) -> None:
            n = 0
            while time.monotonic() < stop_at[0]:
                t0 = time.monotonic()
                error = await _one(session, url + "/v1/chat/completions", (n + i) % 2 == 0, limit_s)
                rows.append(Row(t0, time.monotonic() - t0, error))
                n += 1
                if pause_s:
                    await asyncio.sleep(pause_s)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return rows


def _stats(rows: list[Row]) -> dict[str, Any]:
    ms = sorted(r.seconds * 1000 for r in rows)
    if not ms:
        return {"requests": 0}
    return {
        "requests": len(ms),
        "errors": sum(1 for r in rows if r.error),
        "p50_ms": round(ms[len(ms) // 2], 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
        "max_ms": round(ms[-1], 1),
        "over_2s": sum(1 for x in ms if x > GOAL_S * 1000),
    }


def _hedges(text: str) -> dict[str, float]:
    pattern = r'^gateway_hedges_total\{backend="([^"]+)",result="([^"]+)",tier="local"\} (\S+)$'
    return {f"{m[1]}/{m[2]}": float(m[3]) for m in re.finditer(pattern, text, re.M) if float(m[3])}


SCENARIOS = ("kill-hang-wake", "hang-wake")


async def _variant(name: str, scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    a, b = FakeUpstream(model="fake-a"), FakeUpstream(model="fake-b")
    for f in (a, b):
        f.start_in_thread()
        f.set(**BASELINE)
    hedge = "    hedge: {enabled: false}\n" if name.startswith("off") else ""
    env = {"GATEWAY_READ_TIMEOUT_S": "1"} if name == "off-read-1s" else {}
    steps = [("kill", args.kill_s)] if scenario == "kill-hang-wake" else []
    steps += [("hang", args.hang_s), ("wake", args.wake_s)]
    with tempfile.TemporaryDirectory() as tmp:
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(hedge=hedge, a=a.base_url, b=b.base_url))
        log = (Path(tmp) / "gateway.log").open("wb")
        proc, url = serve_gateway(routes, log=log, GATEWAY_LOG_LEVEL="warning", **env)
        try:
            marks = {"warm": time.monotonic()}
            at = marks["warm"] + args.warm_s
            for step, seconds in steps:
                marks[step] = at
                at += seconds
            stop_at = [at]
            limit_s = args.client_timeout_s
            load = asyncio.create_task(_load(url, args.concurrency, stop_at, limit_s, args.pause_s))
            for step, _ in steps:
                await asyncio.sleep(marks[step] - time.monotonic())
                if step == "kill":
                    await asyncio.to_thread(a.refuse)
                elif step == "hang":
                    a.set(mode="hang")
                    if scenario == "kill-hang-wake":
                        await asyncio.to_thread(a.accept)
                else:
                    a.set(**BASELINE)
            rows = await load
            async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as resp:
                metrics = await resp.text()
        finally:
            stop(proc)
            log.close()
            for f in (a, b):
                f.stop_thread()
    first_fault = marks[steps[0][0]]
    return {
        "variant": name,
        "scenario": scenario,
        # By when a request was in flight, not when it started: one sent a millisecond before the
        # hang is held by it, and belongs to the faults.
        "before": _stats([r for r in rows if r.end < first_fault]),
        "faults": _stats([r for r in rows if r.end >= first_fault]),
        "hang": _stats([r for r in rows if r.end >= marks["hang"] and r.start < marks["wake"]]),
        "hedges": _hedges(metrics),
        "error_kinds": sorted({r.error for r in rows if r.error}),
    }


def _table(results: list[dict[str, Any]]) -> None:
    print("\n| scenario | variant | window | requests | errors | p50 ms | p99 ms | max ms | over 2 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for window in ("before", "faults", "hang"):
            s = r[window]
            print(
                f"| {r['scenario']} | {r['variant']} | {window} | {s['requests']} | {s.get('errors', 0)} | "
                f"{s.get('p50_ms')} | {s.get('p99_ms')} | {s.get('max_ms')} | {s.get('over_2s', 0)} |"
            )
    for r in results:
        what = f"{r['scenario']}, {r['variant']}"
        print(f"{what}: hedges {r['hedges'] or 'none'}; errors {r['error_kinds'] or 'none'}")
        ok = r["faults"].get("over_2s", 1) == 0 and not r["faults"].get("errors")
        print(
            f"{'met ' if ok else 'MISS'}  {what}: nothing over {GOAL_S:g} s and no errors during the faults"
        )


def fast_path(count: int, loop: str) -> dict[str, Any]:
    """µs per request (wall, median), in-process, through a tier that hedges and one that does not."""
    warm = min(2000, count // 4)
    from gateway.observability.metrics import HEDGE_RESULTS
    from gateway.testing.fake_backend import FakeBackend
    from gateway.testing.harness import Harness, chat_call

    def routes(hedge: str) -> str:
        return f"""
version: 1
default_tier: t
tiers:
  t:
    hedge: {hedge}
    backends:
      - {{name: a, kind: openai, base_url: "http://a.invalid/v1", model: m}}
      - {{name: b, kind: openai, base_url: "http://b.invalid/v1", model: m}}
routes:
  - {{model: t, tier: t}}
"""

    harnesses = {
        "on": Harness.build(routes("{enabled: true}"), {n: FakeBackend(n) for n in "ab"}),
        "off": Harness.build(routes("{enabled: false}"), {n: FakeBackend(n) for n in "ab"}),
    }

    async def one(h: Harness, stream: bool) -> float:
        t0 = time.perf_counter()
        if stream:
            served = await h.dispatcher.stream(chat_call("t", stream=True))
            async for _chunk in served.chunks:
                pass
        else:
            await h.dispatcher.complete(chat_call("t"))
        return time.perf_counter() - t0

    async def main() -> dict[str, Any]:
        # Paired: the two configurations alternate request by request (in turn first), the collector
        # is off while timing, and medians are compared, so that this VM's drift cancels out.
        out: dict[str, Any] = {}
        gc.disable()
        try:
            for stream in (False, True):
                times: dict[str, list[float]] = {"on": [], "off": []}
                for i in range(warm + count):
                    for key in ("on", "off") if i % 2 else ("off", "on"):
                        seconds = await one(harnesses[key], stream)
                        if i >= warm:
                            times[key].append(seconds)
                gc.collect()
                on, off = (statistics.median(times[k]) * 1e6 for k in ("on", "off"))
                mode = "stream" if stream else "plain"
                out[mode] = {"on_us": round(on, 2), "off_us": round(off, 2), "delta_us": round(on - off, 2)}
        finally:
            gc.enable()
        out["hedges_fired"] = sum(
            harnesses["on"].sample("gateway_hedges_total", tier="t", backend=b, result=r)
            for b in "ab"
            for r in HEDGE_RESULTS
        )
        return out

    if loop == "uvloop":  # what `gateway serve` runs on
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warm-s", type=float, default=3.0)
    ap.add_argument("--kill-s", type=float, default=2.0)
    ap.add_argument("--hang-s", type=float, default=8.0)
    ap.add_argument("--wake-s", type=float, default=4.0)
    ap.add_argument("--client-timeout-s", type=float, default=15.0)
    ap.add_argument("--pause-s", type=float, default=0.0, help="each worker's pause between its requests")
    ap.add_argument("--variants", default="default,off")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--with-timeout", action="store_true", help="add the off-read-1s variant")
    ap.add_argument("--fast-path", action="store_true", help="time the fast path in-process instead")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = ap.parse_args()
    if args.fast_path:
        result = fast_path(args.count, args.loop)
        print(json.dumps(result))
        for mode in ("plain", "stream"):
            r = result[mode]
            print(f"{mode}: hedging on {r['on_us']} µs/request, off {r['off_us']} µs: +{r['delta_us']} µs")
        print(f"hedges fired on the fast path: {result['hedges_fired']:g}")
        return
    variants = args.variants.split(",") + (["off-read-1s"] if args.with_timeout else [])
    results = []
    for scenario in args.scenarios.split(","):
        for name in variants:
            result = asyncio.run(_variant(name, scenario, args))
            print(json.dumps(result), flush=True)
            results.append(result)
    _table(results)


if __name__ == "__main__":
    main()
