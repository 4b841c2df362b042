"""Thin handlers for the OpenAI inference endpoints: admit, parse, let serving run it, render.

Chat completions, completions and embeddings are ASGI route handlers: Litestar routes them and turns
what they raise into the API's error envelope (app.py), but builds no signature model, reads no body
and makes no response for them: they read their body and send their answer themselves. Measured on a
pinned chat request, in process: 19 µs of Litestar's own work as a `post` handler, 10.5 µs as this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, asgi, post
from litestar.handlers import ASGIRouteHandler, HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.errors import ClientClosedRequest, GatewayError, MethodNotAllowed, PayloadTooLarge
from gateway.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, Endpoint
from gateway.protocol.openai import Wire
from gateway.protocol.request import openai_call
from gateway.server.admission import admit, gateway_of
from gateway.server.render import JSONApp, render

__all__ = ["DIRECT", "INFERENCE"]


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole request body, or a 413 past `limit` bytes (by its Content-Length before reading, or
    as it arrives)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLarge.body()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosedRequest("The client closed the request.")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]  # an http.request's
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge.body()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _endpoint(endpoint: Endpoint, wire: type[Wire]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The handler of one endpoint, itself (not a handler awaiting a shared one: a frame less)."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            raise MethodNotAllowed("Method not allowed for this path.")
        request: Request[Any, Any, Any] = Request(scope, receive)  # the app, the watch and a stream read it
        gw = gateway_of(request)
        serving = gw.openai
        received = gw.clock()
        headers = request.headers
        try:
            admitted = await admit(request, gw, headers)
            body = await read_body(receive, headers.get("content-length"), gw.settings.max_body_bytes)
            call = openai_call(endpoint, body, wire, headers, received, admitted.tenant, gw.ids)
        except GatewayError as err:
            serving.rejected(endpoint, received, err)
            raise
        with gw.watch.watching(request):  # its client may leave (server/disconnect.py)
            result = await serving.serve(call, admitted)
        await render(request, result)(scope, receive, send)

    handler.__name__ = handler.__qualname__ = {"chat": "chat_completions"}.get(endpoint, endpoint)
    return handler


chat_completions: ASGIRouteHandler = asgi("/v1/chat/completions", name="chat_completions")(
    _endpoint("chat", ChatCompletionRequest)
)
completions: ASGIRouteHandler = asgi("/v1/completions", name="completions")(
    _endpoint("completions", CompletionRequest)
)
embeddings: ASGIRouteHandler = asgi("/v1/embeddings", name="embeddings")(
    _endpoint("embeddings", EmbeddingRequest)
)


@post("/v1/route/explain", status_code=200)
async def route_explain(request: Request[Any, Any, Any]) -> ASGIApp:
    """The routing decision for a chat request, without generating anything; admitted and
    rate-limited like the requests it explains."""
    gw = gateway_of(request)
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        result = gw.explain.explain(await request.body(), admitted)
    except GatewayError as err:
        gw.openai.rejected("chat", received, err)
        raise
    return JSONApp(result.body)


# The routes `gateway serve` runs without Litestar's router in front (server/front.py).
DIRECT: tuple[ASGIRouteHandler, ...] = (chat_completions, completions, embeddings)

INFERENCE: list[ASGIRouteHandler | HTTPRouteHandler] = [
    chat_completions,
    completions,
    embeddings,
    route_explain,
]
