"""Routing policies by name: what a route's `policy:` runs. Each turns a situation into a Decision.

spec/schema.py lists the names a routes file may use; the Planner refuses to start when one of them
has no implementation here, so a policy cannot silently fall back to pinning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from gateway.classify.features import extract
from gateway.routing.decision import BackendState, Decision, Hints
from gateway.routing.policy import Ask, decide, with_fallback

if TYPE_CHECKING:
    from gateway.protocol import RequestView
    from gateway.routing.planner import Planner
    from gateway.spec import Route, RouteSpec

__all__ = ["POLICIES", "Policy", "Situation", "auto"]


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything a policy decides from, gathered once by the planner."""

    planner: Planner
    route: Route
    spec: RouteSpec
    view: RequestView
    hints: Hints
    tokens: int  # output tokens expected
    budget_ms: float | None
    allowed: frozenset[str] | None  # tiers the tenant may use; None: all
    fallback: list[str] | None
    now: float
    state: BackendState


Policy = Callable[[Situation], Decision]


def auto(s: Situation) -> Decision:
    """The cheapest tier trusted with the request's difficulty that is expected to fit its budget."""
    planner, spec = s.planner, s.spec
    t0 = time.perf_counter()
    features, words = extract(s.view)
    difficulty = round(planner.scorer.score(features, words), 4)
    classify_s = time.perf_counter() - t0
    ask = Ask(
        difficulty=difficulty,
        output_tokens=s.tokens,
        budget_ms=s.budget_ms,
        ttft_slo_ms=s.hints.ttft_slo_ms if s.hints.ttft_slo_ms is not None else spec.ttft_slo_ms,
        on_miss=spec.on_budget_miss,
        degrade=spec.degrade,
    )
    tiers = tuple(
        planner.tier_view(t, s.now, s.tokens, s.state)
        for t in planner.table.spec.tiers
        if s.allowed is None or t in s.allowed
    )
    plan = decide(ask, tiers)
    if s.fallback:
        plan = with_fallback(plan, s.fallback, {t.name: t for t in tiers})
    return Decision(s.route, plan, features, s.budget_ms, classify_s)


POLICIES: Mapping[str, Policy] = MappingProxyType({"auto": auto})
