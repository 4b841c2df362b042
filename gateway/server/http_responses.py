"""Thin handlers for the Responses API: admit, parse, let serving/responses.py run it, render."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post
from litestar.types import ASGIApp

from gateway.errors import GatewayError, InvalidRequest, UpgradeRequired
from gateway.protocol.openai import parse_json, validate
from gateway.protocol.request import read_request
from gateway.protocol.responses import ResponsesRequest
from gateway.protocol.session import session_of
from gateway.server.admission import admit, gateway_of, tenant_of
from gateway.server.disconnect import while_connected
from gateway.server.render import JSONApp, render

__all__ = ["RESPONSES"]


@post("/v1/responses", status_code=200)
async def create_response(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    serving = gw.responses_api
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        parsed = read_request(await request.body(), ResponsesRequest, request.headers)
        prepared = await serving.prepare(
            parsed.wire, parsed.raw, admitted.tenant, received, session=parsed.session
        )
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return render(request, await while_connected(request, serving.create(prepared, admitted)))


async def _parse(request: Request[Any, Any, Any], what: str) -> tuple[ResponsesRequest, dict[str, Any]]:
    raw = parse_json(await request.body())
    if "model" not in raw:  # optional at OpenAI; here it names the route whose backend answers
        raise InvalidRequest(
            f"`model` is required: it names the route whose backend {what}.",
            param="model",
            code="missing_required_parameter",
        )
    raw.pop("stream", None)
    return validate(raw, ResponsesRequest), raw


@post("/v1/responses/input_tokens", status_code=200)
async def count_input_tokens(request: Request[Any, Any, Any]) -> ASGIApp:
    """The input's tokens for the backend the route would choose now; admitted and rate-limited like
    route/explain, nothing generated."""
    gw = gateway_of(request)
    serving = gw.responses_api
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        req, raw = await _parse(request, "counts the tokens")
        prepared = await serving.prepare(req, raw, admitted.tenant, received)
        result = await serving.input_tokens(prepared, admitted)
    except GatewayError as err:
        serving.rejected(received, err)
        raise
    return JSONApp(result.body, headers=result.headers)


@post("/v1/responses/compact", status_code=200)
async def compact_response(request: Request[Any, Any, Any]) -> ASGIApp:
    """A conversation compacted: by a native backend itself, or summarised by a chat backend into the
    gateway's own compaction item (serving/compaction.py)."""
    gw = gateway_of(request)
    received = gw.clock()
    try:
        admitted = await admit(request, gw)
        req, raw = await _parse(request, "compacts it")
        session = session_of(request.headers, raw)
        call, compacting = await gw.compaction.call(req, raw, admitted.tenant, received, session)
    except GatewayError as err:
        gw.responses_api.rejected(received, err)
        raise
    result = await while_connected(request, gw.compaction.compact(call, compacting, admitted))
    return JSONApp(result.body, result.status, result.headers)


@get("/v1/responses", sync_to_thread=False)
def responses_without_upgrade() -> ASGIApp:
    """GET /v1/responses opens a WebSocket (ws_responses.py); a plain GET is told so."""
    raise UpgradeRequired(
        "GET /v1/responses opens a WebSocket (send `Upgrade: websocket`); create a response with POST.",
        code="websocket_upgrade_required",
    )


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


RESPONSES = [
    create_response,
    responses_without_upgrade,
    count_input_tokens,
    compact_response,
    retrieve_response,
    delete_response,
    list_input_items,
    cancel_response,
]
