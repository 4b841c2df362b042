"""What an unknown radius would do: the family model refitted on the shared data with requests far
from every top-level centroid sent to the unknown family `u` (ordered by length alone), against the
shipped setting (no radius).

The radius is the q-quantile of the cosines of a family's own training prompts to its centroid
(`Config.radius_q`). For each q: the held-out rows (in distribution), each benchmark family left out
(fitted without it: APGR against prompt length, share of it in `u`), and the probe prompts of
order_probe.py (no labels: share in `u`, Kendall's tau with length, the writer's notes).

    .venv/bin/python loadtests/radius_probe.py [--data-dir ../shared/data] [--q 0.02 0.05 0.1]

About 15 s a setting on this 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from order_probe import HERE, TEMPLATES, measured, notes, probes

from gateway.classify.families import UNKNOWN
from gateway.classify.scorer import load_scorer
from gateway.offline.data import load_arena, load_routerbench
from gateway.offline.family_eval import Bench
from gateway.offline.family_fit import Config
from gateway.offline.family_train import shipped_model
from gateway.offline.stats import kendall_tau

TASKS = ("arc-challenge", "mbpp", "winogrande", "arena")


def in_u(leaf: np.ndarray) -> np.ndarray:
    return np.array([str(f) == UNKNOWN for f in leaf])


def benchmark_rows(bench: Bench, cfg: Config) -> list[str]:
    model = bench.fit(bench.train_mask(None), cfg)
    s, leaf = bench.scores(model)
    u = in_u(leaf)
    test = np.flatnonzero((bench.enc.split != "train") & bench.ok)
    cells = [f"pooled {bench.apgr(s, test):.3f} (u {u[test].mean():.0%})"]
    for t in TASKS:
        rows = test[bench.enc.task[test] == t]
        cells.append(f"{t} {bench.apgr(s, rows):.3f}")
    out = [f"| in distribution (held-out rows) | {'; '.join(cells)} |"]
    for t in TASKS:
        s, leaf = bench.scores(bench.fit(bench.train_mask(t), cfg))
        idx = bench.held(t)
        out.append(
            f"| {t} left out | {bench.apgr(s, idx):.3f} against length {bench.apgr(bench.length, idx):.3f}"
            f" (u {in_u(leaf[idx]).mean():.0%}) |"
        )
    return out


def probe_rows(scorer_path: Path) -> list[str]:
    scorer = load_scorer(scorer_path)
    out = []
    for name, items in probes().items():
        forms = [("plain", lambda p: p)] + ([("few-shot", TEMPLATES[name])] if name in TEMPLATES else [])
        for form, wrap in forms:
            score, length, hits = measured(scorer, items, wrap)
            u = np.mean([hit is not None and hit.family == UNKNOWN for hit in hits])
            out.append(
                f"| probe {name}, {form} | u {u:.0%}; tau with length {kendall_tau(score, length):.2f}; "
                f"{notes(items, score, length)} |"
            )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--q", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    args = ap.parse_args()
    examples = load_routerbench(next(args.data_dir.glob("routerbench*.csv.gz"))) + load_arena(
        next(args.data_dir.glob("arenabench*.csv.gz"))
    )
    bench = Bench(examples, "mixtral")
    with tempfile.TemporaryDirectory() as tmp:
        for q in [None, *args.q]:
            cfg = Config(radius_q=q)
            path = Path(tmp) / f"radius-{q}.json"
            path.write_text(shipped_model(examples, "mixtral", cfg).dumps())
            title = "no radius (shipped)" if q is None else f"radius q = {q}"
            print(f"\n### {title}\n\n| rows | APGR, or how the score orders them |\n|---|---|")
            print("\n".join(benchmark_rows(bench, cfg) + probe_rows(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
