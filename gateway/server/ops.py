"""Operational endpoints: models, admin, OpenAPI, metrics, liveness and readiness."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post

from gateway.errors import UpstreamUnavailable
from gateway.rules import redacted
from gateway.server.admission import gateway_of
from gateway.serving.catalog import codex_catalog

__all__ = ["OPS"]

_encode = msgspec.json.Encoder().encode


@get("/v1/models", sync_to_thread=False)
def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    """The routes as OpenAI lists models; in Codex's catalog format when Codex asks (`client_version`,
    sent when a provider's `model_catalog_url` names this path): serving/catalog.py."""
    gw = gateway_of(request)
    gw.keys.tenant(request.headers.get("authorization"))
    if "client_version" in request.query_params:
        table = gw.table()
        etag = f'"{table.sha256[:16]}"'
        return Response(codex_catalog(table), media_type="application/json", headers={"etag": etag})
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "gateway", "tier": route.tier}
        for name, route in gw.table().routes.items()
    ]
    return Response(_encode({"object": "list", "data": data}), media_type="application/json")


@post("/admin/reload", status_code=200)
async def admin_reload(request: Request[Any, Any, Any]) -> Response[Any]:
    """Apply routes.yaml now; 200 with the result, 422 with every problem when it was rejected."""
    gw = gateway_of(request)
    gw.keys.admin(request.headers.get("authorization"))
    result = await gw.reload()
    return Response(
        _encode(result.json()), status_code=200 if result.ok else 422, media_type="application/json"
    )


@get("/admin/routes", sync_to_thread=False)
def admin_routes(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = gateway_of(request)
    gw.keys.admin(request.headers.get("authorization"))
    table = gw.table()
    body = {"source": table.source, "sha256": table.sha256, "routes": redacted(table.spec)}
    return Response(_encode(body), media_type="application/json")


@get("/openapi.json", sync_to_thread=False)
def openapi(request: Request[Any, Any, Any]) -> Response[Any]:
    return Response(gateway_of(request).openapi, media_type="application/json")


@get("/metrics", sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
    body, content_type = gateway_of(request).metrics.render()
    return Response(body, media_type=content_type)


@get("/healthz", sync_to_thread=False)
def healthz() -> Response[Any]:
    return Response(b'{"status":"ok"}', media_type="application/json")


@get("/readyz", sync_to_thread=False)
def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    ready, body = gateway_of(request).readiness()
    if not ready:
        err = UpstreamUnavailable("No backend is up.", code="not_ready")
        return Response(
            _encode({**err.envelope(), "backends": body["backends"]}),
            status_code=503,
            media_type="application/json",
        )
    return Response(_encode(body), media_type="application/json")


OPS = [list_models, admin_reload, admin_routes, openapi, metrics, healthz, readyz]
