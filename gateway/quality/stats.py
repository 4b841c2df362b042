"""Shares with 95% intervals (pure Python: the report reads a log without numpy), and the ranking
measure and paired bootstrap a retrained scorer is compared by (numpy, like training)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Rate", "paired_bootstrap", "wilson"]

_Z = 1.959964  # two-sided 95%


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
