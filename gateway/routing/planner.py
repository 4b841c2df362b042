"""From a request to a plan: resolve the route, gather what its policy needs, let the policy decide.

A Planner is built for one route table (once per swap, see dispatch/snapshot.py): the table's tiers
compiled for the board (routing/board.py) and its cache of decisions that never change live and die
with that table. The clock and backend state come in as values (`now`, `lives`), so `gateway route`
can replay traffic offline against priors alone and tests can drive it deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.errors import ConfigError, Forbidden
from gateway.routing import context
from gateway.routing.board import Board, Tiers
from gateway.routing.decision import Decision, Hints, budgets
from gateway.routing.plan import pinned, with_fallback
from gateway.routing.policies import POLICIES, Policy
from gateway.routing.quantiles import Quantiles, RollingQuantile
from gateway.routing.situation import Situation
from gateway.rules import POLICIES as POLICY_NAMES

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.protocol import RequestView
    from gateway.routing.board import Live
    from gateway.routing.estimates import LatencyBook
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
        self._routes = dict(table.routes)  # exact names: a dict read; patterns through the table
        self.windows = {name: spec.window for name, spec in table.spec.backends().items()}  # context
        self._smallest = min(self.windows.values(), default=0)  # every candidate's window is at least it
        self.scorer = scorer
        self.policies = policies
        # Recent difficulty scores, for tiers that take a share of traffic; outlives a reload.
        self.quantiles: Quantiles = quantiles if quantiles is not None else RollingQuantile()
        self.tiers = Tiers(table, book)
        # Pinned routes with a single backend decide the same way every time.
        self._single: dict[str, Decision] = {}

    def board(self, now: float, tokens: int, lives: Mapping[str, Live] | None = None) -> Board:
        """The tiers as a request expecting `tokens` of answer sees them at `now`."""
        return Board(self.tiers, lives, self.quantiles, now, tokens)

    def decide(
        self,
        view: RequestView,
        hints: Hints,
        *,
        now: float,
        lives: Mapping[str, Live] | None = None,
        difficulty: float | None = None,
        fit: bool = True,
    ) -> Decision:
        """The route's decision for the request; `difficulty`, when given, is used as the request's
        score instead of scoring its view (a logged decision replayed under other rules). `lives`:
        each backend's state now (None: all idle and up, offline). With `fit` (always, but for
        counting tokens), candidates whose context window cannot hold the request are left out
        (routing/context.py), and none left is a 400."""
        route = self._routes.get(view.model) or self.table.resolve(view.model)
        decision = self._decide(route, view, hints, now, lives, difficulty)
        spec = route.spec
        min_answer = spec.min_answer_tokens if spec is not None else context.DEFAULT_MIN_ANSWER
        return context.checked(decision, view, self.windows, min_answer, fits=fit, smallest=self._smallest)

    def _decide(
        self,
        route: Route,
        view: RequestView,
        hints: Hints,
        now: float,
        lives: Mapping[str, Live] | None,
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
        budget_ms, slo_ms = budgets(hints, spec)
        if route.policy is None or spec is None:
            return self._pinned(route, tokens, fallback, budget_ms, now, lives)
        board = Board(self.tiers, lives, self.quantiles, now, tokens)
        situation = Situation(
            route, spec, view, hints, tokens, budget_ms, slo_ms, allowed, fallback, now, board, self.scorer,
            difficulty,
        )  # fmt: skip
        decision = self.policies[route.policy](situation)
        if decision.plan.difficulty is not None:
            self.quantiles.add(decision.plan.difficulty)
        return decision

    def _pinned(
        self,
        route: Route,
        tokens: int,
        fallback: list[str] | None,
        budget_ms: float | None,
        now: float,
        lives: Mapping[str, Live] | None,
    ) -> Decision:
        single = self._single.get(route.name)
        if single is not None and not fallback:
            # One backend and nowhere to fall back: nothing to decide.
            return single if budget_ms is None else replace(single, budget_ms=budget_ms)
        board = Board(self.tiers, lives, self.quantiles, now, tokens)
        plan = pinned(board.tier(route.tier, route.model), tokens, route.model)
        if fallback:
            views = {t: board.tier(t) for t in fallback}
            plan = with_fallback(plan, fallback, views)
        decision = Decision(route, plan)
        if len(plan.candidates) == 1 and not fallback:
            self._single[route.name] = decision
        return decision if budget_ms is None else replace(decision, budget_ms=budget_ms)
