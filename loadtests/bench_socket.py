"""CPU per turn of the Responses API over a WebSocket against the same turn over SSE, on one pinned
route, in alternated pairs, on 127.0.0.1 only.

Starts ../shared/bench/mock_upstream.py (streams MOCK_CHUNKS chat chunks) and `gateway serve` pinned
to one core (a pinned route `small`, keys on, metrics), and drives it from the other core with `-c`
clients for `--duration` s per run, each turn the same streamed request (translated to chat for the
mock, its events back):

  sse        POST /v1/responses with `stream: true`, keep-alive connections, every event read
  websocket  one socket per client, `response.create` after `response.create` on it (store: false,
             no chain: the turn itself, as Codex's turns after its warm-up)

Runs alternate (sse, websocket, websocket, sse, ...) --pairs times; each prints turns/s and the
gateway's CPU per turn (from /proc), then the mean of each and their ratio. JSON lines go to stdout.

  BENCH_DIR=/work/shared/bench .venv/bin/python loadtests/bench_socket.py --pairs 3 -c 16 --duration 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

# Run as a script, Python puts loadtests/ on the path, not the root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.testing.processes import free_port, wait_http
from loadtests.procs import cpu_seconds, rss_mib

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench"))
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "1")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "0")
KEY = "sk-bench-socket-41c7"
ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {{name: mock-small, kind: openai, base_url: "{url}/v1", model: mock-small}}
routes:
  - {{model: small, tier: small}}
"""
BODY = {
    "model": "small",
    "instructions": "You are a helpful assistant.",
    "input": "Say hello in one short sentence.",
    "store": False,
}
_ENDS = ("response.completed", "response.incomplete", "response.failed", "error")


async def _sse_client(url: str, until: float, counts: list[int]) -> None:
    body = json.dumps({**BODY, "stream": True}).encode()
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            async with session.post(url, data=body, headers=headers) as resp:
                done = False
                async for line in resp.content:
                    done = done or line.startswith(b"event: response.completed")
                counts[0 if done else 1] += 1


async def _ws_client(url: str, until: float, counts: list[int]) -> None:
    create = json.dumps({"type": "response.create", **BODY})
    async with connect(url, additional_headers={"authorization": f"Bearer {KEY}"}, compression=None) as ws:
        while time.monotonic() < until:
            await ws.send(create)
            while True:
                event = json.loads(await ws.recv())
                if event["type"] in _ENDS:
                    counts[0 if event["type"] == "response.completed" else 1] += 1
                    break


async def _drive(kind: str, base: str, clients: int, duration: float) -> list[int]:
    counts = [0, 0]  # completed, failed
    until = time.monotonic() + duration
    if kind == "sse":
        jobs = [_sse_client(base + "/v1/responses", until, counts) for _ in range(clients)]
    else:
        ws = base.replace("http://", "ws://") + "/v1/responses"
        jobs = [_ws_client(ws, until, counts) for _ in range(clients)]
    await asyncio.gather(*jobs)
    return counts


def _run(kind: str, base: str, pid: int, clients: int, duration: float) -> dict[str, Any]:
    asyncio.run(_drive(kind, base, clients, 1.0))  # warm: connections, caches
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    done, failed = asyncio.run(_drive(kind, base, clients, duration))
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    return {
        "transport": kind,
        "turns": done,
        "failed": failed,
        "turns_per_s": round(done / elapsed, 1),
        "cpu_ms_per_turn": round(1000 * cpu / max(done, 1), 4),
        "rss_mib": rss_mib(pid),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("-c", "--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    ap.add_argument("--chunks", type=int, default=8, help="chat chunks the mock streams per answer")
    args = ap.parse_args()
    if os.environ.get("_BENCH_PINNED") != "1":  # the driver itself runs on the load core
        env = {**os.environ, "_BENCH_PINNED": "1", "PYTHONPATH": str(ROOT)}
        cmd = ["taskset", "-c", LOAD_CPU, sys.executable, *sys.argv]
        raise SystemExit(subprocess.run(cmd, env=env, check=False).returncode)
    with tempfile.TemporaryDirectory() as tmp:
        mport, port = free_port(), free_port()
        mock_env = {**os.environ, "MOCK_PORT": str(mport), "MOCK_CHUNKS": str(args.chunks)}
        mock = subprocess.Popen(
            ["taskset", "-c", LOAD_CPU, sys.executable, str(BENCH / "mock_upstream.py")],
            env=mock_env, cwd=BENCH, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(url=f"http://127.0.0.1:{mport}"))
        env = {
            **os.environ,
            "GATEWAY_ROUTES": str(routes),
            "GATEWAY_PORT": str(port),
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_API_KEYS": f"bench:{KEY}",
        }
        gw = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "gateway", "serve"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{mport}/health", mock)
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz", gw)
            rows = []
            for pair in range(args.pairs):
                order = ("sse", "websocket") if pair % 2 == 0 else ("websocket", "sse")
                for kind in order:
                    row = {"pair": pair, **_run(kind, base, gw.pid, args.clients, args.duration)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            for p in (gw, mock):
                p.terminate()
                p.wait(10)
    means = {
        k: statistics.mean(r["cpu_ms_per_turn"] for r in rows if r["transport"] == k)
        for k in ("sse", "websocket")
    }
    ratios = [
        ws["cpu_ms_per_turn"] / sse["cpu_ms_per_turn"]
        for sse, ws in (
            (next(r for r in rows if r["pair"] == p and r["transport"] == "sse"),
             next(r for r in rows if r["pair"] == p and r["transport"] == "websocket"))
            for p in range(args.pairs)
        )
    ]  # fmt: skip
    print(
        f"CPU per turn, mean of {args.pairs} alternated pairs: SSE {means['sse']:.3f} ms, "
        f"WebSocket {means['websocket']:.3f} ms; WebSocket/SSE per pair: "
        + ", ".join(f"{r:.3f}" for r in ratios)
        + f" (mean {statistics.mean(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
