"""The Responses API: POST /v1/responses (JSON and SSE), and the stored responses behind it.

The gateway owns conversation state: a `previous_response_id` is resolved here, from this tenant's
stored responses, into the whole conversation, which every backend then gets in full (with
`store: false` for native ones), so a chain may cross tiers and replicas. A response is stored once
it is complete, unless the request said `store: false`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.response import Stream
from litestar.types import ASGIApp

from gateway.dispatch.responses import ResponsesPlain, ResponsesStreamed, Turn
from gateway.errors import ClientError, GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from gateway.protocol import Call, RequestView, chat_view, parse_request, responses_view
from gateway.protocol.responses import (
    NativeTap,
    ResponsesRequest,
    Translation,
    chat_body,
    echo,
    input_items,
    native_only,
    new_id,
)
from gateway.server.admission import admit, gateway_of, hints
from gateway.server.answer import JSONAnswer
from gateway.server.disconnect import while_connected
from gateway.server.handlers import route_headers
from gateway.server.sse import SSE_HEADERS
from gateway.tenancy.responses import ANONYMOUS, valid_id

if TYPE_CHECKING:
    from gateway.routing.decision import Hints
    from gateway.server.runtime import Gateway

__all__ = ["RESPONSES"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_ITEM_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _not_found(rid: str) -> NotFound:
    shown = rid if valid_id(rid) else "(not a response id)"
    return NotFound(f"No response with id '{shown}' is stored for this key.", param="response_id")


async def _record(gw: Gateway, tenant: str, rid: str) -> dict[str, Any]:
    if not valid_id(rid):
        raise _not_found(rid)
    raw = await gw.responses.get(tenant, rid)  # ServiceUnavailable (503) when the store is down
    if raw is None:
        raise _not_found(rid)
    record: dict[str, Any] = _decode(raw)
    return record


async def _conversation(gw: Gateway, tenant: str, req: ResponsesRequest) -> list[dict[str, Any]]:
    """The stored chain this request continues, as items: its inputs, then its outputs."""
    if req.previous_response_id is None:
        return []
    record = await _record(gw, tenant, req.previous_response_id)
    return [*record["input"], *record["response"]["output"]]


def _call(
    req: ResponsesRequest,
    raw: dict[str, Any],
    items: list[dict[str, Any]],
    size: int,
    received: float,
    tenant: str | None,
) -> Call:
    native = {k: v for k, v in raw.items() if k != "previous_response_id"}
    native.update(input=items, store=False)
    view = responses_view(raw, items, size)
    needs = native_only(req, items)
    if needs:
        return Call(view, native, received, tenant, needs=", ".join(needs))
    chat = chat_body(req, items, req.model)
    # Its own view: to a backend it is a chat completion (its path, its parameters).
    as_chat = Call(chat_view(chat, size), chat, received, tenant)
    return Call(view, native, received, tenant, chat=as_chat)


async def _admitted(
    request: Request[Any, Any, Any], gw: Gateway
) -> tuple[Call, Hints, ResponsesRequest, dict[str, Any], list[dict[str, Any]], str]:
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        body = await request.body()
        req, raw = parse_request(body, ResponsesRequest)
        asked = hints(request, gw, tenant)
        own = input_items(req.input)
        if not own and req.previous_response_id is None:
            raise InvalidRequest("`input` is required.", param="input", code="missing_required_parameter")
        owner = tenant or ANONYMOUS
        items = [*await _conversation(gw, owner, req), *own]
        size = len(_encode(items))
        if size > gw.settings.max_body_bytes:
            raise PayloadTooLarge(
                f"The conversation is {size} bytes with its history; this gateway accepts "
                f"{gw.settings.max_body_bytes}.",
                code="conversation_too_large",
            )
        call = _call(req, raw, items, size, received, tenant)
        call.response_id = gw.ids.new("responses")
    except GatewayError as err:
        gw.dispatcher.recorder.rejected(Call(RequestView("responses", "", tuple), {}, received), err)
        raise
    return call, asked, req, raw, own, owner


async def _store(gw: Gateway, owner: str, turn: Turn, items: list[dict[str, Any]], own: int) -> bool:
    """Keep a finished response and its conversation, for chains and retrieval."""
    final = turn.final
    if final is None:
        return False
    # The request's own items get ids once, here, so that listing them pages the same way each time.
    ids = [
        i.get("id") or new_id(_ITEM_PREFIX.get(str(i.get("type")), "item")) for i in items[len(items) - own :]
    ]
    record = {"response": final, "input": items, "own_ids": ids}
    stored = await gw.responses.put(owner, str(final["id"]), _encode(record))
    if not stored:
        gw.metrics.not_stored()
    return stored


async def _events(
    gw: Gateway,
    chunks: AsyncIterator[bytes],
    turn: Turn,
    keep: bool,
    owner: str,
    items: list[dict[str, Any]],
    own: int,
) -> AsyncIterator[bytes]:
    """Pass events through; a failure after the first one ends the stream with response.failed."""
    try:
        async for chunk in chunks:
            yield chunk
    except GatewayError as exc:
        log.warning("responses stream ended by upstream failure: %s", exc.message)
        yield turn.translation.failed(exc.envelope())
        return
    if keep:
        await _store(gw, owner, turn, items, own)


@post("/v1/responses", status_code=200)
async def create_response(request: Request[Any, Any, Any]) -> ASGIApp:
    gw = gateway_of(request)
    call, asked, req, raw, own, owner = await _admitted(request, gw)
    rid = call.response_id
    keep = req.store is not False
    client = {"previous_response_id": req.previous_response_id, "store": keep}
    turn = Turn(Translation(rid, echo(req, raw), req.model), NativeTap(rid, client))
    items = call.body["input"]
    if req.stream:
        streamed = await while_connected(request, gw.dispatcher.stream(call, asked, ResponsesStreamed(turn)))
        return Stream(
            _events(gw, streamed.chunks, turn, keep, owner, items, len(own)),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **route_headers(streamed)},
        ).to_asgi_response(None, request)
    served = await while_connected(request, gw.dispatcher.complete(call, asked, ResponsesPlain(turn)))
    headers = route_headers(served)
    headers["x-gateway-cost-usd"] = f"{served.cost_usd:.8f}"
    content = served.reply.content
    if keep and not await _store(gw, owner, turn, items, len(own)):
        # Served all the same, and says so: a later previous_response_id to it will be a 404.
        content = _encode({**_decode(content), "store": False})
    return JSONAnswer(content, served.reply.status, headers)


def _owner(request: Request[Any, Any, Any], gw: Gateway) -> str:
    return gw.keys.tenant(request.headers.get("authorization")) or ANONYMOUS


@get("/v1/responses/{response_id:str}")
async def retrieve_response(request: Request[Any, Any, Any], response_id: str) -> Response[Any]:
    gw = gateway_of(request)
    if request.query_params.get("stream") in ("true", "1"):
        raise InvalidRequest("Streaming a stored response again is not supported.", param="stream")
    record = await _record(gw, _owner(request, gw), response_id)
    return Response(_encode(record["response"]), media_type="application/json")


@delete("/v1/responses/{response_id:str}", status_code=200)
async def delete_response(request: Request[Any, Any, Any], response_id: str) -> Response[Any]:
    gw = gateway_of(request)
    if not valid_id(response_id) or not await gw.responses.delete(_owner(request, gw), response_id):
        raise _not_found(response_id)
    body = {"id": response_id, "object": "response.deleted", "deleted": True}
    return Response(_encode(body), media_type="application/json")


@get("/v1/responses/{response_id:str}/input_items")
async def list_input_items(request: Request[Any, Any, Any], response_id: str) -> Response[Any]:
    """The input items this response was created with (its own request's, not the chain's)."""
    gw = gateway_of(request)
    record = await _record(gw, _owner(request, gw), response_id)
    ids: list[str] = record["own_ids"]
    mine = record["input"][len(record["input"]) - len(ids) :] if ids else []
    items = [{**item, "id": rid} for item, rid in zip(mine, ids, strict=True)]
    q = request.query_params
    if q.get("order", "desc") == "desc":
        items.reverse()
    after = q.get("after")
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = max(1, min(100, int(q.get("limit", 20))))
    except ValueError:
        raise InvalidRequest("`limit` must be a number from 1 to 100.", param="limit") from None
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
    return Response(_encode(body), media_type="application/json")


@post("/v1/responses/{response_id:str}/cancel", status_code=200)
async def cancel_response(request: Request[Any, Any, Any], response_id: str) -> Response[Any]:
    raise ClientError(
        "Only background responses can be cancelled, and this gateway runs none: every response is "
        "answered while the request is open.",
        param="response_id",
        code="background_not_supported",
    )


RESPONSES = [create_response, retrieve_response, delete_response, list_input_items, cancel_response]
