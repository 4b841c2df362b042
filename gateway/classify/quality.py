"""Router quality as ../shared/data/README.md defines it (numpy; offline only).

Send the top x share of prompts by score to the large model: q(x) is the mean quality, PGR(x) the share
of the small→large gap recovered, APGR its area over x in [0, 1] (random routing: 0.5), CPT(p) the
least x with PGR ≥ p, calls@95% the least x with q(x) ≥ 95% of the large model's quality; prompts
with equal scores are routed in random order (the expected curve). Reliability Reliability
(calibration) of a probability: binned observed rates and the expected calibration error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Bin", "Metrics", "apgr", "bootstrap", "interval", "metrics", "reliability"]


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
