"""The verifier judged as a user meets it: a fresh gateway, the shipped weights, a cascade route.

Each question of a set with known answers goes through a real `gateway serve` whose cascade route
drafts on the embedded SmolLM2 (with its token log-probabilities) and accepts every draft
(`min_confidence: 0`), so the answer returned *is* the draft, with the verifier's
`x-gateway-confidence` and the pre-generation `x-gateway-difficulty` in its headers. The draft is
graded against the known answer, and the report gives how well each signal ranks right drafts above
wrong ones (AUC, with a bootstrap interval over questions), pooled and family by family, against
prompt length.

The default set, `blind_questions.jsonl` (graded by `blind_grade.py`), was written without reading
the verifier's checks or the calibration families (docs/verifier-eval.md), so it is the nearest
thing here to questions the verifier never saw. Drafts are greedy and seeded: a rerun on the same
tree gives the same drafts.

    .venv/bin/python loadtests/live_auc.py [--questions FILE] [--limit N] [--out FILE] [--samples K]
    .venv/bin/python loadtests/live_auc.py --compare BEFORE.jsonl AFTER.jsonl  # two trees' --out files

About 1 s a question on this 2-core machine (one llama.cpp thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from blind_grade import grade

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import serve_gateway, stop

HERE = Path(__file__).resolve().parent
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 1024, queue_size: 4}}]
  large:
    backends: [{{name: hosted, kind: openai, base_url: "{large}", model: hosted-model}}]
routes:
  - {{model: judged, policy: cascade, draft: small, escalate: [large],
      verify: {{min_confidence: 0, samples: {samples}}}}}
"""


def run(items: list[dict[str, Any]], url: str) -> list[dict[str, Any]]:
    rows = []
    t0 = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        for n, item in enumerate(items):
            body = {
                "model": "judged",
                "messages": [{"role": "user", "content": item["question"]}],
                "max_tokens": item.get("max_tokens", 16),
                "temperature": 0,
            }
            r = client.post(url + "/v1/chat/completions", json=body)
            r.raise_for_status()
            text = r.json()["choices"][0]["message"]["content"] or ""
            rows.append(
                {
                    "family": item["family"],
                    "question": item["question"],
                    "draft": text,
                    "right": grade(item, text),
                    "confidence": float(r.headers["x-gateway-confidence"]),
                    "difficulty": float(r.headers["x-gateway-difficulty"]),
                    "chars": len(item["question"]),
                    "cascade": r.headers.get("x-gateway-cascade"),
                }
            )
            if n % 25 == 0:
                print(f"{n}/{len(items)} {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    import numpy as np

    from gateway.offline.stats import auc, boot_ci

    signals = {
        "verifier (x-gateway-confidence)": lambda r: r["confidence"],
        "pre-generation (1 - x-gateway-difficulty)": lambda r: -r["difficulty"],
        "prompt length (shorter = right)": lambda r: -r["chars"],
    }
    y = np.array([float(r["right"]) for r in rows])
    out = [
        f"{len(rows)} drafts, {int(y.sum())} right ({y.mean():.2f}), "
        f"{len({r['family'] for r in rows})} families",
        "",
        "| signal | AUC, pooled [95% CI] |",
        "|---|---|",
    ]
    for name, f in signals.items():
        s = np.array([f(r) for r in rows], dtype=np.float64)
        ci = boot_ci(lambda i, s=s: auc(s[i], y[i]), 500, len(rows))
        out.append(f"| {name} | {auc(s, y):.3f} {ci} |")
    out += [
        "",
        "| family | drafts | right | verifier AUC | pre-generation AUC | length AUC | mean confidence |",
    ]
    out.append("|---|---|---|---|---|---|---|")
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["family"]].append(r)
    for fam, rs in by.items():
        yf = np.array([float(r["right"]) for r in rs])
        cells = [f"{auc(np.array([f(r) for r in rs], dtype=np.float64), yf):.3f}" for f in signals.values()]
        conf = sum(r["confidence"] for r in rs) / len(rs)
        out.append(f"| {fam} | {len(rs)} | {yf.mean():.2f} | {' | '.join(cells)} | {conf:.2f} |")
    return "\n".join(out).replace("nan", "-")


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """The verifier's AUC on the same drafts judged by two trees, and the paired difference."""
    import numpy as np

    from gateway.offline.stats import auc, boot_ci

    if [r["draft"] for r in before] != [r["draft"] for r in after]:
        raise SystemExit("the two runs judged different drafts: compare runs of the same questions")
    y = np.array([float(r["right"]) for r in before])
    a = np.array([r["confidence"] for r in before])
    b = np.array([r["confidence"] for r in after])
    ci = boot_ci(lambda i: auc(b[i], y[i]) - auc(a[i], y[i]), 1000, len(y))
    before_auc, after_auc = auc(a, y), auc(b, y)
    return (
        f"verifier AUC: before {before_auc:.3f}, after {after_auc:.3f}, "
        f"after - before {after_auc - before_auc:+.3f} {ci}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=HERE / "blind_questions.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="the first N questions only")
    ap.add_argument("--out", type=Path, help="write each draft's row here (JSONL)")
    ap.add_argument(
        "--samples", type=int, default=1, help="the route's verify.samples (the first draft stays greedy)"
    )
    ap.add_argument(
        "--compare",
        type=Path,
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="two --out files: the paired difference",
    )
    args = ap.parse_args()
    if args.compare:
        before, after = ([json.loads(line) for line in p.read_text().splitlines()] for p in args.compare)
        print(compare(before, after))
        return 0
    items = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    if args.limit:
        items = items[: args.limit]
    large = FakeUpstream(model="hosted-model", reply="escalated")
    large.start_in_thread()
    with tempfile.TemporaryDirectory() as tmp:
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(large=large.base_url, samples=args.samples))
        log = (Path(tmp) / "gateway.log").open("wb")
        gw, url = serve_gateway(routes, log=log, GATEWAY_MODEL_THREADS="1", GATEWAY_LOG_LEVEL="warning")
        try:
            rows = run(items, url)
        finally:
            stop(gw)
            large.stop_thread()
            log.close()
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
