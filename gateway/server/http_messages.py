"""Thin handlers for the Anthropic Messages API: admit, parse, let serving/messages.py run it, render.

Paths match whatever the query string (Claude Code sends `?beta=true`). Errors leave in Anthropic's
envelope (server/app.py's exception handlers know a Messages request by its path).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.types import ASGIApp

from gateway.errors import GatewayError
from gateway.protocol import parse_request
from gateway.protocol.anthropic import CountTokensRequest, MessagesRequest
from gateway.protocol.session import session_of
from gateway.server.admission import admit, gateway_of, hints
from gateway.server.disconnect import while_connected
from gateway.server.render import JSONApp, render

__all__ = ["MESSAGES"]


@post("/v1/messages", status_code=200)
async def create_message(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    serving = gw.messages
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        body = await request.body()
        req, raw = parse_request(body, MessagesRequest)
        call = serving.call(req, raw, len(body), received, tenant, session_of(request.headers, raw))
        asked = hints(request, gw, tenant)
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return render(request, await while_connected(request, serving.create(call, req, asked)))


@post("/v1/messages/count_tokens", status_code=200)
async def count_tokens(request: Request[Any, Any, Any]) -> ASGIApp:
    """The prompt's tokens for the backend the route would choose now; nothing is generated. Admitted
    and rate-limited like the requests it counts for."""
    gw = gateway_of(request)
    serving = gw.messages
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        body = await request.body()
        req, raw = parse_request(body, CountTokensRequest)
        call = serving.call(req, raw, len(body), received, tenant, session_of(request.headers, raw))
        result = await serving.count_tokens(call, hints(request, gw, tenant))
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return JSONApp(result.body, headers=result.headers)


MESSAGES = [create_message, count_tokens]
