"""Learning curves: an unseen family's labels added in arrival order, as `gateway train --data` adds an
operator's labels, and APGR on the family's later requests (numpy; offline only).

Per left-out family: its rows in `orders` fixed random arrival orders (seeds 1000, 1001, ...); the
last 30% of each order are the later requests scored; the first n arrive as labels, n in 0, 100, 500,
2000, capped at what the family has before its later requests. Routers: prompt length; the v2
weights shipped before (they saw the family's train rows); `gateway train --replace` on the n labels
alone (the meaning of `--data` before issue 21); the family model fitted without the family, plus
its n labels counted (`add_labels`: "counts only"), and that plus the operator layer fitted on
them (`gateway train --data`: "family model"). A cell is the mean over the orders [the 2.5-97.5
percentiles of the mean of each order's resampled APGR].

"RouterBench mix": an operator whose traffic is ARC, MBPP and Winogrande at once, all unseen (the
family model's prior fitted on arena-bench's train rows only), 2,000 labels reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.offline.family_eval import Bench, Cell

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.families import FamilyModel

__all__ = ["CURVE_N", "EVAL_SHARE", "ROUTERS", "Curve", "family_curve", "mix_curve"]

CURVE_N = (0, 100, 500, 2000)
EVAL_SHARE = 0.3
MIN_V2 = 50  # labels below which a v2 fit on them alone is not tried
ROUTERS = (
    "prompt length",
    "v2 shipped (saw it)",
    "v2 on the labels alone",
    "family model, counts only",
    "family model",
)


@dataclass
class Curve:
    """Per (router, n): each order's scores on its later requests."""

    name: str
    points: list[int] = field(default_factory=list)
    later: int = 0  # requests scored per order
    items: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def add(self, router: str, n: int, scores: np.ndarray, rows: np.ndarray) -> None:
        self.items.setdefault((router, n), []).append((scores[rows], rows))

    def cell(
        self, bench: Bench, router: str, n: int, n_boot: int, sub: np.ndarray | None = None
    ) -> Cell | None:
        import numpy as np

        from gateway.offline.stats import apgr

        got = self.items.get((router, n))
        if not got:
            return None
        qs, ql = bench.rows.q_small, bench.rows.q_large
        rng = np.random.default_rng(11)
        points, boots = [], []
        for s, rows in got:
            keep = np.ones(len(rows), dtype=bool) if sub is None else sub[rows]
            s, rows = s[keep], rows[keep]
            points.append(apgr(s, qs[rows], ql[rows]))
            b = []
            for _ in range(n_boot):
                i = rng.integers(0, len(rows), len(rows))
                b.append(apgr(s[i], qs[rows][i], ql[rows][i]))
            boots.append(b)
        if n_boot <= 0:
            return Cell(float(np.mean(points)), float("nan"), float("nan"))
        lo, hi = np.percentile(np.mean(np.array(boots), axis=0), [2.5, 97.5])
        return Cell(float(np.mean(points)), float(lo), float(hi))


def _points(pool: int) -> list[int]:
    return sorted({min(n, pool) for n in CURVE_N})


def _run(
    bench: Bench,
    name: str,
    prior: FamilyModel,
    orders: list[tuple[np.ndarray, np.ndarray]],
    progress: Callable[[str], None] | None,
) -> Curve:
    curve = Curve(name)
    for o, (pool, later) in enumerate(orders):
        curve.points = _points(len(pool))
        curve.later = len(later)
        for n in curve.points:
            labels = pool[:n]
            counted = bench.add(prior, labels, layer=False) if n else prior
            curve.add("family model, counts only", n, bench.scores(counted)[0], later)
            model = bench.add(prior, labels) if n else prior
            curve.add("family model", n, bench.scores(model)[0], later)
            curve.add("prompt length", n, bench.length, later)
            curve.add("v2 shipped (saw it)", n, bench.v2_shipped, later)
            if n >= MIN_V2:
                curve.add("v2 on the labels alone", n, bench.v2_on(labels), later)
        if progress is not None:
            progress(f"{name}: order {o + 1}/{len(orders)}")
    return curve


def _split(idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    perm = np.random.default_rng(seed).permutation(idx)
    n_later = round(EVAL_SHARE * len(perm))
    return perm[: len(perm) - n_later], perm[len(perm) - n_later :]


def family_curve(
    bench: Bench, task: str, prior: FamilyModel, orders: int, progress: Callable[[str], None] | None = None
) -> Curve:
    """`prior`: the family model fitted without `task`."""
    idx = bench.held(task)
    return _run(bench, task, prior, [_split(idx, 1000 + o) for o in range(orders)], progress)


def mix_curve(bench: Bench, orders: int, progress: Callable[[str], None] | None = None) -> Curve:
    import numpy as np

    prior = bench.fit(bench.train_mask(None) & (bench.enc.task == "arena"))
    idx = np.flatnonzero((bench.enc.task != "arena") & bench.ok)
    return _run(bench, "RouterBench mix", prior, [_split(idx, 2000 + o) for o in range(orders)], progress)
