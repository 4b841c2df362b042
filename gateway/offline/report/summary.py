"""What a decision log says: tier mix, cost against always-the-reference, quality kept per tier from
shadow verdicts and feedback, budget misses, and each cheaper tier's quality/cost curve.

Definitions (docs/quality.md says the same):
- cost against always-the-reference: Σ cost_usd against Σ (cost_usd + savings_usd). Savings are what
  the same tokens would have cost on the reference tier, less what was spent (never below 0), so the
  second sum is the bill had every request gone to the reference tier;
- quality kept of a tier: the share of its judged requests whose verdict is `cheaper_as_good` or
  `tie`; "wrong" is the share `reference_better`: the router sent it to a tier that fell short;
- rated good: the share of a tier's rated requests whose latest rating is good;
- a budget miss: a request with a latency budget that took longer, or timed out; a planned miss: the
  router already expected none of the capable tiers to fit (reason `budget_miss_*`).
Every share has its 95% Wilson interval.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gateway.offline.report.curve import Point, threshold_curve
from gateway.offline.report.families import FamilyRow, family_rows
from gateway.offline.report.log import VERDICTS, Log, Request
from gateway.offline.stats import Rate, wilson

__all__ = ["Summary", "TierRow", "summarize"]


@dataclass(frozen=True)
class TierRow:
    tier: str  # "(none)": nothing answered
    requests: int
    share: float
    cost_usd: float
    reference_usd: float
    verdicts: dict[str, int]  # VERDICTS → count
    kept: Rate  # verdict cheaper_as_good or tie
    wrong: Rate  # verdict reference_better
    rated_good: Rate  # feedback
    budget_missed: Rate
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    is_reference: bool


@dataclass(frozen=True)
class Summary:
    files: list[str]
    lines: int
    malformed: int
    malformed_at: list[str]
    unknown_kinds: dict[str, int]
    duplicates: int
    orphan_labels: int
    requests: int
    first_ts: float | None
    last_ts: float | None
    routes: dict[str, int]
    outcomes: dict[str, int]
    tiers: list[TierRow]
    cost_usd: float
    reference_usd: float
    reference_tiers: list[str]
    cascade: dict[str, int]
    budget_missed: Rate
    planned_misses: int
    shadow_lines: int
    feedback_lines: int
    with_features: int
    with_content: int
    curves: dict[str, list[Point]] = field(default_factory=dict)
    families: list[FamilyRow] = field(default_factory=list)

    @property
    def saved_share(self) -> float | None:
        return 1 - self.cost_usd / self.reference_usd if self.reference_usd > 0 else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _missed(r: Request) -> bool | None:
    """Whether a request with a budget missed it; None: it had none (or no latency to tell)."""
    if r.budget_ms is None:
        return None
    if r.outcome == "timeout":
        return True
    return None if r.latency_ms is None else r.latency_ms > r.budget_ms


def _tier_row(tier: str, rows: list[Request], log: Log, total: int, refs: set[str]) -> TierRow:
    verdicts = Counter(log.verdicts[r.id].value for r in rows if r.id in log.verdicts)
    judged = sum(verdicts.values())
    rated = [log.feedback[r.id].value for r in rows if r.id in log.feedback]
    misses = [m for m in map(_missed, rows) if m is not None]
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None and r.outcome == "ok"]
    return TierRow(
        tier=tier,
        requests=len(rows),
        share=len(rows) / total,
        cost_usd=sum(r.cost_usd for r in rows),
        reference_usd=sum(r.reference_usd for r in rows),
        verdicts={v: verdicts[v] for v in VERDICTS},
        kept=wilson(verdicts["cheaper_as_good"] + verdicts["tie"], judged),
        wrong=wilson(verdicts["reference_better"], judged),
        rated_good=wilson(rated.count("good"), len(rated)),
        budget_missed=wilson(sum(misses), len(misses)),
        latency_p50_ms=_quantile(latencies, 0.5),
        latency_p95_ms=_quantile(latencies, 0.95),
        is_reference=tier in refs,
    )


def summarize(log: Log) -> Summary:
    reqs = log.requests
    by_tier: dict[str, list[Request]] = {}
    for r in reqs:
        by_tier.setdefault(r.tier or "(none)", []).append(r)
    refs = {r.reference_tier for r in reqs if r.reference_tier is not None}
    total = max(len(reqs), 1)
    # Cheapest first: the mean cost of a request there, the reference tiers last.
    order = sorted(
        by_tier,
        key=lambda t: (t in refs, sum(r.cost_usd for r in by_tier[t]) / len(by_tier[t]), t),
    )
    tiers = [_tier_row(t, by_tier[t], log, total, refs) for t in order]
    misses = [m for m in map(_missed, reqs) if m is not None]
    curves = {}
    for t in order:
        cheaper = [r for r in by_tier[t] if r.cheaper]
        points = threshold_curve(cheaper, log.verdicts)
        if len(points) > 1:
            curves[t] = points
    return Summary(
        files=list(log.files),
        lines=log.lines,
        malformed=log.malformed,
        malformed_at=list(log.malformed_at),
        unknown_kinds=dict(log.unknown_kinds),
        duplicates=log.duplicates,
        orphan_labels=log.orphans,
        requests=len(reqs),
        first_ts=reqs[0].ts if reqs else None,
        last_ts=reqs[-1].ts if reqs else None,
        routes=dict(Counter(r.route for r in reqs).most_common()),
        outcomes=dict(Counter(r.outcome for r in reqs).most_common()),
        tiers=tiers,
        cost_usd=sum(r.cost_usd for r in reqs),
        reference_usd=sum(r.reference_usd for r in reqs),
        reference_tiers=sorted(refs),
        cascade=dict(Counter(r.cascade for r in reqs if r.cascade is not None).most_common()),
        budget_missed=wilson(sum(misses), len(misses)),
        planned_misses=sum(1 for r in reqs if (r.reason or "").startswith("budget_miss")),
        shadow_lines=log.shadow_lines,
        feedback_lines=log.feedback_lines,
        with_features=sum(r.has_features for r in reqs),
        with_content=sum(r.has_content for r in reqs),
        curves=curves,
        families=family_rows(log),
    )
