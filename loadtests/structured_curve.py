"""The learning curve on traffic whose families differ widely: the embedded model's own graded drafts
as an operator's labels.

The benchmark families (routing-eval.md) are few-shot templates with little sub-structure, so what
labels can teach inside them is small. Here the labels are SmolLM2-135M's greedy drafts of the ten
blind question sets, graded against known answers (`blind_labels.jsonl`: sets 1-4,
`blind_labels_later.jsonl`: sets 5-10, both written by `live_auc.py --out`): 2,000 short
questions of 100 families, right 0 times in 20 in some families and 16 in others, as the subjects
of a knowledge test differ for a mid-size model. Label 1: the draft fell short. A family's rate
is what a router could learn here, so the routers are set against a ceiling that knows each
question's family.

In `--orders` seeded arrival orders, the last 30% are the later requests scored; the first n
arrive as labels (n = 0, 100, 500 and all the rest). Routers:

- prompt length (its tokens, as routing-eval.md counts them);
- `gateway train --data` (the shipped counts, the n labels added, the operator layer fitted on
  them), and its counts alone; and the counts added to the shipped families only, none split and
  no slope refitted, which is all that learning while serving moves (docs/quality.md, section 7;
  its guard rails and bounded within-family term are not simulated);
- the gateway's refit while serving (`GATEWAY_REFIT_LABELS`): the n labels as decision-log lines
  with the scorer inputs a gateway logs and ratings, read and added as `gateway train --from-log`
  does (learning/refit.py runs that command);
- `gateway train --replace` (the v2 recipe on the n labels alone);
- the prototype issue 21 quotes: spherical k-means (16 or 32 clusters) on the labelled prompts'
  embedding, each cluster's rate shrunk towards the overall rate by 20 pseudo-labels, plus 0.3
  times the log length standardised within the cluster;
- each question's true family's rate, shrunk alike (a ceiling: no router is told the family);
- and a perfect ranking (every draft that fell short first), whose APGR is the most these labels
  allow: 1 - (share that fell short) / 2, since the large side is taken as always right.

Also shown: the share of the later requests the operator layer reached (it applies only in
families that hold at least a few of its labels: operator_fit.GATE_MIN).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/structured_curve.py [--orders 10]

About 2.7 s an order on this 2-core machine (27 s for 10 orders, the encoding included; the refit's
row, which writes and reads a decision log at each point, is most of it).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.classify.families import FamilyModel
from gateway.classify.features import profile
from gateway.classify.inputs import scorer_inputs
from gateway.classify.scorer import load_weights
from gateway.classify.view import view_of_body
from gateway.offline.data import operator_example
from gateway.offline.family_eval import Bench
from gateway.offline.family_fit import add_labels, spherical_kmeans
from gateway.offline.family_train import add_log, settings_of
from gateway.offline.report.labels import label_rows
from gateway.offline.report.log import labelled_ids, read_log

HERE = Path(__file__).resolve().parent
FILES = (HERE / "blind_labels.jsonl", HERE / "blind_labels_later.jsonl")
KAPPA = 20.0
ROUTERS = (
    "prompt length",
    "`train --data` (family model)",
    "its counts alone",
    "counts in the shipped families only",
    "the refit while serving (`--from-log` on logged inputs)",
    "`train --replace` (v2 on the labels alone)",
    "prototype, k-means 16",
    "prototype, k-means 32",
    "the true family's rate (a ceiling)",
    "a perfect ranking",
)


def _inputs(question: str) -> dict[str, object]:
    view = view_of_body({"messages": [{"role": "user", "content": question}]})
    return scorer_inputs(view, profile(view))


class Rows:
    """The graded drafts as an operator's labelled rows (label 1: the draft fell short), encoded once
    (family_eval.Bench, with the settings the shipped counts were fitted with)."""

    def __init__(self, files: list[Path], prior: FamilyModel) -> None:
        items = [json.loads(line) for f in files for line in f.read_text().splitlines() if line]
        self.bench = Bench(
            [operator_example(r["question"], 1 - r["right"]) for r in items], "mistral", settings_of(prior)
        )
        self.y = self.bench.rows.y
        unit = self.bench.enc.mean_emb
        self.unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
        self.log_len = np.log1p(self.bench.length)
        self.family = np.array([f"{r['set']}/{r['family']}" for r in items])
        self.inputs = [_inputs(r["question"]) for r in items]

    def refit(self, prior: FamilyModel, pool: np.ndarray, tmp: Path) -> FamilyModel:
        """The pool as a gateway's decision log (each request with its scorer inputs, then its rating),
        added to the prior as `gateway train --from-log` adds a log."""
        lines = []
        for k, i in enumerate(pool):
            rid, ts = f"req-{i}", 1_700_000_000.0 + k
            request = {"ts": ts, "kind": "request", "id": rid, "route": "auto", "outcome": "ok"}
            logged = {"tier": "small", "reference_tier": "large", "features": self.inputs[i]}
            lines.append(json.dumps({**request, **logged}))
            rating = {"ts": ts + 0.5, "kind": "feedback", "id": rid, "route": "auto", "tier": "small"}
            lines.append(json.dumps({**rating, "label": "bad" if self.y[i] else "good"}))
        path = tmp / "decisions.jsonl"
        path.write_text("\n".join(lines) + "\n")
        rows = label_rows(read_log([path], only=labelled_ids([path])), None)
        found = [(r.ts, i, y) for r, i, y in zip(rows.requests, rows.inputs, rows.labels, strict=True)]
        return add_log(prior, [path.name], found)[0]

    def reached(self, model: FamilyModel) -> np.ndarray:
        """Which rows the model's operator layer applies to."""
        layer, leaf = model.operator, self.bench.scores(model)[1]
        if layer is None:
            return np.zeros(len(leaf), dtype=bool)
        return np.array([layer.applies(model.path(str(f))) for f in leaf])

    def shrunk(self, groups: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """Each group's shortfall rate among the labels, shrunk towards theirs overall, as log-odds."""
        overall = self.y[pool].mean()
        out = np.zeros(len(self.y))
        for g in np.unique(groups):
            mine = groups[pool] == g
            rate = (self.y[pool][mine].sum() + KAPPA * overall) / (mine.sum() + KAPPA)
            out[groups == g] = math.log(rate / (1.0 - rate))
        return out

    def prototype(self, pool: np.ndarray, k: int) -> np.ndarray:
        centroids, _ = spherical_kmeans(self.unit[pool], min(k, len(pool) // 5), "prototype")
        cluster = np.argmax(self.unit @ centroids.T, axis=1)
        within = np.zeros(len(self.y))
        for c in np.unique(cluster):
            m = cluster == c
            spread = self.log_len[m].std()
            within[m] = (self.log_len[m] - self.log_len[m].mean()) / (spread if spread > 0 else 1.0)
        return self.shrunk(cluster, pool) + 0.3 * within


def run(rows: Rows, prior: FamilyModel, orders: int) -> tuple[dict[tuple[str, int], list[float]], list[int]]:
    bench = rows.bench
    unsplit = replace(bench.cfg, split_min=2**62, beta_min=None)  # serving neither splits nor refits
    got: dict[tuple[str, int], list[float]] = {}
    points: list[int] = []
    for o in range(orders):
        perm = np.random.default_rng(1000 + o).permutation(len(rows.y))
        n_later = round(0.3 * len(perm))
        pool_all, later = perm[:-n_later], perm[-n_later:]
        points = sorted({0, 100, 500, len(pool_all)})

        def put(router: str, n: int, scores: np.ndarray, later: np.ndarray = later) -> None:
            got.setdefault((router, n), []).append(bench.apgr(scores, later))

        for n in points:
            pool = pool_all[:n]
            put("prompt length", n, bench.length)
            put("a perfect ranking", n, rows.y)
            if n == 0:
                at_zero = bench.scores(prior)[0]
                for router in (
                    "`train --data` (family model)",
                    "its counts alone",
                    "counts in the shipped families only",
                    "the refit while serving (`--from-log` on logged inputs)",
                ):
                    put(router, 0, at_zero)
                continue
            put("its counts alone", n, bench.scores(bench.add(prior, pool, layer=False))[0])
            shipped_only = add_labels(prior, bench.x[pool], bench.enc.mean_emb[pool], rows.y[pool], unsplit)
            put("counts in the shipped families only", n, bench.scores(shipped_only)[0])
            with tempfile.TemporaryDirectory() as tmp:
                refit = rows.refit(prior, pool, Path(tmp))
            put("the refit while serving (`--from-log` on logged inputs)", n, bench.scores(refit)[0])
            model = bench.add(prior, pool)
            put("`train --data` (family model)", n, bench.scores(model)[0])
            got.setdefault(("reached", n), []).append(float(rows.reached(model)[later].mean()))
            put("`train --replace` (v2 on the labels alone)", n, bench.v2_on(pool))
            put("prototype, k-means 16", n, rows.prototype(pool, 16))
            put("prototype, k-means 32", n, rows.prototype(pool, 32))
            put("the true family's rate (a ceiling)", n, rows.shrunk(rows.family, pool))
    return got, points


def table(got: dict[tuple[str, int], list[float]], points: list[int], orders: int) -> str:
    def cell(values: list[float] | None, pct: bool = False) -> str:
        if not values:
            return "-"
        m, lo, hi = float(np.mean(values)), min(values), max(values)
        if pct:
            return f"{m:.0%}"
        return f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if orders > 1 else f"{m:.3f}"

    head = "| router | " + " | ".join(f"{n} labels" for n in points) + " |"
    lines = [head, "|---|" + "---|" * len(points)]
    for r in ROUTERS:
        lines.append(f"| {r} | " + " | ".join(cell(got.get((r, n))) for n in points) + " |")
    lines.append(
        "| later requests the operator layer reached | "
        + " | ".join(cell(got.get(("reached", n)), pct=True) for n in points)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=10)
    ap.add_argument("--labels", type=Path, nargs="+", default=list(FILES), help="graded drafts (JSONL)")
    args = ap.parse_args()
    prior = load_weights(None)
    assert isinstance(prior, FamilyModel), "the shipped weights are v3"
    rows = Rows(args.labels, prior)
    short = rows.y.mean()
    print(
        f"{len(rows.y)} questions, {len(set(rows.family))} families, {short:.0%} fell short; APGR on the "
        f"later 30% of {args.orders} arrival orders, mean [least, most over the orders]\n"
    )
    got, points = run(rows, prior, args.orders)
    print(table(got, points, args.orders))


if __name__ == "__main__":
    main()
