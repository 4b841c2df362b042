"""Overhead benchmark: the gateway against the floor proxy and against calling the upstream directly,
in one run, on 127.0.0.1 only.

Starts ../shared/bench/mock_upstream.py, then each server under test pinned to one core, and drives it
with ../shared/bench/loadgen.py from the other core (the mock shares that core: ~180k req/s, never the
bottleneck):

  direct         no proxy: the load generator calls the mock itself (the latency floor of all floors)
  floor          min_proxy.py with aiohttp under uvicorn (the floor a Litestar proxy can reach)
  floor-httpx    min_proxy.py with httpx's default pool (why the gateway does not use it)
  floor-hxaio    min_proxy.py with httpx over the aiohttp transport
  floor-granian  min_proxy.py with aiohttp under granian instead of uvicorn (the serving choice;
                 `pip install granian` first, it is not a dependency)
  gateway        `gateway serve` in full configuration: two tiers, `model: auto` routed by the learned
                 difficulty scorer, API keys on with tenant limits, metrics and cost accounting
  gateway-pinned the same gateway, `model: small` (a pinned route: no scoring)
  gateway-logged the same gateway writing the decision log (GATEWAY_DECISION_LOG): its cost
  gateway-responses  the same gateway, the same request through POST /v1/responses (translated to
                 chat for the mock, and the answer back): the Responses API's own cost
  gateway-messages   the same gateway, the same request on the same pinned route (`model: small`) as
                 gateway-pinned, through POST /v1/messages (Anthropic's Messages API, translated to
                 chat for the mock and back): the Messages API's own cost
  gateway-learned  the gateway with every family's learned counts in force (a state file of 50
                 all-shortfall labels a family, GATEWAY_STATE_DIR): learning on at its dearest
  gateway-nolearn  the same routes with `learn: off`: learning off
  gateway-streamplain  gateway-pinned with the small tier's backend at `stream_plain: true`: each
                 plain request goes upstream as a stream, put back together (its cost over
                 gateway-pinned, on plain requests)
  NAME@base      any gateway variant run from the checkout --base names (e.g. a `git worktree` of the
                 commit before a change), alternated with this one: before and after in one run
                 (--repeat 4 or a multiple: each holds each place equally often)

Every request carries the next of --prompts real prompts from ../shared/data (loadtests/varied_load.py
around the shared loadgen), so nothing keyed by the prompt is measured warm; --prompts 0 sends loadgen's
one fixed body instead.

For every upstream delay (--delays) and concurrency (--points), non-streaming then streaming (TTFT:
time to the first SSE event), it prints req/s, p50, p99, the server's CPU per request and its RSS, and
the gateway's ratios to the floor and its added latency over direct, then checks the targets of
issue 16 (loadtests/RESULTS.md) and prints each gateway's CPU per request against the floor's.
JSON goes to loadtests/results/. Bounded: every point stops after --duration s.

  .venv/bin/python loadtests/bench_overhead.py                      # the full run, ~10 min
  .venv/bin/python loadtests/bench_overhead.py --delays 0 --points 64 --modes plain --repeat 3
  .venv/bin/python loadtests/bench_overhead.py --servers floor,gateway-pinned,gateway-pinned@base \
      --base /tmp/before --delays 0 --points 64 --modes plain --repeat 4
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, Python puts loadtests/ on the path, not the root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.testing.processes import free_port, wait_http
from loadtests.procs import cpu_seconds, rss_mib, start

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench"))
BASE: Path | None = None  # --base: another checkout, for the NAME@base servers
PY = sys.executable
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "1")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "0")
API_KEY = "sk-bench-3f9c1e7a5d"

# The full configuration: what a production deployment runs, with both tiers on the mock so that only
# the gateway's own work differs from the floor.
ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    backends:
      - {{name: mock-small, kind: openai, base_url: "{url}/v1", model: mock-small}}
  large:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0}}
    backends:
      - {{name: mock-large, kind: openai, base_url: "{url}/v1", model: mock-large}}
tenants:
  bench: {{requests_per_minute: 100000000, tokens_per_minute: 1000000000000, usd_per_day: 1000000000}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
"""


