"""`policy: auto`: the cheapest tier trusted with the request's difficulty that is expected to fit its
latency budget (routing/plan.py has the pure decision)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.classify.features import profile
from gateway.routing.decision import Decision
from gateway.routing.plan import Ask, decide, with_fallback

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.routing.situation import Situation

__all__ = ["auto"]


def auto(s: Situation) -> Decision:
    planner, spec = s.planner, s.spec
    features: Features | None = None
    classify_s: float | None = None
    family: str | None = None
    labels: float | None = None
    if s.scored is None:
        t0 = time.perf_counter()
        features = profile(s.view)
        score, hit = planner.scorer.scored(s.view, features)
        difficulty = round(score, 4)
        classify_s = time.perf_counter() - t0
        if hit is not None:
            family, labels = hit.family, hit.labels
    else:
        difficulty = s.scored
    ask = Ask(
        difficulty=difficulty,
        output_tokens=s.tokens,
        budget_ms=s.budget_ms,
        ttft_slo_ms=s.ttft_slo_ms,
        on_miss=spec.on_budget_miss,
        degrade=spec.degrade,
        family=family,
        labels=labels,
    )
    tiers = tuple(
        planner.tier_view(t, s.now, s.tokens, s.state)
        for t in planner.table.spec.tiers
        if s.allowed is None or t in s.allowed
    )
    plan = decide(ask, tiers)
    planner.quantiles.add(difficulty)
    if s.fallback:
        plan = with_fallback(plan, s.fallback, {t.name: t for t in tiers})
    return Decision(s.route, plan, features, s.budget_ms, classify_s)
