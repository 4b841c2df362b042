"""Every statistic the offline tools report, in one place (numpy, imported lazily, except `wilson`).

Router quality as the routing data defines it (docs/routing-eval.md): send the top x share of prompts
by score to the large model: q(x) is the mean quality, PGR(x) the share of the small→large gap
recovered, APGR its area over x in [0, 1] (random routing: 0.5), CPT(p) the least x with PGR ≥ p,
calls@95% the least x with q(x) ≥ 95% of the large model's quality; prompts with equal scores are
routed in random order (the expected curve). Reliability (calibration) of a probability: binned
observed rates and the expected calibration error. Ranking: AUC. Shares with Wilson intervals (pure
Python: the report reads a log without numpy), bootstrap intervals, and the paired bootstrap a
retrained scorer is compared by.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Bin",
    "Metrics",
    "Rate",
    "apgr",
    "auc",
    "boot_ci",
    "bootstrap",
    "ece",
    "interval",
    "kendall_tau",
    "log_loss",
    "metrics",
    "paired_bootstrap",
    "reliability",
    "reliability_table",
    "wilson",
]

_Z = 1.959964  # two-sided 95%


@dataclass(frozen=True)
class Metrics:
    apgr: float
    cpt50: float
    cpt80: float
    calls95: float


def _curve(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> np.ndarray:
    """q at x = 0, 1/n, ..., 1. Prompts with equal scores go up in random order: the curve is the
    expectation over that order (each takes its tie group's mean gain), not the file's order."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    s, g = scores[order], (ql - qs)[order]
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    counts = np.diff(np.append(starts, len(s)))
    g = np.repeat(np.add.reduceat(g, starts) / counts, counts)
    gain = np.concatenate([[0.0], np.cumsum(g)])
    q: np.ndarray = qs.mean() + gain / len(qs)
    return q


def _pgr(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    q = _curve(scores, qs, ql)
    x = np.linspace(0.0, 1.0, len(q))
    span = ql.mean() - qs.mean()
    pgr = (q - qs.mean()) / span if span > 1e-9 else np.ones_like(q)
    return x, q, pgr


def apgr(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> float:
    import numpy as np

    x, _, pgr = _pgr(scores, qs, ql)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(x)))


def metrics(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray) -> Metrics:
    import numpy as np

    x, q, pgr = _pgr(scores, qs, ql)
    area = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(x)))

    def first(mask: np.ndarray) -> float:
        idx = np.flatnonzero(mask)
        return float(x[idx[0]]) if len(idx) else 1.0

    return Metrics(area, first(pgr >= 0.5), first(pgr >= 0.8), first(q >= 0.95 * ql.mean()))


def bootstrap(scores: np.ndarray, qs: np.ndarray, ql: np.ndarray, n: int, seed: int) -> list[Metrics]:
    """The metrics on n resamples of the rows (with replacement), for 95% intervals."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = rng.integers(0, len(qs), len(qs))
        out.append(metrics(scores[i], qs[i], ql[i]))
    return out


def interval(values: Sequence[float]) -> tuple[float, float]:
    import numpy as np

    lo, hi = np.percentile(np.asarray(values), [2.5, 97.5])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    predicted: float  # mean probability in the bin
    observed: float  # share of positives in the bin


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[list[Bin], float]:
    """Equal-width bins of the predicted probability, and ECE = Σ (n_b / n) |observed_b - predicted_b|."""
    import numpy as np

    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        pred, obs = float(p[m].mean()), float(y[m].mean())
        out.append(Bin(float(edges[b]), float(edges[b + 1]), int(m.sum()), pred, obs))
        ece += m.sum() / len(p) * abs(obs - pred)
    return out, float(ece)


def ece(conf: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the mean |observed - predicted| over equal-width bins, by count."""
    return reliability(conf, y, bins)[1]


def reliability_table(conf: np.ndarray, y: np.ndarray, bins: int = 5) -> str:
    import numpy as np

    idx = np.minimum((conf * bins).astype(int), bins - 1)
    lines = ["| confidence | drafts | mean confidence | share right |", "|---|---|---|---|"]
    for b in range(bins):
        m = idx == b
        if m.any():
            lo, hi = b / bins, (b + 1) / bins
            lines.append(f"| {lo:.1f}-{hi:.1f} | {int(m.sum())} | {conf[m].mean():.3f} | {y[m].mean():.3f} |")
    return "\n".join(lines)


def boot_ci(fn: Callable[[np.ndarray], float], n: int, size: int, seed: int = 7) -> str:
    import numpy as np

    if n == 0:
        return ""
    rng = np.random.default_rng(seed)
    vals = [fn(rng.integers(0, size, size)) for _ in range(n)]
    lo, hi = np.nanpercentile(np.asarray(vals), [2.5, 97.5])
    return f"[{lo:.3f}, {hi:.3f}]"


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """P(a random positive outranks a random negative), ties counted half."""
    import numpy as np

    pos, neg = scores[y == 1], scores[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    # average ranks over ties
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inv, ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def kendall_tau(a: np.ndarray, b: np.ndarray, block: int = 512) -> float:
    """Kendall's tau-b between two orderings (ties in either counted as neither agreeing nor not):
    1.0 when a orders the rows exactly as b does. O(n²) in blocks: for a few thousand rows."""
    import numpy as np

    n = len(a)
    if n < 2:
        return float("nan")
    conc = disc = ties_a = ties_b = 0.0
    for i in range(0, n, block):
        da = np.sign(a[i : i + block, None] - a[None, :])
        db = np.sign(b[i : i + block, None] - b[None, :])
        prod = da * db
        conc += float((prod > 0).sum())
        disc += float((prod < 0).sum())
        ties_a += float(((da == 0) & (db != 0)).sum())
        ties_b += float(((db == 0) & (da != 0)).sum())
    # every unordered pair was seen twice (i, j and j, i): the ratio is unchanged
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom > 0 else float("nan")


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass(frozen=True, slots=True)
class Rate:
    """k of n, with the Wilson score interval: unlike p ± 1.96 se, it stays inside [0, 1] and keeps its
    coverage near 0 and 1, where the quality kept of a good cheap tier lives."""

    k: float
    n: int
    p: float
    lo: float
    hi: float

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a (none)"
        return f"{self.p:.1%} [{self.lo:.1%}, {self.hi:.1%}] of {self.n:,}"


def wilson(k: float, n: int) -> Rate:
    if n <= 0:
        return Rate(k, 0, math.nan, 0.0, 1.0)
    p = k / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Rate(k, n, p, max(0.0, centre - half), min(1.0, centre + half))


def paired_bootstrap(
    metric: Callable[[np.ndarray, np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    n: int = 500,
    seed: int = 0,
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """95% intervals of metric(a), metric(b) and metric(a) - metric(b), resampling the rows together:
    the difference's interval is what says whether one scorer beats the other on these rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ma, mb, diff = [], [], []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        va, vb = metric(a[i], y[i]), metric(b[i], y[i])
        if math.isnan(va) or math.isnan(vb):
            continue  # a resample with one class only
        ma.append(va)
        mb.append(vb)
        diff.append(va - vb)

    def ci(v: list[float]) -> tuple[float, float]:
        if not v:
            return math.nan, math.nan
        lo, hi = np.percentile(np.asarray(v), [2.5, 97.5])
        return float(lo), float(hi)

    return ci(ma), ci(mb), ci(diff)
