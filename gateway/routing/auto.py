"""`policy: auto`: the cheapest tier trusted with the request's difficulty that is expected to fit its
latency budget (routing/plan.py has the pure decision)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.classify.assess import assess, reported
from gateway.routing.decision import Decision
from gateway.routing.plan import Ask, decide, with_fallback

if TYPE_CHECKING:
    from gateway.classify.families import FamilyHit
    from gateway.classify.features import Features
    from gateway.routing.situation import Situation

__all__ = ["auto"]


def auto(s: Situation) -> Decision:
    spec = s.spec
    features: Features | None = None
    classify_s: float | None = None
    family: str | None = None
    labels: float | None = None
    short: float | None = None
    hit: FamilyHit | None = None
    prior: float | None = None  # the weights' own score, where learned counts change it
    if s.scored is None:
        t0 = time.perf_counter()
        features, score, hit = assess(s.scorer, s.view)
        if hit is not None:
            family, labels = hit.family, hit.labels
            if hit.short is not None:
                short = reported(hit.short)
            if hit.prior is not None:
                prior = reported(hit.prior)
                if spec.learn != "on":  # frozen or off: the route decides on the prior alone
                    score, prior = hit.prior, None
                    short = None if hit.prior_short is None else reported(hit.prior_short)
        difficulty = reported(score)
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
        family=family,
        labels=labels,
        short=short,
    )
    board, allowed = s.board, s.allowed
    tiers = tuple(
        [board.tier(t) for t in board.names]
        if allowed is None
        else [board.tier(t) for t in board.names if t in allowed]
    )
    plan = decide(ask, tiers)
    # What learning moved: the tier the prior alone would have chosen (only where it differs).
    prior_tier = decide(replace(ask, difficulty=prior), tiers).tier if prior is not None else None
    if s.fallback:
        plan = with_fallback(plan, s.fallback, {t.name: t for t in tiers})
    family_set, within = (hit.family_set, hit.within) if hit is not None else (None, None)
    return Decision(
        s.route,
        plan,
        features,
        s.budget_ms,
        classify_s,
        family_set=family_set,
        within=within,
        prior_tier=prior_tier if prior_tier != plan.tier else None,
    )
