"""Thin handlers for the Responses API: admit, parse, let serving/responses.py run it, render."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post
from litestar.types import ASGIApp

from gateway.errors import GatewayError
from gateway.protocol import parse_request
from gateway.protocol.responses import ResponsesRequest
from gateway.protocol.session import session_of
from gateway.server.admission import admit, gateway_of, hints, tenant_of
from gateway.server.disconnect import while_connected
from gateway.server.render import JSONApp, render

__all__ = ["RESPONSES"]


@post("/v1/responses", status_code=200)
async def create_response(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    serving = gw.responses_api
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        req, raw = parse_request(await request.body(), ResponsesRequest)
        asked = hints(request, gw, tenant)
        prepared = await serving.prepare(req, raw, tenant, received, session_of(request.headers, raw))
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return render(request, await while_connected(request, serving.create(prepared, asked)))


def _owner(request: Request[Any, Any, Any]) -> str | None:
    return tenant_of(request, gateway_of(request))


@get("/v1/responses/{response_id:str}")
async def retrieve_response(request: Request[Any, Any, Any], response_id: str) -> ASGIApp:
    stream = request.query_params.get("stream") in ("true", "1")
    result = await gateway_of(request).responses_api.retrieve(_owner(request), response_id, stream)
    return JSONApp(result.body)


@delete("/v1/responses/{response_id:str}", status_code=200)
async def delete_response(request: Request[Any, Any, Any], response_id: str) -> ASGIApp:
    result = await gateway_of(request).responses_api.delete(_owner(request), response_id)
    return JSONApp(result.body)


@get("/v1/responses/{response_id:str}/input_items")
async def list_input_items(request: Request[Any, Any, Any], response_id: str) -> ASGIApp:
    """The input items this response was created with (its own request's, not the chain's)."""
    q = request.query_params
    result = await gateway_of(request).responses_api.input_items(
        _owner(request), response_id, order=q.get("order", "desc"), after=q.get("after"), limit=q.get("limit")
    )
    return JSONApp(result.body)


@post("/v1/responses/{response_id:str}/cancel", status_code=200)
async def cancel_response(request: Request[Any, Any, Any], response_id: str) -> ASGIApp:
    return JSONApp(gateway_of(request).responses_api.cancel().body)


RESPONSES = [create_response, retrieve_response, delete_response, list_input_items, cancel_response]
