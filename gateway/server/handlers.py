"""Thin handlers for the inference endpoints: parse, build the request view, dispatch, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, post
from litestar.response import Stream
from litestar.types import ASGIApp

from gateway.errors import GatewayError
from gateway.protocol import (
    Call,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    Endpoint,
    RequestView,
    chat_view,
    completion_view,
    embedding_view,
    parse_json,
    parse_request,
)
from gateway.protocol.ids import IdStream, claim
from gateway.routing.replay import decision_json, judged, replay_drafts
from gateway.server.admission import admit, gateway_of, hints
from gateway.server.answer import JSONAnswer
from gateway.server.disconnect import while_connected
from gateway.server.sse import SSE_HEADERS, chat_events

if TYPE_CHECKING:
    from gateway.dispatch import Served, StreamServed
    from gateway.protocol.openai import Wire
    from gateway.routing.decision import Hints
    from gateway.server.runtime import Gateway

__all__ = ["INFERENCE", "route_headers"]

_encode = msgspec.json.Encoder().encode
ViewOf = Callable[[dict[str, Any], int], RequestView]


def route_headers(served: Served | StreamServed) -> dict[str, str]:
    plan, trace = served.decision.plan, served.trace
    name = served.backend.name
    first = plan.candidates[0].backend if plan.candidates else name
    reason = plan.reason
    if trace.cascade == "escalated":
        reason += ";escalated"
    elif name != first:
        reason += ";fallback"
    headers = {
        "x-gateway-route": served.decision.route.name,
        "x-gateway-tier": served.tier,
        "x-gateway-backend": name,
        "x-gateway-reason": reason,
    }
    if plan.difficulty is not None:
        headers["x-gateway-difficulty"] = f"{plan.difficulty:.3f}"
    if trace.cascade is not None:
        headers["x-gateway-cascade"] = trace.cascade
    if trace.confidence is not None:
        headers["x-gateway-confidence"] = f"{trace.confidence:.3f}"
    return headers


async def _admitted_call(
    request: Request[Any, Any, Any], gw: Gateway, endpoint: Endpoint, wire: type[Wire], view_of: ViewOf
) -> tuple[Call, Hints]:
    """The request as a Call, with its hints; a refusal is recorded before it is raised."""
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        body = await request.body()
        _, raw = parse_request(body, wire)
        # An embeddings answer carries no id: nothing to claim, to rate or to index.
        rid = "" if endpoint == "embeddings" else gw.ids.new(endpoint)
        call = Call(view_of(raw, len(body)), raw, received, tenant, response_id=rid)
        return call, hints(request, gw, tenant)
    except GatewayError as err:
        gw.dispatcher.recorder.rejected(Call(RequestView(endpoint, "", tuple), {}, received), err)
        raise


async def _serve(
    request: Request[Any, Any, Any], endpoint: Endpoint, wire: type[Wire], view_of: ViewOf
) -> ASGIApp:
    gw = gateway_of(request)
    dispatcher = gw.dispatcher
    call, asked = await _admitted_call(request, gw, endpoint, wire, view_of)
    if call.stream:
        streamed = await while_connected(request, dispatcher.stream(call, asked))
        return Stream(
            chat_events(streamed.chunks, IdStream(call.response_id)),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **route_headers(streamed)},
        ).to_asgi_response(None, request)
    served = await while_connected(request, dispatcher.complete(call, asked))
    # A stream's headers leave before its tokens are counted: its cost is in the metrics only.
    headers = route_headers(served)
    headers["x-gateway-cost-usd"] = f"{served.cost_usd:.8f}"
    content = claim(served.reply.content, call.response_id) if call.response_id else served.reply.content
    return JSONAnswer(content, served.reply.status, headers)


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> ASGIApp:
    return await _serve(request, "chat", ChatCompletionRequest, chat_view)


@post("/v1/completions", status_code=200)
async def completions(request: Request[Any, Any, Any]) -> ASGIApp:
    return await _serve(request, "completions", CompletionRequest, completion_view)


@post("/v1/embeddings", status_code=200)
async def embeddings(request: Request[Any, Any, Any]) -> ASGIApp:
    return await _serve(request, "embeddings", EmbeddingRequest, embedding_view)


@post("/v1/route/explain", status_code=200)
async def route_explain(request: Request[Any, Any, Any]) -> Response[Any]:
    """The routing decision for a chat request, without generating anything; admitted and
    rate-limited like the requests it explains. `{"request": ..., "draft": ...}` also says what the
    verifier makes of the draft, as `gateway route` does."""
    gw = gateway_of(request)
    received = gw.dispatcher.now()
    try:
        tenant = await admit(request, gw)
        body = await request.body()
        wrapped = parse_json(body)
        drafts = None
        if "request" in wrapped:
            drafts = replay_drafts(wrapped["draft"]) if "draft" in wrapped else None
            body = _encode(wrapped["request"])
        _, raw = parse_request(body, ChatCompletionRequest)
        view = chat_view(raw, len(body))
        decision = gw.dispatcher.decide(view, hints(request, gw, tenant))
    except GatewayError as err:
        gw.dispatcher.recorder.rejected(Call(RequestView("chat", "", tuple), {}, received), err)
        raise
    out = decision_json(decision)
    if drafts is not None:
        out.update(judged(gw.snapshot().verifier, decision, view, drafts))
    return Response(_encode(out), media_type="application/json")


INFERENCE = [chat_completions, completions, embeddings, route_explain]
