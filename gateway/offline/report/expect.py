"""Expected quality kept of a tier mix, from the log's verdicts, by tier and difficulty.

A tier's quality kept falls as difficulty rises, so a tier's average would misprice the requests a
threshold moves (those next to it, harder than the average). Each cheaper tier's judged requests are
cut into bins of equal count by their difficulty (at least MIN_BIN each, at most BINS); a request is
expected to fare as the judged ones of its bin on that tier, a request without a score as the tier's
average, and on the reference tier it keeps quality 1 by definition. Outside the scores a tier was
judged on (a raised threshold), the nearest bin stands in: an optimistic guess, and said to be one.
Intervals add up the bins' Wilson bounds, as if every bin erred the same way: wide, never narrow.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.offline.report.curve import good
from gateway.offline.report.log import Log
from gateway.offline.stats import Rate, wilson

__all__ = ["BINS", "MIN_BIN", "Band", "QualityModel", "Weights"]

BINS = 10
MIN_BIN = 50
_ONE = Rate(1, 1, 1.0, 1.0, 1.0)

Key = tuple[str, int]  # (tier, bin); bin -1: the tier's average
Weights = Mapping[Key, float]  # requests (or expected fractions of them) at each key


@dataclass(frozen=True, slots=True)
class Band:
    p: float
    lo: float
    hi: float


@dataclass(frozen=True)
class QualityModel:
    rates: dict[Key, Rate]
    edges: dict[str, list[float]]  # per tier: the upper difficulty of each bin but the last
    judged_range: dict[str, tuple[float, float]]
    references: frozenset[str]

    @classmethod
    def from_log(cls, log: Log, references: set[str]) -> QualityModel:
        judged: defaultdict[str, list[tuple[float | None, bool]]] = defaultdict(list)
        for r in log.requests:
            v = log.verdicts.get(r.id)
            if v is not None and r.tier is not None and r.tier not in references:
                judged[r.tier].append((r.difficulty, good(v)))
        rates: dict[Key, Rate] = {}
        edges: dict[str, list[float]] = {}
        ranges: dict[str, tuple[float, float]] = {}
        for tier, rows in judged.items():
            rates[(tier, -1)] = wilson(sum(ok for _, ok in rows), len(rows))
            scored = sorted((d, ok) for d, ok in rows if d is not None)
            if not scored:
                continue
            bins = max(1, min(BINS, len(scored) // MIN_BIN))
            cuts = [len(scored) * (i + 1) // bins for i in range(bins)]
            edges[tier] = [scored[c - 1][0] for c in cuts[:-1]]
            start = 0
            for i, end in enumerate(cuts):
                chunk = scored[start:end]
                rates[(tier, i)] = wilson(sum(ok for _, ok in chunk), len(chunk))
                start = end
            ranges[tier] = (scored[0][0], scored[-1][0])
        return cls(rates, edges, ranges, frozenset(references))

    def key(self, tier: str, difficulty: float | None) -> Key | None:
        """Where a request on `tier` at `difficulty` is priced; None: nothing known of the tier."""
        if tier in self.references:
            return (tier, 0)
        if tier not in self.edges:
            return None
        if difficulty is None or tier not in self.judged_range:
            return (tier, -1)
        return (tier, bisect.bisect_left(self.edges[tier], difficulty))

    def extrapolated(self, tier: str, difficulty: float | None) -> bool:
        """Above every score the tier was judged on: the nearest bin is a guess."""
        span = self.judged_range.get(tier)
        return span is not None and difficulty is not None and difficulty > span[1]

    def rate(self, key: Key) -> Rate:
        return _ONE if key[0] in self.references else self.rates[key]

    def expected(self, weights: Weights, n: float) -> Band | None:
        if not weights or n <= 0:
            return None
        parts = [(w, self.rate(k)) for k, w in weights.items()]
        return Band(*(sum(w * getattr(r, a) for w, r in parts) / n for a in ("p", "lo", "hi")))

    def delta(self, old: Weights, new: Weights, n: float) -> Band | None:
        coef = {k: (new.get(k, 0.0) - old.get(k, 0.0)) / n for k in {*old, *new}} if n > 0 else {}
        if not coef:
            return None
        rates = {k: self.rate(k) for k in coef}
        p = sum(c * rates[k].p for k, c in coef.items())
        lo = sum(c * (rates[k].lo if c > 0 else rates[k].hi) for k, c in coef.items())
        hi = sum(c * (rates[k].hi if c > 0 else rates[k].lo) for k, c in coef.items())
        return Band(p, lo, hi)

    def tier_rates(self) -> dict[str, Rate]:
        """Each cheaper tier's average (the reference tiers count as 1)."""
        out = {t: r for (t, b), r in self.rates.items() if b == -1}
        out.update({t: _ONE for t in self.references})
        return out
