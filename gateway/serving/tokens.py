"""Counting a request's prompt without generating anything, for every API that asks for it
(`POST /v1/messages/count_tokens`; the Responses API's `input_tokens`): for the backend the route would
choose for that request now, exactly where that backend has its tokenizer at hand (the embedded
model), by the documented estimate elsewhere (protocol/tokens.py). Admitted and rate-limited by the
handler like `route/explain`; the headers say who the count is for and whether it is exact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.dispatch import Admitted, Dispatcher
    from gateway.protocol import Call

__all__ = ["Tally", "TokenCounting"]


@dataclass(frozen=True, slots=True)
class Tally:
    tokens: int
    exact: bool
    headers: dict[str, str]


class TokenCounting:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def count(self, call: Call, admitted: Admitted) -> Tally:
        counted = await self._dispatcher.count_tokens(call, admitted.hints, snap=admitted.snap)
        exact = counted.count.exact
        headers = {
            "x-gateway-route": counted.decision.route.name,
            "x-gateway-tier": counted.tier,
            "x-gateway-backend": counted.backend.name,
            "x-gateway-token-count": "exact" if exact else "estimate",
        }
        return Tally(counted.count.tokens, exact, headers)
