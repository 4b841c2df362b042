"""`policy: auto`: the cheapest tier trusted with the request's difficulty that is expected to fit its
latency budget (routing/plan.py has the pure decision)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.classify.assess import assess
from gateway.routing.decision import Decision
from gateway.routing.plan import Ask, decide, with_fallback

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.routing.situation import Situation

__all__ = ["auto"]


def auto(s: Situation) -> Decision:
    spec = s.spec
    features: Features | None = None
    classify_s: float | None = None
    if s.scored is None:
        t0 = time.perf_counter()
        features, score = assess(s.scorer, s.view)
        difficulty = round(score, 4)
        classify_s = time.perf_counter() - t0
    else:
        difficulty = s.scored
    ask = Ask(
        difficulty=difficulty,
        output_tokens=s.tokens,
        budget_ms=s.budget_ms,
        ttft_slo_ms=s.ttft_slo_ms,
        on_miss=spec.on_budget_miss,
        degrade=spec.degrade,
    )
    board = s.board
    tiers = tuple(board.tier(t) for t in board.names if s.allowed is None or t in s.allowed)
    plan = decide(ask, tiers)
    if s.fallback:
        plan = with_fallback(plan, s.fallback, {t.name: t for t in tiers})
    return Decision(s.route, plan, features, s.budget_ms, classify_s)