def server_cmd(name: str, port: int, upstream: str, tmp: Path) -> tuple[list[str], dict[str, str], Path]:
    if name.endswith("@base"):
        if BASE is None:
            raise SystemExit(f"{name}: give --base, the checkout to run it from")
        cmd, env, _ = server_cmd(name.removesuffix("@base"), port, upstream, tmp)
        # `python -m gateway` from the base checkout imports its own package, not this one.
        return cmd, {**env, "PYTHONPATH": str(BASE)}, BASE
    if name == "floor-granian":
        cmd = [PY, "-m", "granian", "--interface", "asgi", "--port", str(port), "--loop", "uvloop"]
        return [*cmd, "--log-level", "warning", "min_proxy:app"], {"UPSTREAM_URL": upstream}, BENCH
    if name.startswith("floor"):
        client = {"floor": "aiohttp", "floor-httpx": "httpx", "floor-hxaio": "httpx_aiohttp"}[name]
        cmd = [PY, "-m", "uvicorn", "min_proxy:app", "--port", str(port), "--no-access-log"]
        cmd += ["--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
        return cmd, {"UPSTREAM_URL": upstream, "PROXY_CLIENT": client}, BENCH
    routes = tmp / "routes.yaml"
    routes.write_text(ROUTES.format(url=upstream))
    env = {
        "GATEWAY_ROUTES": str(routes),
        "GATEWAY_PORT": str(port),
        "GATEWAY_LOG_LEVEL": "warning",
        "GATEWAY_API_KEYS": f"bench:{API_KEY}",
    }
    if name == "gateway-logged":
        env["GATEWAY_DECISION_LOG"] = str(tmp / f"decisions-{port}.jsonl")
    if name == "gateway-nolearn":
        routes.write_text(ROUTES.format(url=upstream).replace("policy: auto}", "policy: auto, learn: off}"))
    if name == "gateway-streamplain":
        routes.write_text(
            ROUTES.format(url=upstream).replace(
                "model: mock-small}", "model: mock-small, stream_plain: true}"
            )
        )
    if name == "gateway-learned":
        env["GATEWAY_STATE_DIR"] = str(learned_state(tmp / f"state-{port}"))
    return [PY, "-m", "gateway", "serve"], env, ROOT


def order(servers: list[str], rep: int) -> list[str]:
    """The servers' order in repetition `rep`. A server's place is worth a few percent of CPU a request
    on this machine (a gateway right after the floor read 0.02-0.03 below the same gateway run
    second), which must not favour one member of a before/after pair. Every other repetition runs
    them in reverse, and in every other pair of repetitions each NAME and its NAME@base trade places:
    over four, both members of a pair hold each place and follow each neighbour equally often.
    (Reversal alone kept the middle one of floor,NAME,NAME@base in the middle, half the time right
    after the floor: the checkout's gateway read 0.014-0.045 below the same code run @base.)"""
    names = list(servers)
    if (rep // 2) % 2 == 1:
        at = {n: i for i, n in enumerate(names)}
        for n in servers:
            if f"{n}@base" in at:
                i, j = at[n], at[f"{n}@base"]
                names[i], names[j] = names[j], names[i]
    return names if rep % 2 == 0 else names[::-1]


def learned_state(folder: Path) -> Path:
    """A state file in which every family of the shipped weights has 50 learned labels, all shortfalls:
    every family's learned counts in force, the scorer's dearest case (the bounded within-family term,
    and the prior's score beside it for what learning moved)."""
    from gateway.classify.scorer import default_scorer

    scorer = default_scorer()
    family_set, now = scorer.family_set, time.time()  # type: ignore[attr-defined]
    nodes = {f: [50.0, 50.0, now] for f in scorer.families()}  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    state = {"format": "gateway-learned-v1", "sets": {family_set: nodes}, "tallies": []}
    (folder / "learned.json").write_text(json.dumps(state))
    return folder


# The same request as loadgen's default chat body, through the Messages API (gateway-messages).
MESSAGES_BODY = {
    "model": "small",
    "system": "You are a helpful assistant.",
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    "max_tokens": 32,
    "temperature": 0,
}
# The same request as loadgen's default chat body, through the Responses API (gateway-responses):
# the gateway translates it to chat for the mock and the answer back, which is what it measures.
RESPONSES_BODY = {
    "model": "auto",
    "instructions": "You are a helpful assistant.",
    "input": "Say hello in one short sentence.",
    "max_output_tokens": 32,
    "temperature": 0,
    "store": False,
}


def load(
    url: str,
    c: int,
    duration: float,
    out: Path,
    stream: bool,
    warmup: float = 1.5,
    body: Path | None = None,
    model: str = "auto",
    form: str = "chat",
    texts: Path | None = None,
) -> dict[str, Any]:
    """One point of loadgen; with `texts` (prompts drawn once, a JSON string a line) each request
    carries the next of them (varied_load.py), else loadgen's one body."""
    if texts is not None:
        cmd = [PY, str(ROOT / "loadtests" / "varied_load.py"), "--texts", str(texts), "--form", form]
        cmd += ["--prompts", str(len(texts.read_text().splitlines()))]
    else:
        cmd = [PY, str(BENCH / "loadgen.py")] + (["--body", str(body)] if body is not None else [])
    cmd = ["taskset", "-c", LOAD_CPU, *cmd, "--url", url, "-c", str(c)]
    cmd += ["-d", str(duration), "-w", str(warmup), "--json", str(out), "--model", model]
    cmd += ["--api-key", API_KEY] + (["--stream"] if stream else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=duration + warmup + 60)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def measure(
    name: str,
    delay_ms: int,
    points: list[int],
    modes: list[str],
    duration: float,
    tmp: Path,
    rep: int,
    texts: Path | None,
) -> list[dict[str, Any]]:
    mport = free_port()
    mock_env = {"MOCK_PORT": str(mport), "MOCK_DELAY_MS": str(delay_ms)}
    mock = start([PY, str(BENCH / "mock_upstream.py")], mock_env, BENCH, LOAD_CPU)
    proc = None
    rows = []
    try:
        upstream = f"http://127.0.0.1:{mport}"
        wait_http(upstream + "/health", mock)
        if name == "direct":
            url = upstream + "/v1/chat/completions"
        else:
            port = free_port()
            cmd, env, cwd = server_cmd(name, port, upstream, tmp)
            proc = start(cmd, env, cwd, SERVER_CPU)
            health = "/healthz" if name.startswith("gateway") else "/health"
            wait_http(f"http://127.0.0.1:{port}{health}", proc)
            paths = {"gateway-responses": "/v1/responses", "gateway-messages": "/v1/messages"}
            url = f"http://127.0.0.1:{port}{paths.get(name.removesuffix('@base'), '/v1/chat/completions')}"
        kind = name.removesuffix("@base")
        body = None
        if kind in ("gateway-responses", "gateway-messages"):
            body = tmp / f"{kind}-body.json"
            body.write_text(json.dumps(RESPONSES_BODY if kind == "gateway-responses" else MESSAGES_BODY))
        form = {"gateway-responses": "responses", "gateway-messages": "messages"}.get(kind, "chat")
        model = "small" if kind in ("gateway-pinned", "gateway-messages", "gateway-streamplain") else "auto"
        point = functools.partial(load, body=body, model=model, form=form, texts=texts)
        point(url, 8, 1.0, tmp / "warm.json", stream=False)  # warm caches and pools
        for mode in modes:
            for c in points:
                cpu0 = cpu_seconds(proc.pid) if proc else 0.0
                res = point(url, c, duration, tmp / "point.json", stream=mode == "stream")
                total = max(int(res["total_requests"]), 1)
                cpu_ms = round(1000 * (cpu_seconds(proc.pid) - cpu0) / total, 3) if proc else None
                lat, ttft = res["latency_ms"], res.get("ttft_ms", {})
                row = {
                    "rep": rep,
                    "server": name,
                    "delay_ms": delay_ms,
                    "mode": mode,
                    "c": c,
                    "rps": res["rps"],
                    "p50": lat.get("p50"),
                    "p99": lat.get("p99"),
                    "ttft_p50": ttft.get("p50"),
                    "ttft_p99": ttft.get("p99"),
                    "errors": sum(res["errors"].values()),
                    "cpu_ms_per_req": cpu_ms,
                    "rss_mib": rss_mib(proc.pid) if proc else None,
                    "loadgen_cpu": res["loadgen_cpu_frac"],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for p in (proc, mock):
            if p is not None:
                p.terminate()
                p.wait(10)
    return rows


def _key(r: dict[str, Any], server: str) -> tuple[Any, ...]:
    return (server, r["rep"], r["delay_ms"], r["mode"], r["c"])


def table(rows: list[dict[str, Any]]) -> str:
    by = {_key(r, r["server"]): r for r in rows}
    head = ["rep", "server", "delay", "mode", "c", "req/s", "p50 ms", "p99 ms", "TTFT p50", "CPU ms/req"]
    head += ["RSS MiB", "errors", "req/s ÷ floor", "p99 ÷ floor", "+p50 vs direct", "+TTFT vs direct"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        floor, direct = by.get(_key(r, "floor")), by.get(_key(r, "direct"))

        def ratio(k: str, base: dict[str, Any] | None, row: dict[str, Any] = r) -> str:
            return f"{row[k] / base[k]:.2f}" if base and base.get(k) and row.get(k) else "-"

        def added(k: str, base: dict[str, Any] | None, row: dict[str, Any] = r) -> str:
            return f"{row[k] - base[k]:+.3f}" if base and base.get(k) and row.get(k) else "-"

        cells = [r["rep"], r["server"], f"{r['delay_ms']} ms", r["mode"], r["c"], r["rps"], r["p50"]]
        cells += [r["p99"], r["ttft_p50"] or "-", r["cpu_ms_per_req"] or "-", r["rss_mib"] or "-"]
        cells += [r["errors"], ratio("rps", floor), ratio("p99", floor)]
        cells += [added("p50", direct), added("ttft_p50", direct)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 16's targets: each ratio taken within one repetition (a gateway row against the floor's
    row of the same delay, mode and concurrency, measured minutes apart), then averaged over the
    repetitions (--repeat varies the servers' order: `order`)."""
    by = {_key(r, r["server"]): r for r in rows}

    def paired(server: str, delay: int, mode: str, c: int, value: Any) -> list[float]:
        out = []
        for g in rows:
            f = by.get(_key(g, "floor"))
            if (g["server"], g["delay_ms"], g["mode"], g["c"]) == (server, delay, mode, c) and f:
                out.append(value(g, f))
        return out

    def rps(g: dict[str, Any], f: dict[str, Any]) -> float:
        return float(g["rps"] / f["rps"])

    checks = [
        (
            "pinned route req/s ≥ 0.75x floor (0 ms, c=64)",
            paired("gateway-pinned", 0, "plain", 64, rps),
            0.75,
        ),
        ("model: auto req/s ≥ 0.60x floor (0 ms, c=64)", paired("gateway", 0, "plain", 64, rps), 0.60),
        ("streamed req/s ≥ 0.80x floor (50 ms, c=256)", paired("gateway", 50, "stream", 256, rps), 0.80),
    ]
    out = []
    for what, values, bound in checks:
        if values:
            out.append(_verdict(f"{what}, mean of {len(values)}", sum(values) / len(values), bound, ge=True))
    for delay in sorted({r["delay_ms"] for r in rows}):
        added = paired("gateway", delay, "plain", 1, lambda g, f: g["p50"] - f["p50"])
        if added:
            what = f"p50 at c=1 ≤ floor's + 0.15 ms ({delay} ms), mean of {len(added)}"
            out.append(_verdict(what, sum(added) / len(added), 0.15, ge=False))
    rss = [r["rss_mib"] for r in rows if r["server"].startswith("gateway") and r["rss_mib"]]
    if rss:
        out.append(_verdict("gateway RSS ≤ 120 MiB (largest seen)", max(rss), 120, ge=False))
    return out


def cpu_ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Each gateway server's CPU per request against the floor's, paired within a repetition (same
    delay, mode and concurrency): the mean and spread of the pairs."""
    by = {_key(r, r["server"]): r for r in rows}
    pairs: dict[tuple[str, int, str, int], list[float]] = {}
    for g in rows:
        f = by.get(_key(g, "floor"))
        if g["server"].startswith("gateway") and f and g["cpu_ms_per_req"] and f["cpu_ms_per_req"]:
            key = (g["server"], g["delay_ms"], g["mode"], g["c"])
            pairs.setdefault(key, []).append(f["cpu_ms_per_req"] / g["cpu_ms_per_req"])
    out = []
    for (server, delay, mode, c), ratios in sorted(pairs.items()):
        mean = sum(ratios) / len(ratios)
        each = ", ".join(f"{r:.3f}" for r in ratios)
        what = f"CPU per request, floor ÷ {server} ({delay} ms, {mode}, c={c})"
        out.append(f"{what}: {mean:.3f} mean of {len(ratios)} [{each}]")
    # A before/after pair against each other: the two run next to each other in every repetition
    # (`order`), so each pair shares the minute's machine, which the floor, further away, may not.
    for g in rows:
        b = by.get(_key(g, f"{g['server']}@base"))
        if b and g["cpu_ms_per_req"] and b["cpu_ms_per_req"]:
            key = (f"{g['server']}@base ÷ {g['server']}", g["delay_ms"], g["mode"], g["c"])
            pairs.setdefault(key, []).append(b["cpu_ms_per_req"] / g["cpu_ms_per_req"])
    for (pair, delay, mode, c), ratios in sorted(pairs.items()):
        if "÷" in pair:
            each = ", ".join(f"{r:.3f}" for r in ratios)
            what = f"CPU per request, {pair} ({delay} ms, {mode}, c={c}; above 1: this tree is cheaper)"
            out.append(f"{what}: {sum(ratios) / len(ratios):.3f} mean of {len(ratios)} [{each}]")
    return out


def _verdict(what: str, value: float, bound: float, *, ge: bool) -> str:
    ok = value >= bound if ge else value <= bound
    return f"{'met ' if ok else 'MISS'}  {what}: {value:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=6.0, help="seconds measured per point")
    ap.add_argument("--servers", default="direct,floor,gateway")
    ap.add_argument("--delays", default="50,0", help="upstream delays in ms")
    ap.add_argument("--points", default="1,16,64,256", help="concurrencies")
    ap.add_argument("--modes", default="plain,stream")
    ap.add_argument("--repeat", type=int, default=1, help="run it all this many times (odd ones reversed)")
    ap.add_argument("--prompts", type=int, default=2000, help="distinct prompts cycled (0: one fixed body)")
    ap.add_argument("--base", type=Path, help="the checkout NAME@base servers run from")
    args = ap.parse_args()
    global BASE
    BASE = args.base.resolve() if args.base else None
    points = [int(c) for c in args.points.split(",")]
    modes = args.modes.split(",")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        texts = None
        if args.prompts:
            sys.path.insert(0, str(ROOT / "loadtests"))
            from varied_load import prompts

            texts = Path(d) / "prompts.jsonl"
            texts.write_text("".join(json.dumps(t) + "\n" for t in prompts(args.prompts)))
        servers = args.servers.split(",")
        for rep in range(args.repeat):
            for delay in (int(x) for x in args.delays.split(",")):
                for name in order(servers, rep):
                    rows += measure(name, delay, points, modes, args.duration, Path(d), rep, texts)
    out = ROOT / "loadtests" / "results"
    out.mkdir(exist_ok=True)
    (out / f"overhead-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))
    print("\n".join(targets(rows)))
    print("\n".join(cpu_ratios(rows)))


if __name__ == "__main__":
    main()
