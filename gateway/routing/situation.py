"""What a policy decides from: everything about one request, gathered once by the planner.

A policy reads values: the request, its route, the budgets in force, and the board of tiers as they
are now (routing/board.py), never the planner that called it. The scorer is the one thing it may
call (a policy decides when a request's difficulty is worth computing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.frozen import fast_init

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.protocol import RequestView
    from gateway.routing.board import Board
    from gateway.routing.decision import Hints
    from gateway.rules import Route, RouteSpec

__all__ = ["Situation"]


@fast_init
@dataclass(frozen=True, slots=True)
class Situation:
    route: Route
    spec: RouteSpec
    view: RequestView
    hints: Hints
    tokens: int  # output tokens expected
    budget_ms: float | None  # the latency budget in force (decision.budgets: header, tenant, route)
    ttft_slo_ms: float | None  # the first-token SLO in force (header, route)
    allowed: frozenset[str] | None  # tiers the tenant may use; None: all
    fallback: list[str] | None
    now: float
    board: Board
    scorer: Scorer
    # A difficulty already known, e.g. the score a decision log recorded (`gateway report --what-if`
    # decides logged traffic again without its text): the policy takes it instead of scoring the view.
    scored: float | None = None
