"""From a request to a plan: resolve the route, profile the request, look at live state, decide.

The only place that gathers inputs for the pure policy: the route table, the scorer, the latency book
and each backend's queue. The clock and backend state come in as arguments, so `gateway route` can
replay traffic offline against priors alone and tests can drive it deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gateway.classify.features import Features, profile
from gateway.classify.scorer import Scorer
from gateway.classify.view import view_of_body
from gateway.errors import Forbidden
from gateway.routing.estimates import LatencyBook, LatencyStats
from gateway.routing.policy import Ask, BackendView, Plan, TierView, decide, pinned, with_fallback
from gateway.routing.rules import BackendSpec, Route, RouteTable

__all__ = ["Decision", "Hints", "Planner", "idle"]

# Seconds, for backends routes.yaml gives no prior for: a local small model starts fast and runs
# ~10 ms a token on CPU; a remote one pays a network round trip and queueing first.
_PRIORS = {"llamacpp": (0.05, 0.010), "openai": (0.30, 0.020), "vllm": (0.15, 0.018)}

# (requests admitted and not finished, healthy?) for a backend name.
BackendState = Callable[[str], tuple[int, bool]]


def idle(_: str) -> tuple[int, bool]:
    """Backend state when nothing is running: for offline replays."""
    return 0, True


@dataclass(frozen=True, slots=True)
class Hints:
    budget_ms: float | None = None
    ttft_slo_ms: float | None = None
    tiers: frozenset[str] | None = None  # the tiers the caller's tenant may use; None: all


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    plan: Plan
    features: Features | None = None
    budget_ms: float | None = None  # the latency budget in force (header, else the route's default)
    classify_s: float | None = None  # time spent scoring difficulty, for the classifier's metric


class Planner:
    def __init__(self, scorer: Scorer, book: LatencyBook) -> None:
        self.scorer = scorer
        self.book = book
        # Pinned routes with a single backend decide the same way every time.
        self._single: dict[tuple[str, str], Decision] = {}

    def stats(self, table: RouteTable, spec: BackendSpec) -> LatencyStats:
        ttft, tpot = _PRIORS[spec.kind]
        est = table.spec.estimator
        return self.book.get(
            spec.name,
            spec.ttft_ms / 1000 if spec.ttft_ms else ttft,
            spec.tpot_ms / 1000 if spec.tpot_ms else tpot,
            alpha=est.alpha,
            half_life_s=est.half_life_s,
        )

    def _tier_view(
        self, table: RouteTable, name: str, now: float, tokens: int, state: BackendState, model: str | None
    ) -> TierView:
        tier = table.tier(name)
        views = []
        for b in tier.backends:
            if model is not None and b.model != model:
                continue
            ttft, tpot = self.stats(table, b).view(now)
            queued, healthy = state(b.name)
            # Requests ahead of this one run one at a time on a local model; vLLM batches, so each
            # one waiting there costs about a prefill; other HTTP servers do not tell.
            if b.kind == "llamacpp":
                wait = queued * (ttft + tokens * tpot)
            elif b.kind == "vllm":
                wait = queued * ttft
            else:
                wait = 0.0
            views.append(BackendView(b.name, ttft, tpot, wait, healthy, queued))
        cost = tier.price.input_per_mtok + tier.price.output_per_mtok
        return TierView(name, tier.max_difficulty, cost, tuple(views))

    def decide(
        self,
        table: RouteTable,
        model: str,
        body: dict[str, Any],
        hints: Hints,
        *,
        now: float,
        state: BackendState = idle,
    ) -> Decision:
        route = table.resolve(model)
        spec = route.spec
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        tokens = (
            limit if isinstance(limit, int) and limit > 0 else (spec.expected_output_tokens if spec else 256)
        )
        fallback = spec.fallback if spec else None
        allowed = hints.tiers
        if allowed is not None:
            if route.policy != "auto" and route.tier not in allowed:
                raise Forbidden(
                    f"Route '{route.name}' serves tier '{route.tier}', which this key may not use.",
                    code="tier_not_allowed",
                )
            fallback = [t for t in fallback or [] if t in allowed] or None
        budget_ms = hints.budget_ms
        if budget_ms is None and spec is not None:
            budget_ms = spec.latency_budget_ms
        if route.policy != "auto" or spec is None:
            single = self._single.get((table.sha256, route.name))
            if single is not None and not fallback:
                # One backend and nowhere to fall back: nothing to decide.
                return single if budget_ms is None else replace(single, budget_ms=budget_ms)
            view = self._tier_view(table, route.tier, now, tokens, state, route.model)
            plan = pinned(view, tokens, route.model)
            if fallback:
                views = {t: self._tier_view(table, t, now, tokens, state, None) for t in fallback}
                plan = with_fallback(plan, fallback, views)
            decision = Decision(route, plan)
            if len(plan.candidates) == 1 and not fallback:
                self._single[(table.sha256, route.name)] = decision
            if budget_ms is not None:
                decision = replace(decision, budget_ms=budget_ms)
            return decision
        t0 = time.perf_counter()
        # Stand-in until the protocol's per-endpoint request view reaches here: classify reads a view.
        request = view_of_body(body)
        features = profile(request)
        difficulty = round(self.scorer.score(request, features), 4)
        classify_s = time.perf_counter() - t0
        ask = Ask(
            difficulty=difficulty,
            output_tokens=tokens,
            budget_ms=budget_ms,
            ttft_slo_ms=hints.ttft_slo_ms if hints.ttft_slo_ms is not None else spec.ttft_slo_ms,
            on_miss=spec.on_budget_miss,
            degrade=spec.degrade,
        )
        tiers = tuple(
            self._tier_view(table, t, now, tokens, state, None)
            for t in table.spec.tiers
            if allowed is None or t in allowed
        )
        plan = decide(ask, tiers)
        if fallback:
            plan = with_fallback(plan, fallback, {t.name: t for t in tiers})
        return Decision(route, plan, features, budget_ms, classify_s)
