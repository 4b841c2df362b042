"""What a policy decides from: everything about one request, gathered once by the planner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.protocol import RequestView
    from gateway.routing.decision import BackendState, Hints
    from gateway.routing.planner import Planner
    from gateway.rules import Route, RouteSpec

__all__ = ["Situation"]


@dataclass(frozen=True, slots=True)
class Situation:
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
    # A difficulty already known, e.g. the score a decision log recorded (`gateway report --what-if`
    # decides logged traffic again without its text): the policy takes it instead of scoring the view.
    scored: float | None = None

    @property
    def ttft_slo_ms(self) -> float | None:
        return self.hints.ttft_slo_ms if self.hints.ttft_slo_ms is not None else self.spec.ttft_slo_ms
