"""Operational endpoints: models, admin, OpenAPI, metrics, liveness and readiness."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.types import ASGIApp

from gateway.errors import UpstreamUnavailable
from gateway.rules import redacted
from gateway.server.admission import credentials, gateway_of, tenant_of
from gateway.server.render import JSONApp
from gateway.serving.catalog import codex_catalog
from gateway.serving.models import anthropic_models, openai_models

__all__ = ["OPS"]

_encode = msgspec.json.Encoder().encode


@get("/v1/models", sync_to_thread=False)
def list_models(request: Request[Any, Any, Any]) -> ASGIApp:
    """The routes' names; in Anthropic's shape for a request that carries `anthropic-version`; in
    Codex's catalog format when Codex asks (`client_version`, sent when a provider's
    `model_catalog_url` names this path): serving/catalog.py."""
    gw = gateway_of(request)
    tenant_of(request, gw)
    q = request.query_params
    if "client_version" in q:
        table = gw.table()
        return JSONApp(_encode(codex_catalog(table)), headers={"etag": f'"{table.sha256[:16]}"'})
    if "anthropic-version" not in request.headers:
        return JSONApp(openai_models(gw.table()).body)
    found = anthropic_models(
        gw.table(), limit=q.get("limit"), after_id=q.get("after_id"), before_id=q.get("before_id")
    )
    return JSONApp(found.body)


@post("/admin/reload", status_code=200)
async def admin_reload(request: Request[Any, Any, Any]) -> Response[Any]:
    """Apply routes.yaml now; 200 with the result, 422 with every problem when it was rejected."""
    gw = gateway_of(request)
    gw.keys.admin(*credentials(request))
    result = await gw.reload()
    return Response(
        _encode(result.json()), status_code=200 if result.ok else 422, media_type="application/json"
    )


@get("/admin/routes", sync_to_thread=False)
def admin_routes(request: Request[Any, Any, Any]) -> Response[Any]:
    gw = gateway_of(request)
    gw.keys.admin(*credentials(request))
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
