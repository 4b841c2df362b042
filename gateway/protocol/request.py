"""A request as the gateway reads it off the wire: its body parsed and validated against its API's
model, its size, and the session it belongs to (headers and body both say); for the OpenAI endpoints,
whose bodies go upstream as they came, the Call it becomes (its view and the gateway's id) in the
same step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from gateway.protocol.call import Call
from gateway.protocol.openai import Wire, parse_request
from gateway.protocol.session import Headers, session_of
from gateway.protocol.view import RequestView, chat_view, completion_view, embedding_view

if TYPE_CHECKING:
    from gateway.protocol.ids import ResponseIds
    from gateway.protocol.view import Endpoint

__all__ = ["Parsed", "openai_call", "read_request"]

_W = TypeVar("_W", bound=Wire)

_VIEWS: dict[str, Callable[[dict[str, Any], int], RequestView]] = {
    "chat": chat_view,
    "completions": completion_view,
    "embeddings": embedding_view,
}


@dataclass(frozen=True, slots=True)
class Parsed(Generic[_W]):
    wire: _W  # the body, validated
    raw: dict[str, Any]  # the body as decoded: what goes upstream
    size: int  # its bytes
    session: str | None  # the conversation it belongs to (protocol/session.py)


def read_request(body: bytes, wire: type[_W], headers: Headers) -> Parsed[_W]:
    """The body decoded and validated against `wire` (a 400 naming what is wrong), with its session."""
    model, raw = parse_request(body, wire)
    return Parsed(model, raw, len(body), session_of(headers, raw))


def openai_call(
    endpoint: Endpoint,
    body: bytes,
    wire: type[Wire],
    headers: Headers,
    received: float,
    tenant: str | None,
    ids: ResponseIds,
) -> Call:
    """A chat completion, text completion or embeddings request read into its Call (a 400 naming what
    is wrong with the body), with the gateway's id (none for embeddings: an embedding has nothing to
    claim, rate or index)."""
    _, raw = parse_request(body, wire)
    rid = "" if endpoint == "embeddings" else ids.new(endpoint)
    view = _VIEWS[endpoint](raw, len(body))
    return Call(view, raw, received, tenant, response_id=rid, session=session_of(headers, raw))
