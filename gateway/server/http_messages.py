"""Thin handlers for the Anthropic Messages API: admit, parse, let serving/messages.py run it, render.

Paths match whatever the query string (Claude Code sends `?beta=true`). Errors leave in Anthropic's
envelope (server/app.py's exception handlers know a Messages request by its path).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.types import ASGIApp

from gateway.errors import GatewayError
from gateway.protocol.anthropic import CountTokensRequest, MessagesRequest
from gateway.protocol.request import read_request
from gateway.server.admission import admit, gateway_of
from gateway.server.disconnect import while_connected
from gateway.server.render import JSONApp, render

__all__ = ["MESSAGES"]


def _forwarded(request: Request[Any, Any, Any]) -> tuple[str | None, str | None]:
    """The client's `anthropic-beta` and `anthropic-version`, for a backend that speaks the API."""
    return request.headers.get("anthropic-beta"), request.headers.get("anthropic-version")


@post("/v1/messages", status_code=200)
async def create_message(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    serving = gw.messages
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        parsed = read_request(await request.body(), MessagesRequest, request.headers)
        call = serving.call(parsed, received, admitted.tenant, *_forwarded(request))
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return render(request, await while_connected(request, serving.create(call, parsed.wire, admitted)))


@post("/v1/messages/count_tokens", status_code=200)
async def count_tokens(request: Request[Any, Any, Any]) -> ASGIApp:
    """The prompt's tokens for the backend the route would choose now; nothing is generated. Admitted
    and rate-limited like the requests it counts for."""
    gw = gateway_of(request)
    serving = gw.messages
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        parsed = read_request(await request.body(), CountTokensRequest, request.headers)
        call = serving.call(parsed, received, admitted.tenant, *_forwarded(request))
        result = await serving.count_tokens(call, admitted)
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return JSONApp(result.body, headers=result.headers)


MESSAGES = [create_message, count_tokens]
