"""Thin handlers for the OpenAI inference endpoints: admit, parse, let serving run it, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp

from gateway.errors import GatewayError
from gateway.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, Endpoint
from gateway.protocol.openai import Wire
from gateway.protocol.request import openai_call
from gateway.server.admission import admit, gateway_of
from gateway.server.render import JSONApp, render

__all__ = ["INFERENCE"]


def _endpoint(endpoint: Endpoint, wire: type[Wire]) -> Callable[[Request[Any, Any, Any]], Awaitable[ASGIApp]]:
    """The handler of one endpoint, itself (not a handler awaiting a shared one: a frame less)."""

    async def handler(request: Request[Any, Any, Any]) -> ASGIApp:
        gw = gateway_of(request)
        serving = gw.openai
        received = gw.clock()
        headers = request.headers
        try:
            admitted = await admit(request, gw, headers)
            body = await request.body()
            call = openai_call(endpoint, body, wire, headers, received, admitted.tenant, gw.ids)
        except GatewayError as err:
            serving.rejected(endpoint, received, err)
            raise
        with gw.watch.watching(request):  # its client may leave (server/disconnect.py)
            result = await serving.serve(call, admitted)
        return render(request, result)

    handler.__name__ = handler.__qualname__ = {"chat": "chat_completions"}.get(endpoint, endpoint)
    return handler


chat_completions: HTTPRouteHandler = post("/v1/chat/completions", status_code=200)(
    _endpoint("chat", ChatCompletionRequest)
)
completions: HTTPRouteHandler = post("/v1/completions", status_code=200)(
    _endpoint("completions", CompletionRequest)
)
embeddings: HTTPRouteHandler = post("/v1/embeddings", status_code=200)(
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


INFERENCE = [chat_completions, completions, embeddings, route_explain]
