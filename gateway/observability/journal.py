"""What each finished request leaves besides metrics: its decision-log line (optional; off the request
path: a bounded queue its own thread writes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.observability.decision_log import DecisionLog, RequestLine

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.observability.cost import Bill
    from gateway.observability.trace import Trace
    from gateway.protocol import Call, RequestView, Usage

__all__ = ["Journal"]

# The difficulty scorer's inputs as numbers, for a route that logs features (the planner's features
# when it computed them)
Inputs = Callable[["RequestView", "Features | None"], dict[str, Any]]


def _prompt(view: RequestView) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text} for m in view.messages]


class Journal:
    def __init__(
        self,
        decisions: DecisionLog | None = None,
        inputs: Inputs | None = None,
        reference_tier: Callable[[], str | None] = lambda: None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.decisions = decisions
        self._inputs = inputs
        self._reference = reference_tier
        self._wall = wall

    def finished(
        self,
        trace: Trace,
        call: Call,
        outcome: str,
        seconds: float,
        usage: Usage | None,
        bill: Bill | None,
        reference_tier: str | None = None,
    ) -> None:
        """One request's line (`reference_tier`: the rules' it was billed by; else the rules now)."""
        log = self.decisions
        if log is None:
            return
        view = call.view
        log.write(
            RequestLine(
                ts=round(self._wall(), 3),
                id=call.response_id,
                route=trace.route,
                tenant=call.tenant,
                endpoint=call.endpoint,
                tier=trace.tier,
                backend=trace.backend,
                outcome=outcome,
                difficulty=trace.difficulty,
                cascade=trace.cascade,
                confidence=trace.confidence,
                reason=trace.reason,
                latency_ms=round(seconds * 1000, 2),
                ttft_ms=round(trace.ttft_s * 1000, 2) if trace.ttft_s is not None else None,
                prompt_tokens=usage.prompt_tokens if usage is not None else 0,
                completion_tokens=usage.completion_tokens if usage is not None else 0,
                cost_usd=bill.total_usd if bill is not None else 0.0,
                savings_usd=bill.savings_usd if bill is not None else 0.0,
                reference_tier=reference_tier if reference_tier is not None else self._reference(),
                budget_ms=trace.budget_ms,
                features=self._inputs(view, trace.features)
                if trace.log_features and self._inputs is not None
                else None,
                prompt=_prompt(view) if trace.log_content else None,
                answer=trace.answer_text if trace.log_content else None,
                dropped_tools=list(trace.dropped_tools) or None,
                transport=None if call.transport == "http" else call.transport,
                max_tokens=trace.max_tokens,
                session=call.session,
                family=trace.family,
                prior_tier=trace.prior_tier,
            )
        )
