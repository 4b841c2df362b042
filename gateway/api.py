"""Thin HTTP handlers: parse, hand to dispatch, render JSON or SSE. Errors are rendered in app.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Stream

from gateway.backends.base import Call, Endpoint
from gateway.errors import ClientClosedRequest, GatewayError, InvalidRequest, UpstreamUnavailable
from gateway.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, parse_request
from gateway.routing.planner import Hints
from gateway.routing.replay import decision_json
from gateway.routing.rules import redacted

if TYPE_CHECKING:
    from gateway.dispatch import Served, StreamServed
    from gateway.runtime import Gateway

__all__ = ["HANDLERS"]

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_DONE = b"data: [DONE]\n\n"
_T = TypeVar("_T")
_WATCH_AFTER_S = 0.25


def _gateway(request: Request[Any, Any, Any]) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def _ms(request: Request[Any, Any, Any], name: str) -> float | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise InvalidRequest(
            f"Header '{name}' must be a positive number of milliseconds.", param=name, code="invalid_header"
        )
    return value


def _hints(request: Request[Any, Any, Any], gw: Gateway, tenant: str | None) -> Hints:
    budget = _ms(request, "x-latency-budget-ms")
    spec = gw.table().spec.tenants.get(tenant) if tenant is not None else None
    if spec is None:
        return Hints(budget, _ms(request, "x-slo-ttft-ms"))
    # The request's own budget first, then the tenant's, then the route's (in the planner).
    return Hints(
        budget if budget is not None else spec.latency_budget_ms,
        _ms(request, "x-slo-ttft-ms"),
        frozenset(spec.tiers) if spec.tiers is not None else None,
    )


async def _admit(request: Request[Any, Any, Any], gw: Gateway) -> str | None:
    """The caller's tenant, once its key is known and its limits allow one more request."""
    tenant = gw.keys.tenant(request.headers.get("authorization"))
    if tenant is not None:
        spec = gw.table().spec.tenants.get(tenant)
        if spec is not None:
            await gw.limits.admit(tenant, spec)
    return tenant


def _route_headers(served: Served | StreamServed) -> dict[str, str]:
    plan = served.decision.plan
    name = served.backend.name
    tier = next((c.tier for c in plan.candidates if c.backend == name), served.decision.route.tier)
    first = plan.candidates[0].backend if plan.candidates else name
    headers = {
        "x-gateway-route": served.decision.route.name,
        "x-gateway-tier": tier,
        "x-gateway-backend": name,
        "x-gateway-reason": plan.reason if name == first else f"{plan.reason};fallback",
    }
    if plan.difficulty is not None:
        headers["x-gateway-difficulty"] = f"{plan.difficulty:.3f}"
    return headers


async def _sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass chunks through; a failure after the first byte ends the stream with an error event."""
    try:
        async for chunk in chunks:
            yield chunk
    except GatewayError as exc:
        log.warning("stream ended by upstream failure: %s", exc.message)
        yield b"data: " + _encode(exc.envelope()) + b"\n\n" + _DONE


async def _while_connected(request: Request[Any, Any, Any], work: Awaitable[_T]) -> _T:
    """Await `work`, cancelling it if the client disconnects first.

    The server only reports a disconnect through receive(); without this a request queued for the
    local model, or a hosted call billed by the token, would run on for nobody. Watching costs a task,
    so it starts only once the request has lasted _WATCH_AFTER_S: fast answers never pay for it.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    def arm() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(_WATCH_AFTER_S, arm)
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            raise ClientClosedRequest("The client closed the request.") from None
        raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


async def _serve(request: Request[Any, Any, Any], endpoint: Endpoint, model_cls: Any) -> Response[Any]:
    gw = _gateway(request)
    dispatcher = gw.dispatcher
    received = dispatcher.now()
    try:
        tenant = await _admit(request, gw)
        body = await request.body()
        parsed, raw = parse_request(body, model_cls)
        hints = _hints(request, gw, tenant)
    except GatewayError as err:
        dispatcher.recorder.rejected(Call(endpoint, {}, received=received), err)
        raise
    stream = bool(getattr(parsed, "stream", False))
    options = getattr(parsed, "stream_options", None)
    include_usage = bool(options and options.include_usage)
    call = Call(endpoint, raw, stream, include_usage, received, len(body), tenant)
    if stream:
        streamed = await _while_connected(request, dispatcher.stream(parsed.model, call, hints))
        return Stream(
            _sse(streamed.chunks),
            media_type="text/event-stream",
            headers={**_SSE_HEADERS, **_route_headers(streamed)},
        )
    served = await _while_connected(request, dispatcher.complete(parsed.model, call, hints))
    # A stream's headers leave before its tokens are counted: its cost is in the metrics only.
    headers = _route_headers(served)
    headers["x-gateway-cost-usd"] = f"{served.cost_usd:.8f}"
    return Response(
        served.reply.content, status_code=served.reply.status, media_type="application/json", headers=headers
    )


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _serve(request, "chat", ChatCompletionRequest)


