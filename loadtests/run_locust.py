"""Run the Locust scenario (loadtests/locustfile.py) headless against fake tiers, for a fixed time.

Starts, on 127.0.0.1 only: fake upstreams for `small` and `large` (each answering in ~20 ms) and
`flaky` (always HTTP 500), the gateway in full configuration (learned-scorer routing, API keys with
tenant limits, metrics) pinned to core 1, then Locust on core 0 for --duration seconds. Prints
throughput, latency percentiles and failures per request type, and the tier mix; writes JSON to
loadtests/results/locust-*.json.

  .venv/bin/python loadtests/run_locust.py --users 32 --duration 60
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.testing.processes import serve_fake, serve_gateway, stop

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
API_KEY = "sk-locust-5a1e"

ROUTES = """\
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    max_difficulty: 0.9  # the default scorer puts chit-chat at 0.6-0.8 and proofs or SQL above 0.95
    backends:
      - {{name: small, kind: openai, base_url: "{small}/v1", model: fake-small, ttft_ms: 20}}
  large:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0}}
    backends:
      - {{name: large, kind: openai, base_url: "{large}/v1", model: fake-large, ttft_ms: 20}}
  flaky:
    backends:
      - {{name: flaky, kind: openai, base_url: "{flaky}/v1", model: fake-flaky}}
tenants:
  locust: {{requests_per_minute: 10000000, tiers: [small, large, flaky]}}
retry: {{attempts: 2, budget_ratio: 0.2, backoff_ms: 10}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: large, tier: large}}
  - {{model: flaky, tier: flaky}}
"""

SCRIPTS = {
    "small": {"mode": "slow", "delay_ms": 20},
    "large": {"mode": "slow", "delay_ms": 20},
    "flaky": {"mode": "error", "status": 500},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=32)
    ap.add_argument("--duration", type=int, default=60, help="seconds")
    args = ap.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        try:
            urls = {}
            for name, script in SCRIPTS.items():
                proc, urls[name] = serve_fake(f"fake-{name}", cpu="0", script=script)
                procs.append(proc)
            (tmp / "routes.yaml").write_text(ROUTES.format(**urls))
            gw, host = serve_gateway(
                tmp / "routes.yaml", cpu="1", GATEWAY_LOG_LEVEL="error", GATEWAY_API_KEYS=f"locust:{API_KEY}"
            )
            procs.append(gw)
            locust = [PY, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless"]
            locust += ["-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s"]
            locust += ["--host", host, "--csv", str(tmp / "run"), "--only-summary", "--stop-timeout", "10"]
            env = {**os.environ, "LOCUST_API_KEY": API_KEY, "LOCUST_TIERS_OUT": str(tmp / "tiers.json")}
            run = subprocess.run(
                ["taskset", "-c", "0", *locust],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=args.duration + 120,
                check=False,
            )
        finally:
            for p in reversed(procs):
                stop(p)
        with (tmp / "run_stats.csv").open() as f:
            stats = list(csv.DictReader(f))
        tiers = json.loads((tmp / "tiers.json").read_text())
    rows = [
        {
            "type": s["Type"],
            "name": s["Name"],
            "requests": int(s["Request Count"]),
            "failures": int(s["Failure Count"]),
            "req_s": round(float(s["Requests/s"]), 1),
            "p50_ms": s["50%"],
            "p95_ms": s["95%"],
            "p99_ms": s["99%"],
            "max_ms": round(float(s["Max Response Time"]), 1),
        }
        for s in stats
    ]
    print("| type | name | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")
    total = sum(tiers.values())
    print("tier mix: " + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(tiers.items())))
    out = ROOT / "loadtests" / "results"
    out.mkdir(exist_ok=True)
    result = {"args": vars(args), "stats": rows, "tiers": tiers, "locust_rc": run.returncode}
    (out / f"locust-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=1))
    failed = sum(r["failures"] for r in rows if r["name"] == "Aggregated")
    if run.returncode not in (0, 1):
        print(run.stderr[-3000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
