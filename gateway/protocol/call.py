"""A call: one admitted request as it travels from the handler through dispatch to a backend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.protocol.view import Endpoint, RequestView

__all__ = ["Call"]

# Where each API's body asks for a maximum answer length.
_LIMITS: dict[str, tuple[str, ...]] = {
    "chat": ("max_completion_tokens", "max_tokens"),
    "completions": ("max_tokens",),
    "responses": ("max_output_tokens",),
    "messages": ("max_tokens",),
}


@dataclass(slots=True)
class Call:
    view: RequestView
    # The client's JSON as received; backends copy it with their own `model` and never mutate it.
    body: dict[str, Any]
    received: float = 0.0  # when the gateway got the request (the dispatcher's clock)
    tenant: str | None = None  # whose key sent it (None on an open gateway), for per-tenant limits
    # The request in chat form, for backends that speak only chat (a Responses or Messages request);
    # None for a chat request itself, and when the request needs a backend that speaks its API
    # natively (`needs`: background mode, a hosted tool that `tool_choice` requires, ...).
    chat: Call | None = None
    needs: str | None = None  # what only such a backend serves, named for the client
    # Hosted tools the request offers (their types), which the chat form goes without: dropped when a
    # chat backend answers (protocol/tools.py has the rule).
    hosted: tuple[str, ...] = ()
    response_id: str = ""  # the id the client sees (the gateway's own), for the log and feedback
    # False where sending the request twice could act twice upstream; a handler that knows so says it.
    repeatable: bool = True
    session: str | None = None  # the conversation it belongs to (protocol/session.py), for the log
    transport: str = "http"  # or "websocket": the Responses API's WebSocket mode (for the log)
    # Headers of the client's own API that a backend speaking it natively passes on (Anthropic's
    # `anthropic-beta`: features the body may use), as (name, value) pairs.
    forward: tuple[tuple[str, str], ...] = ()

    def with_max_tokens(self, n: int) -> Call:
        """The same call asking for at most `n` tokens of answer (a backend's room: dispatch)."""
        body = dict(self.body)
        for key in _LIMITS.get(self.endpoint, ()):
            if key in body:
                body[key] = n
        return replace(self, body=body, view=self.view.with_output_tokens(n))

    @property
    def endpoint(self) -> Endpoint:
        return self.view.endpoint

    @property
    def stream(self) -> bool:
        return self.view.stream

    @property
    def include_usage(self) -> bool:
        return self.view.include_usage

    @property
    def hedgeable(self) -> bool:
        """May a second copy run beside the first (a hedge; dispatch/hedge.py)?

        Chat, completions and embeddings have no side effects at the backend, and a Responses request
        goes upstream with `store: false` (the gateway stores the one answer it keeps), so all of them
        may, except: a request that asks the upstream to store it (`store: true` on chat completions
        keeps a copy at OpenAI: two hedged copies would be stored twice), and one that a native
        backend would run hosted tools for (`needs`, `hosted`): built-in tools run at the provider
        (MCP servers, code interpreter containers, computer use may act, and are billed per call),
        and background mode starts a job that cancelling the request does not stop. (Translated
        requests are not hedged for now anyway, for a reason of the gateway's own:
        dispatch/translated.py.)
        """
        return (
            self.repeatable and self.needs is None and not self.hosted and self.body.get("store") is not True
        )
