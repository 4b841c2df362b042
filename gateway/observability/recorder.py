"""What each request leaves behind, recorded once, when it ends, from its trace.

Dispatch keeps what happened in the request's Trace as it happens (its decision, the fallbacks and
hedges on the way, first chunks, the answer's usage); when the request ends (a whole answer, a stream's
last byte, a failure) the recorder reads it in one pass: the metrics, the bill (what it cost, and saved
against the reference tier), the decision-log line, and what tenancy keeps of it (which tenant the
answer went to, for feedback; what the tenant spent, for its limits). Token counts come from the
upstream's `usage` when it sent one, otherwise from a documented estimate (protocol/usage.py).

Nothing here waits: the decision log is a bounded queue its own thread drains, the tenancy stores
take a dict write or hand a Redis write to a background task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from gateway.errors import BudgetUnmeetable, ModelNotFound
from gateway.observability.cost import Bill
from gateway.observability.metrics import Metrics, outcome_of
from gateway.observability.trace import NONE, Trace

if TYPE_CHECKING:
    from gateway.errors import GatewayError
    from gateway.observability.cost import CostModel
    from gateway.observability.journal import Journal
    from gateway.protocol import Call, Usage

__all__ = ["Ledger", "Recorder"]

_FREE = Bill(0.0, 0.0)


class Ledger(Protocol):
    """What tenancy keeps of a finished request (tenancy/ledger.py): which tenant an answer went to
    (`response_id`, empty when there is no answer to index; the trace says where it was routed and,
    for learning from a rating, its family) and what the tenant spent."""

    def finished(
        self, response_id: str, tenant: str | None, trace: Trace, tier: str, tokens: int, usd: float
    ) -> None: ...


class Recorder:
    def __init__(
        self,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        ledger: Ledger | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.metrics = metrics
        self._ledger = ledger
        self._clock = clock
        self.journal = journal
        # Only a journal with a decision log has anything to do with a finished request.
        self._log = journal if journal is not None and journal.decisions is not None else None

    @property
    def logs_decisions(self) -> bool:
        """Is there a decision log? Without one, a route's log_content / log_features keep nothing."""
        return self.journal is not None and self.journal.decisions is not None

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

    def answered(
        self, trace: Trace, call: Call, usage: Usage, costs: CostModel | None, outcome: str = "ok"
    ) -> Bill:
        """The request was answered (`outcome` ok; a stream may end otherwise): everything it leaves,
        and its bill, with what a rejected draft cost on the way to it."""
        bill = costs.bill(trace.tier, usage) if costs is not None else _FREE
        draft = trace.draft
        if draft is not None:
            bill = replace(bill, elsewhere_usd=draft.bill.cost_usd)
        m = self.metrics
        self._went(trace, call)
        m.billed(trace.tier, trace.backend, usage, bill)
        tokens = usage.total_tokens
        if draft is not None:
            # Its tokens and cost on its own tier; the savings belong to the answer, net of it.
            m.billed(draft.tier, draft.backend, draft.usage, Bill(draft.bill.cost_usd, 0.0))
            tokens += draft.usage.total_tokens
        if trace.tpot_s is not None:
            m.per_token(trace.tier, trace.backend, trace.tpot_s)
        self._cascaded(trace, bill.cost_usd if trace.cascade == "accepted" else None)
        self._finish(trace, call, outcome, usage, bill, costs)
        ledger = self._ledger
        if ledger is not None:
            answer_id = call.response_id if outcome == "ok" else ""
            if answer_id or call.tenant is not None:
                ledger.finished(answer_id, call.tenant, trace, trace.tier, tokens, bill.total_usd)
        return bill

    def failed(self, trace: Trace, call: Call, exc: BaseException, costs: CostModel | None = None) -> None:
        m = self.metrics
        self._went(trace, call)
        draft = trace.draft
        if draft is not None:  # the escalation failed, but the draft was spent
            m.billed(draft.tier, draft.backend, draft.usage, Bill(draft.bill.cost_usd, 0.0))
            if call.tenant is not None and self._ledger is not None:
                self._ledger.finished(
                    "", call.tenant, trace, draft.tier, draft.usage.total_tokens, draft.bill.cost_usd
                )
        self._cascaded(trace, None)
        self._finish(trace, call, outcome_of(exc), costs=costs)

    def _went(self, trace: Trace, call: Call) -> None:
        """How the request went on its way: its decision, the moves and hedges, the hand-over."""
        m, route = self.metrics, trace.route
        if trace.reason is not None:
            m.decided(route, trace.planned, trace.reason, trace.difficulty, trace.classify_s)
            if trace.moved and trace.family is not None:  # learned counts chose another tier
                m.learning.moved.labels(route, trace.family).inc()
        for cause in trace.fallbacks:
            m.fallback(route, cause)
        for tier, backend, result in trace.hedges:
            m.hedged(tier, backend, result)
        for tier, backend, seconds in trace.first_chunks:
            m.first_chunk(tier, backend, seconds)
        if trace.own_s is not None:  # handed over: the gateway's own share of the time until then
            m.own_time(call.endpoint, trace.own_s)
            for tool in trace.dropped_tools:
                m.dropped_tool(route, tool)

    def _cascaded(self, trace: Trace, accepted_usd: float | None) -> None:
        """The cascade's result; what its draft cost (the answer itself when it was accepted)."""
        if trace.cascade is not None:
            draft_usd = trace.draft.bill.cost_usd if trace.draft is not None else accepted_usd
            self.metrics.cascaded(trace.route, trace.cascade, trace.confidence, draft_usd)

    def _finish(
        self,
        trace: Trace,
        call: Call,
        outcome: str,
        usage: Usage | None = None,
        bill: Bill | None = None,
        costs: CostModel | None = None,
    ) -> None:
        seconds = self._clock() - call.received
        self.metrics.finished(trace.route, trace.tier, trace.backend, call.endpoint, outcome, seconds)
        if trace.budget_ms is not None:
            self.metrics.budget(trace.route, trace.budget_ms, seconds)
        if self._log is not None:
            reference = costs.reference_tier if costs is not None else None
            self._log.finished(trace, call, outcome, seconds, usage, bill, reference)
