"""What each request leaves behind once dispatch has run it: metrics, tenant usage, its latency budget.

Dispatch reports events (decided, moved on, first chunk, answered, failed) with a Trace, the request's
running record; this module turns them into observations, so the candidate walk stays about
candidates and fallback. Token counts come from the upstream's `usage` when it sent one, otherwise
from a documented estimate (protocol/usage.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gateway.errors import BudgetUnmeetable, ModelNotFound
from gateway.observability.cost import Bill
from gateway.observability.metrics import Metrics, outcome_of
from gateway.observability.trace import NONE, Trace

if TYPE_CHECKING:
    from gateway.errors import GatewayError
    from gateway.observability.journal import Journal
    from gateway.protocol import Call, Usage

__all__ = ["Recorder", "UsageSink"]


class UsageSink(Protocol):
    """Told what each answered request consumed (the tenant limit stores)."""

    def spent(self, tenant: str, tokens: int, usd: float) -> None: ...


class Recorder:
    def __init__(
        self,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        usage: UsageSink | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.metrics = metrics
        self._usage = usage
        self._clock = clock
        self.journal = journal

    @property
    def logs_decisions(self) -> bool:
        """Is there a decision log? Without one, a route's log_content / log_features keep nothing."""
        return self.journal is not None and self.journal.decisions is not None

    def decided(
        self, trace: Trace, tier: str, reason: str, difficulty: float | None, classify_s: float | None
    ) -> None:
        self.metrics.decided(trace.route, tier or NONE, reason, difficulty, classify_s)
        if trace.moved and trace.family is not None:
            self.metrics.learning.moved.labels(trace.route, trace.family).inc()

    def undecided(self, call: Call, route: str, err: GatewayError) -> None:
        """No plan: the model is unknown (route label `unknown`, never the client's string), no tier
        fits the budget, or the caller may not use the route's tier."""
        if isinstance(err, BudgetUnmeetable):
            self.metrics.decided(route, NONE, "budget_miss_reject", None, None)
        elif isinstance(err, ModelNotFound):
            route = "unknown"
        self._finish(Trace(route), call, outcome_of(err))

    def rejected(self, call: Call, err: GatewayError) -> None:
        """The request itself was malformed: nothing was routed."""
        self._finish(Trace(), call, outcome_of(err))

    def moved_on(self, trace: Trace, err: GatewayError) -> None:
        self.metrics.fallback(trace.route, err.code or "unknown")

    def hedged(self, tier: str, backend: str, result: str) -> None:
        """A hedge of `backend` (the slow candidate) was refused, or its race ended (HEDGE_RESULTS)."""
        self.metrics.hedged(tier, backend, result)

    def first_chunk(self, tier: str, backend: str, seconds: float) -> None:
        self.metrics.first_chunk(tier, backend, seconds)

    def per_token(self, tier: str, backend: str, seconds: float) -> None:
        self.metrics.per_token(tier, backend, seconds)

    def handed_over(self, call: Call, trace: Trace) -> None:
        """The response is about to leave: the gateway's own share of the time so far."""
        own = self._clock() - call.received - trace.upstream_s
        self.metrics.own_time(call.endpoint, max(0.0, own))
        for tool in trace.dropped_tools:
            self.metrics.dropped_tool(trace.route, tool)

    def answered(self, trace: Trace, call: Call, usage: Usage, bill: Bill, outcome: str = "ok") -> None:
        self.metrics.billed(trace.tier, trace.backend, usage, bill)
        tokens = usage.total_tokens
        draft = trace.draft
        if draft is not None:
            # Its tokens and cost on its own tier; the savings belong to the answer, net of it.
            self.metrics.billed(draft.tier, draft.backend, draft.usage, Bill(draft.bill.cost_usd, 0.0))
            tokens += draft.usage.total_tokens
        if call.tenant is not None and self._usage is not None:
            self._usage.spent(call.tenant, tokens, bill.total_usd)
        self._cascaded(trace, bill.cost_usd if trace.cascade == "accepted" else None)
        self._finish(trace, call, outcome, usage, bill)

    def failed(self, trace: Trace, call: Call, exc: BaseException) -> None:
        draft = trace.draft
        if draft is not None:  # the escalation failed, but the draft was spent
            self.metrics.billed(draft.tier, draft.backend, draft.usage, Bill(draft.bill.cost_usd, 0.0))
            if call.tenant is not None and self._usage is not None:
                self._usage.spent(call.tenant, draft.usage.total_tokens, draft.bill.cost_usd)
        self._cascaded(trace, None)
        self._finish(trace, call, outcome_of(exc))

    def _cascaded(self, trace: Trace, accepted_usd: float | None) -> None:
        """The cascade's result; what its draft cost (the answer itself when it was accepted)."""
        if trace.cascade is not None:
            draft_usd = trace.draft.bill.cost_usd if trace.draft is not None else accepted_usd
            self.metrics.cascaded(trace.route, trace.cascade, trace.confidence, draft_usd)

    def _finish(
        self, trace: Trace, call: Call, outcome: str, usage: Usage | None = None, bill: Bill | None = None
    ) -> None:
        seconds = self._clock() - call.received
        self.metrics.finished(trace.route, trace.tier, trace.backend, call.endpoint, outcome, seconds)
        if trace.budget_ms is not None:
            self.metrics.budget(trace.route, trace.budget_ms, seconds)
        if self.journal is not None:
            self.journal.finished(trace, call, outcome, seconds, usage, bill)
