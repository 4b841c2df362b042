"""Quality kept against cost, for the thresholds a decision log can replay.

Take a cheaper tier's requests that carry a difficulty score and a shadow verdict. A threshold t on
difficulty keeps the requests scored ≤ t on that tier (their quality: the verdict, 1 when the answer
was as good as the reference's or tied, 0 when the reference's was better) and sends the rest to the
reference tier (quality 1 by definition, at the reference's cost: cost + savings). Sweeping t from
below every score (everything to the reference: quality 1, cost 1) to the highest score logged (what
the gateway did: the current operating point) traces what lowering the tier's `max_difficulty` would
buy. Raising it cannot be replayed: the requests above the threshold in force were never answered by
the cheaper tier, so nothing says how it would have done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.offline.report.log import Label, Request
from gateway.offline.stats import wilson

__all__ = ["MAX_POINTS", "Point", "good", "threshold_curve"]

MAX_POINTS = 101  # thresholds kept for the plot and the table: quantiles of the scores, and the ends


@dataclass(frozen=True, slots=True)
class Point:
    threshold: float | None  # the highest difficulty kept on the tier; None: nothing kept
    kept: float  # share of these requests the tier keeps
    cost: float | None  # relative to sending all of them to the reference; None: the reference is free
    quality: float  # expected share answered as well as by the reference
    lo: float  # 95% interval of `quality` (Wilson on the kept requests' verdicts)
    hi: float


def good(verdict: Label) -> bool:
    """A verdict that keeps quality: the cheaper answer was as good as the reference's, or tied."""
    return verdict.value != "reference_better"


def threshold_curve(rows: Sequence[Request], verdicts: dict[str, Label]) -> list[Point]:
    """Points from nothing kept to everything kept, for one tier's judged, scored requests."""
    judged = sorted(
        (r for r in rows if r.difficulty is not None and r.id in verdicts), key=lambda r: r.difficulty or 0.0
    )
    n = len(judged)
    if n == 0:
        return []
    total_ref = sum(r.reference_usd for r in judged)
    # Running sums over the requests in score order: kept = the first k.
    ok = [0] * (n + 1)
    kept_usd = [0.0] * (n + 1)
    ref_usd = [0.0] * (n + 1)
    for i, r in enumerate(judged):
        ok[i + 1] = ok[i] + good(verdicts[r.id])
        kept_usd[i + 1] = kept_usd[i] + r.cost_usd
        ref_usd[i + 1] = ref_usd[i] + r.reference_usd
    # A threshold keeps every request of its score: only cuts between distinct scores are possible.
    cuts = [k for k in range(1, n) if judged[k - 1].difficulty != judged[k].difficulty]
    if len(cuts) > MAX_POINTS - 2:
        step = len(cuts) / (MAX_POINTS - 2)
        cuts = sorted({cuts[int(i * step)] for i in range(MAX_POINTS - 2)})
    points = []
    for k in (0, *cuts, n):
        rate = wilson(ok[k], k)
        moved = n - k
        cost = (kept_usd[k] + ref_usd[n] - ref_usd[k]) / total_ref if total_ref > 0 else None
        quality = (ok[k] + moved) / n
        lo, hi = ((rate.lo * k + moved) / n, (rate.hi * k + moved) / n) if k else (1.0, 1.0)
        points.append(Point(judged[k - 1].difficulty if k else None, k / n, cost, quality, lo, hi))
    return points
