"""A call: one admitted request as it travels from the handler through dispatch to a backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.protocol.view import Endpoint, RequestView

__all__ = ["Call"]


@dataclass(slots=True)
class Call:
    view: RequestView
    # The client's JSON as received; backends copy it with their own `model` and never mutate it.
    body: dict[str, Any]
    received: float = 0.0  # when the gateway got the request (the dispatcher's clock)
    tenant: str | None = None  # whose key sent it (None on an open gateway), for per-tenant limits
    # A Responses request in chat form, for backends that speak only chat; None when it needs a
    # backend that speaks the Responses API natively (built-in tools, background mode, ...).
    chat: Call | None = None
    needs: str | None = None  # what only such a backend serves, named for the client
    response_id: str = ""  # the id the client sees (the gateway's own), for the log and feedback

    @property
    def endpoint(self) -> Endpoint:
        return self.view.endpoint

    @property
    def stream(self) -> bool:
        return self.view.stream

    @property
    def include_usage(self) -> bool:
        return self.view.include_usage
