"""From a request to a plan: resolve the route, gather what its policy needs, let the policy decide.

A Planner is built for one route table (once per swap, see dispatch/snapshot.py): its latency stats
and its cache of decisions that never change live and die with that table. The clock and backend
state come in as arguments, so `gateway route` can replay traffic offline against priors alone and
tests can drive it deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.errors import ConfigError, Forbidden
from gateway.routing import context
from gateway.routing.decision import BackendState, Decision, Hints, idle
from gateway.routing.plan import BackendView, TierView, pinned, with_fallback
from gateway.routing.policies import POLICIES, Policy
from gateway.routing.quantiles import Quantiles, RollingQuantile
from gateway.routing.situation import Situation
from gateway.rules import POLICIES as POLICY_NAMES

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.protocol import RequestView
    from gateway.routing.estimates import LatencyBook, LatencyStats
    from gateway.rules import Route, RouteTable

__all__ = ["Planner"]

_DEFAULT_OUTPUT_TOKENS = 256


class Planner:
    def __init__(
        self,
        table: RouteTable,
        scorer: Scorer,
        book: LatencyBook,
        policies: Mapping[str, Policy] = POLICIES,
        quantiles: Quantiles | None = None,
    ) -> None:
        missing = [name for name in POLICY_NAMES if name not in policies]
        if missing:
            raise ConfigError(f"routing policies without an implementation: {', '.join(missing)}")
        self.table = table
        self.specs = table.spec.backends()
        self.windows = {name: spec.window for name, spec in self.specs.items()}  # context windows
        self.scorer = scorer
        self.policies = policies
        # Recent difficulty scores, for tiers that take a share of traffic; outlives a reload.
        self.quantiles: Quantiles = quantiles if quantiles is not None else RollingQuantile()
        est = table.spec.estimator
        self.stats: dict[str, LatencyStats] = {
            name: book.get(name, *spec.priors(), alpha=est.alpha, half_life_s=est.half_life_s)
            for name, spec in self.specs.items()
        }
        # Pinned routes with a single backend decide the same way every time.
        self._single: dict[str, Decision] = {}

    def tier_view(
        self, name: str, now: float, tokens: int, state: BackendState, model: str | None = None
    ) -> TierView:
        tier = self.table.tier(name)
        views = []
        for b in tier.backends:
            if model is not None and b.model != model:
                continue
            ttft, tpot = self.stats[b.name].view(now)
            queued, healthy = state(b.name)
            wait = b.queue_wait_s(queued, ttft, tpot, tokens)
            views.append(BackendView(b.name, ttft, tpot, wait, healthy, queued))
        cost = tier.price.per_mtok
        limit = tier.max_difficulty
        if tier.share is not None:
            warm = self.quantiles.threshold(tier.share)
            limit = warm if warm is not None else limit  # until warm: the calibrated threshold
        return TierView(name, limit, cost, tuple(views))

    def decide(
        self,
        view: RequestView,
        hints: Hints,
        *,
        now: float,
        state: BackendState = idle,
        difficulty: float | None = None,
        fit: bool = True,
    ) -> Decision:
        """The route's decision for the request; `difficulty`, when given, is used as the request's
        score instead of scoring its view (a logged decision replayed under other rules). With `fit`
        (always, but for counting tokens), candidates whose context window cannot hold the request
        are left out (routing/context.py), and none left is a 400."""
        route = self.table.resolve(view.model)
        decision = self._decide(route, view, hints, now, state, difficulty)
        if not fit:
            return decision
        spec = route.spec
        min_answer = spec.min_answer_tokens if spec is not None else context.DEFAULT_MIN_ANSWER
        return context.fit(decision, view, self.windows, min_answer)

    def _decide(
        self,
        route: Route,
        view: RequestView,
        hints: Hints,
        now: float,
        state: BackendState,
        difficulty: float | None,
    ) -> Decision:
        spec = route.spec
        tokens = view.output_tokens or (spec.expected_output_tokens if spec else _DEFAULT_OUTPUT_TOKENS)
        fallback = spec.fallback if spec else None
        allowed = hints.tiers
        if allowed is not None:
            if route.policy is None and route.tier not in allowed:
                raise Forbidden(
                    f"Route '{route.name}' serves tier '{route.tier}', which this key may not use.",
                    code="tier_not_allowed",
                )
            fallback = [t for t in fallback or [] if t in allowed] or None
        budget_ms = hints.budget_ms
        if budget_ms is None and spec is not None:
            budget_ms = spec.latency_budget_ms
        if route.policy is None or spec is None:
            return self._pinned(route, tokens, fallback, budget_ms, now, state)
        situation = Situation(
            self, route, spec, view, hints, tokens, budget_ms, allowed, fallback, now, state, difficulty
        )
        return self.policies[route.policy](situation)

    def _pinned(
        self,
        route: Route,
        tokens: int,
        fallback: list[str] | None,
        budget_ms: float | None,
        now: float,
        state: BackendState,
    ) -> Decision:
        single = self._single.get(route.name)
        if single is not None and not fallback:
            # One backend and nowhere to fall back: nothing to decide.
            return single if budget_ms is None else replace(single, budget_ms=budget_ms)
        plan = pinned(self.tier_view(route.tier, now, tokens, state, route.model), tokens, route.model)
        if fallback:
            views = {t: self.tier_view(t, now, tokens, state) for t in fallback}
            plan = with_fallback(plan, fallback, views)
        decision = Decision(route, plan)
        if len(plan.candidates) == 1 and not fallback:
            self._single[route.name] = decision
        return decision if budget_ms is None else replace(decision, budget_ms=budget_ms)
