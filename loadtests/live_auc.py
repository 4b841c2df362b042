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

    .venv/bin/python loadtests/live_auc.py [--questions FILE] [--limit N] [--out FILE]

About 1 s a question on this 2-core machine (one llama.cpp thread).
"""

from __future__ import annotations

import argparse
import json
import random
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
  - {{model: judged, policy: cascade, draft: small, escalate: [large], verify: {{min_confidence: 0}}}}
"""


def auc(scores: list[float], right: list[bool]) -> float | None:
    """P(a right draft scores above a wrong one), ties counted half; None without both kinds."""
    pos = [s for s, r in zip(scores, right, strict=True) if r]
    neg = [s for s, r in zip(scores, right, strict=True) if not r]
    if not pos or not neg:
        return None
    order = sorted((s, r) for s, r in zip(scores, right, strict=True))
    # rank-sum with average ranks for ties
    ranks: dict[float, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and order[j + 1][0] == order[i][0]:
            j += 1
        ranks[order[i][0]] = (i + j) / 2 + 1
        i = j + 1
    total = sum(ranks[s] for s in pos)
    return (total - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def interval(scores: list[float], right: list[bool], n: int = 500, seed: int = 7) -> tuple[float, float]:
    rng = random.Random(seed)
    idx = range(len(scores))
    vals = []
    for _ in range(n):
        pick = [rng.choice(idx) for _ in idx]
        a = auc([scores[k] for k in pick], [right[k] for k in pick])
        if a is not None:
            vals.append(a)
    vals.sort()
    return vals[int(0.025 * len(vals))], vals[int(0.975 * len(vals)) - 1]


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
    signals = {
        "verifier (x-gateway-confidence)": lambda r: r["confidence"],
        "pre-generation (1 - x-gateway-difficulty)": lambda r: -r["difficulty"],
        "prompt length (shorter = right)": lambda r: -r["chars"],
    }
    right = [bool(r["right"]) for r in rows]
    out = [
        f"{len(rows)} drafts, {sum(right)} right ({sum(right) / len(rows):.2f}), "
        f"{len({r['family'] for r in rows})} families",
        "",
        "| signal | AUC, pooled [95% CI] |",
        "|---|---|",
    ]
    for name, f in signals.items():
        s = [f(r) for r in rows]
        a = auc(s, right)
        lo, hi = interval(s, right)
        out.append(f"| {name} | {a:.3f} [{lo:.3f}, {hi:.3f}] |" if a is not None else f"| {name} | - |")
    out += [
        "",
        "| family | drafts | right | verifier AUC | pre-generation AUC | length AUC | mean confidence |",
    ]
    out.append("|---|---|---|---|---|---|---|")
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["family"]].append(r)
    for fam, rs in by.items():
        rt = [bool(r["right"]) for r in rs]
        cells = []
        for f in signals.values():
            a = auc([f(r) for r in rs], rt)
            cells.append("-" if a is None else f"{a:.3f}")
        conf = sum(r["confidence"] for r in rs) / len(rs)
        out.append(f"| {fam} | {len(rs)} | {sum(rt) / len(rs):.2f} | {' | '.join(cells)} | {conf:.2f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=HERE / "blind_questions.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="the first N questions only")
    ap.add_argument("--out", type=Path, help="write each draft's row here (JSONL)")
    args = ap.parse_args()
    items = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    if args.limit:
        items = items[: args.limit]
    large = FakeUpstream(model="hosted-model", reply="escalated")
    large.start_in_thread()
    with tempfile.TemporaryDirectory() as tmp:
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(large=large.base_url))
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
