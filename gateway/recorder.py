"""What each request leaves behind once dispatch has run it: metrics, its bill, its latency budget.

Dispatch reports events (decided, moved on, first chunk, answered, failed); this module turns them into
observations, so the dispatcher's loop stays about candidates and fallback. Token counts come from the
upstream's `usage` when it sent one, otherwise from a documented estimate (about four bytes a token of
request JSON, one token per streamed content event).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.cost import Bill, CostModel
from gateway.errors import BudgetUnmeetable, ModelNotFound
from gateway.metrics import Metrics, outcome_of
from gateway.protocol import Usage

if TYPE_CHECKING:
    from gateway.backends.base import Call
    from gateway.errors import GatewayError
    from gateway.limits import LimitStore
    from gateway.routing.planner import Decision
    from gateway.routing.rules import RouteTable

__all__ = ["BYTES_PER_TOKEN", "Recorder", "Trace", "estimated_usage"]

_NONE = "none"
BYTES_PER_TOKEN = 4  # OpenAI's rule of thumb, for bodies whose upstream reported no usage


@dataclass(slots=True)
class Trace:
    """One request's running record: time waited on upstreams, the backend last tried, and the usage
    its reply reported."""

    upstream_s: float = 0.0
    tier: str = _NONE
    backend: str = _NONE
    usage: Usage | None = None


def estimated_usage(call: Call, output_tokens: int) -> Usage:
    return Usage(prompt_tokens=call.body_bytes // BYTES_PER_TOKEN, completion_tokens=output_tokens)


class Recorder:
    def __init__(
        self,
        metrics: Metrics,
        table: Callable[[], RouteTable],
        clock: Callable[[], float] = time.monotonic,
        limits: LimitStore | None = None,
    ) -> None:
        self.metrics = metrics
        self._limits = limits
        self._table = table
        self._clock = clock
        self._costs_for: tuple[str, CostModel | None] = ("", None)

    def _costs(self) -> CostModel:
        table = self._table()
        sha, model = self._costs_for
        if model is None or sha != table.sha256:
            model = CostModel(table.spec, self._clock)
            self._costs_for = (table.sha256, model)
        return model

    def decided(self, decision: Decision) -> None:
        plan = decision.plan
        self.metrics.decided(
            decision.route.name, plan.tier or _NONE, plan.reason, plan.difficulty, decision.classify_s
        )

    def undecided(self, call: Call, route: str, err: GatewayError) -> None:
        """No plan: the model is unknown (route label `unknown`, never the client's string), no tier
        fits the budget, or the caller may not use the route's tier."""
        if isinstance(err, BudgetUnmeetable):
            self.metrics.decided(route, _NONE, "budget_miss_reject", None, None)
        elif isinstance(err, ModelNotFound):
            route = "unknown"
        self._finish(route, _NONE, _NONE, call, outcome_of(err))

    def rejected(self, call: Call, err: GatewayError) -> None:
        """The request itself was malformed: nothing was routed."""
        self._finish(_NONE, _NONE, _NONE, call, outcome_of(err))

    def moved_on(self, decision: Decision, err: GatewayError) -> None:
        self.metrics.fallback(decision.route.name, err.code or "unknown")

    def first_chunk(self, tier: str, backend: str, seconds: float) -> None:
        self.metrics.first_chunk(tier, backend, seconds)

    def per_token(self, tier: str, backend: str, seconds: float) -> None:
        self.metrics.per_token(tier, backend, seconds)

    def handed_over(self, call: Call, trace: Trace) -> None:
        """The response is about to leave: the gateway's own share of the time so far."""
        own = self._clock() - call.received - trace.upstream_s
        self.metrics.own_time(call.endpoint, max(0.0, own))

    def answered(
        self, decision: Decision, trace: Trace, call: Call, usage: Usage, outcome: str = "ok"
    ) -> Bill:
        bill = self._costs().bill(trace.tier, usage)
        self.metrics.billed(trace.tier, trace.backend, usage, bill)
        if call.tenant is not None and self._limits is not None:
            self._limits.spent(call.tenant, usage.prompt_tokens + usage.completion_tokens, bill.cost_usd)
        self._finish(decision.route.name, trace.tier, trace.backend, call, outcome, decision.budget_ms)
        return bill

    def failed(self, decision: Decision, trace: Trace, call: Call, exc: BaseException) -> None:
        route = decision.route.name
        self._finish(route, trace.tier, trace.backend, call, outcome_of(exc), decision.budget_ms)

    def _finish(
        self,
        route: str,
        tier: str,
        backend: str,
        call: Call,
        outcome: str,
        budget_ms: float | None = None,
    ) -> None:
        seconds = self._clock() - call.received
        self.metrics.finished(route, tier, backend, call.endpoint, outcome, seconds)
        if budget_ms is not None:
            self.metrics.budget(route, budget_ms, seconds)
