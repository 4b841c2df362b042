"""What tenancy keeps of each finished request, written in one place when the recorder records it
(observability/recorder.py: its Ledger): which tenant an answer went to (the answer index, for
feedback), and what the tenant spent (its limits' token and USD windows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.tenancy.response_store import ANONYMOUS

if TYPE_CHECKING:
    from gateway.tenancy.answer_index import AnswerIndex
    from gateway.tenancy.limits import LimitStore

__all__ = ["TenantLedger"]


class TenantLedger:
    def __init__(self, answers: AnswerIndex | None, limits: LimitStore | None) -> None:
        self._answers = answers
        self._limits = limits

    def finished(
        self, response_id: str, tenant: str | None, route: str, tier: str, tokens: int, usd: float
    ) -> None:
        """`response_id` (empty: no answer to index) went to `tenant`, who spent `tokens` and `usd`."""
        if response_id and self._answers is not None:
            self._answers.remember(response_id, tenant or ANONYMOUS, route, tier)
        if tenant is not None and self._limits is not None:
            self._limits.spent(tenant, tokens, usd)
