"""What tenancy keeps of each finished request, written in one place when the recorder records it
(observability/recorder.py: its Ledger): which tenant an answer went to (the answer index, for
feedback, with the request's family for learning from a rating), and what the tenant spent (its
limits' token and USD windows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.tenancy.answer_index import Answered
from gateway.tenancy.response_store import ANONYMOUS

if TYPE_CHECKING:
    from gateway.tenancy.answer_index import AnswerIndex
    from gateway.tenancy.limits import LimitStore

__all__ = ["Routed", "TenantLedger"]


class Routed(Protocol):
    """What the ledger reads of a request's trace (observability/trace.py: Trace)."""

    @property
    def route(self) -> str: ...
    @property
    def family(self) -> str | None: ...
    @property
    def family_set(self) -> str | None: ...
    @property
    def within(self) -> float | None: ...
    @property
    def shadowed(self) -> bool: ...


class TenantLedger:
    def __init__(self, answers: AnswerIndex | None, limits: LimitStore | None) -> None:
        self._answers = answers
        self._limits = limits

    def finished(
        self, response_id: str, tenant: str | None, trace: Routed, tier: str, tokens: int, usd: float
    ) -> None:
        """`response_id` (empty: no answer to index) went to `tenant` from `tier`; the tenant spent
        `tokens` and `usd`."""
        if response_id and self._answers is not None:
            within = trace.within
            answered = Answered(
                tenant or ANONYMOUS,
                trace.route,
                tier,
                trace.family,
                trace.family_set,
                None if within is None else round(within, 4),
                trace.shadowed,
            )
            self._answers.remember(response_id, answered)
        if tenant is not None and self._limits is not None:
            self._limits.spent(tenant, tokens, usd)