@post("/v1/completions", status_code=200)
async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _serve(request, "completions", CompletionRequest)


@post("/v1/embeddings", status_code=200)
async def embeddings(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _serve(request, "embeddings", EmbeddingRequest)


@post("/v1/route/explain", status_code=200)
async def route_explain(request: Request[Any, Any, Any]) -> Response[Any]:
    """The routing decision for a chat request, without generating anything."""
    gw = _gateway(request)
    tenant = gw.keys.tenant(request.headers.get("authorization"))
    parsed, raw = parse_request(await request.body(), ChatCompletionRequest)
    decision = gw.dispatcher.decide(parsed.model, raw, _hints(request, gw, tenant))
    return Response(_encode(decision_json(decision)), media_type="application/json")


@get("/v1/models", sync_to_thread=False)
def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = _gateway(request)
    gw.keys.tenant(request.headers.get("authorization"))
    table = gw.table()
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "gateway", "tier": route.tier}
        for name, route in table.routes.items()
    ]
    return Response(_encode({"object": "list", "data": data}), media_type="application/json")


@post("/admin/reload", status_code=200)
async def admin_reload(request: Request[Any, Any, Any]) -> Response[Any]:
    """Apply routes.yaml now; 200 with the result, 422 with every problem when it was rejected."""
    gw = _gateway(request)
    gw.keys.admin(request.headers.get("authorization"))
    result = await gw.reload()
    return Response(
        _encode(result.json()), status_code=200 if result.ok else 422, media_type="application/json"
    )


@get("/admin/routes", sync_to_thread=False)
def admin_routes(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = _gateway(request)
    gw.keys.admin(request.headers.get("authorization"))
    table = gw.table()
    body = {"source": table.source, "sha256": table.sha256, "routes": redacted(table.spec)}
    return Response(_encode(body), media_type="application/json")


@get("/openapi.json", sync_to_thread=False)
def openapi(request: Request[Any, Any, Any]) -> Response[Any]:
    return Response(_gateway(request).openapi, media_type="application/json")


@get("/metrics", sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
    body, content_type = _gateway(request).metrics.render()
    return Response(body, media_type=content_type)


@get("/healthz", sync_to_thread=False)
def healthz() -> Response[Any]:
    return Response(b'{"status":"ok"}', media_type="application/json")


@get("/readyz", sync_to_thread=False)
def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    """Routes loaded and at least one backend up, from the last health checks (no probe per call)."""
    gw = _gateway(request)
    guard, now = gw.guard, gw.dispatcher.now()
    backends = {
        name: {
            "up": guard.health.up(name),
            "breaker": guard.breakers.state(name, now).value,
            "queued": b.queued,
            "saturated": b.saturated,
        }
        for name, b in gw.backends.items()
    }
    retries = {"granted": guard.budget.granted, "denied_by_budget": guard.budget.denied}
    if not any(v["up"] for v in backends.values()):
        err = UpstreamUnavailable("No backend is up.", code="not_ready")
        return Response(
            _encode({**err.envelope(), "backends": backends}), status_code=503, media_type="application/json"
        )
    runtime = {"tasks": len(asyncio.all_tasks())}  # a leak shows here first
    body = {
        "status": "ready",
        "routes_sha256": gw.table().sha256,
        "backends": backends,
        "retries": retries,
        "runtime": runtime,
    }
    return Response(_encode(body), media_type="application/json")


HANDLERS = [
    chat_completions,
    completions,
    embeddings,
    route_explain,
    list_models,
    admin_reload,
    admin_routes,
    openapi,
    metrics,
    healthz,
    readyz,
]
