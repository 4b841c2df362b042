"""Upstream-path benchmark: the gateway against the floor proxy, in one run, on 127.0.0.1 only.

Starts ../shared/bench/mock_upstream.py, then each server under test pinned to one core, and drives it
with ../shared/bench/loadgen.py from the other core:

  floor          min_proxy.py with aiohttp (the floor a Litestar proxy can reach)
  floor-httpx    min_proxy.py with httpx's default pool (why the gateway does not use it)
  floor-hxaio    min_proxy.py with httpx over the aiohttp transport (the gateway's client choice)
  gateway        python -m gateway serve, one OpenAI-compatible tier pointing at the mock

Phases: no upstream delay at c=1 and c=64; a 50 ms upstream at c=64 and c=256. Prints a table of
req/s, p50, p99, server CPU per request, and each server's ratios to the floor; writes JSON to
loadtests/results/. Bounded: every load point stops after --duration seconds.

  .venv/bin/python loadtests/bench_upstream.py [--duration 8] [--servers floor,gateway]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.testing.processes import free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench"))
PY = sys.executable
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "1")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "0")

ROUTES = """\
version: 1
default_tier: mock
tiers:
  mock:
    backends:
      - {{name: mock, kind: openai, base_url: "{url}/v1", model: mock-small}}
routes:
  - {{model: small, tier: mock}}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd: list[str], env: dict[str, str], cwd: Path, cpu: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", cpu, *cmd],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def server_cmd(name: str, port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str], Path]:
    uvicorn = [
        PY,
        "-m",
        "uvicorn",
        "min_proxy:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    if name.startswith("floor"):
        client = {"floor": "aiohttp", "floor-httpx": "httpx", "floor-hxaio": "httpx_aiohttp"}[name]
        return uvicorn, {"UPSTREAM_URL": upstream, "PROXY_CLIENT": client}, BENCH
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(url=upstream))
    env = {"GATEWAY_ROUTES": str(routes), "GATEWAY_PORT": str(port), "GATEWAY_LOG_LEVEL": "warning"}
    return [PY, "-m", "gateway", "serve"], env, ROOT


def load(url: str, c: int, duration: float, out: Path) -> dict[str, object]:
    subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            PY,
            str(BENCH / "loadgen.py"),
            "--url",
            url,
            "-c",
            str(c),
            "-d",
            str(duration),
            "-w",
            "1.5",
            "--json",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=duration + 60,
    )
    result: dict[str, object] = json.loads(out.read_text())
    return result


def run_phase(
    delay_ms: int, points: list[int], servers: list[str], duration: float, tmp: Path, repeat: int = 1
) -> list[dict]:
    mport = free_port()
    mock = start(
        [PY, str(BENCH / "mock_upstream.py")],
        {"MOCK_PORT": str(mport), "MOCK_DELAY_MS": str(delay_ms)},
        BENCH,
        LOAD_CPU,
    )
    rows = []
    try:
        upstream = f"http://127.0.0.1:{mport}"
        wait_http(upstream + "/health", mock)
        for rep, name in ((r, n) for r in range(repeat) for n in servers):
            port = free_port()
            cmd, env, cwd = server_cmd(name, port, upstream, tmp)
            proc = start(cmd, env, cwd, SERVER_CPU)
            try:
                wait_http(
                    f"http://127.0.0.1:{port}/health"
                    if name.startswith("floor")
                    else f"http://127.0.0.1:{port}/healthz",
                    proc,
                )
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                load(url, 8, 1.0, tmp / "warm.json")  # warm caches and pools
                for c in points:
                    cpu0 = cpu_seconds(proc.pid)
                    res = load(url, c, duration, tmp / f"{name}-{delay_ms}-{c}.json")
                    cpu = cpu_seconds(proc.pid) - cpu0
                    lat = res["latency_ms"]
                    assert isinstance(lat, dict)
                    total = res["total_requests"]
                    assert isinstance(total, int)
                    rows.append(
                        {
                            "rep": rep,
                            "server": name,
                            "delay_ms": delay_ms,
                            "c": c,
                            "rps": res["rps"],
                            "p50": lat.get("p50"),
                            "p99": lat.get("p99"),
                            "errors": res["errors"],
                            "cpu_ms_per_req": round(1000 * cpu / max(total, 1), 3),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        mock.terminate()
        mock.wait(10)
    return rows


def table(rows: list[dict]) -> str:
    floor = {(r["delay_ms"], r["c"], r["rep"]): r for r in rows if r["server"] == "floor"}
    lines = [
        "| server | upstream delay | c | req/s | p50 ms | p99 ms | CPU ms/req | errors | "
        "req/s ÷ floor | p50 ÷ floor | p99 ÷ floor |",
        "|---" * 11 + "|",
    ]
    for r in rows:
        f = floor.get((r["delay_ms"], r["c"], r["rep"]))

        def ratio(key: str, row: dict = r, base: dict | None = f) -> str:
            return f"{row[key] / base[key]:.2f}" if base and base[key] else "-"

        errors = sum(r["errors"].values())
        cells = [
            r["server"],
            f"{r['delay_ms']} ms",
            r["c"],
            r["rps"],
            r["p50"],
            r["p99"],
            r["cpu_ms_per_req"],
            errors,
            ratio("rps"),
            ratio("p50"),
            ratio("p99"),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--servers", default="floor,floor-httpx,floor-hxaio,gateway")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the server list this many times, interleaved; ratios pair each with its own floor",
    )
    args = ap.parse_args()
    servers = args.servers.split(",")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = run_phase(0, [1, 64], servers, args.duration, tmp, args.repeat)
        rows += run_phase(50, [64, 256], servers, args.duration, tmp, args.repeat)
    out = ROOT / "loadtests" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"upstream-{stamp}.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
