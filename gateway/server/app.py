"""Composition root: create_app(settings) wires routes, backends, dispatch and the HTTP layer.

Nothing happens at import. The lifespan owns the upstream HTTP session and the backends (model loading);
process-wide tuning is the caller's (`gateway serve`), passed in as `on_started`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import HTTPException
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from gateway.backends.registry import preflight
from gateway.config import Settings
from gateway.errors import (
    ClientError,
    ConfigError,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from gateway.protocol import anthropic
from gateway.rules import RouteTable, load_routes
from gateway.server.admin_learning import LEARNING
from gateway.server.feedback import FEEDBACK
from gateway.server.http_messages import MESSAGES
from gateway.server.http_openai import INFERENCE
from gateway.server.http_responses import RESPONSES
from gateway.server.ops import OPS
from gateway.server.runtime import Gateway
from gateway.server.ws_responses import SOCKETS

__all__ = ["EXCEPTION_HANDLERS", "create_app"]

log = logging.getLogger(__name__)


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


# The OpenAI APIs' paths: their errors are OpenAI's even when a client adds `anthropic-version`.
_OPENAI_PATHS = ("/v1/chat/", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/route/")


def _speaks_anthropic(request: Request[Any, Any, Any]) -> bool:
    """Is this request a Messages client's? Known by its path (so before any handler ran: keys,
    limits, a body over the limit), or, off the OpenAI APIs' paths, by its `anthropic-version`."""
    path: str = request.scope["path"]
    if path.startswith("/v1/messages"):
        return True
    return "anthropic-version" in request.headers and not path.startswith(_OPENAI_PATHS)


def _error(request: Request[Any, Any, Any], err: GatewayError) -> Response[Any]:
    """The error in the envelope of the API the request speaks (OpenAI's, or Anthropic's)."""
    if _speaks_anthropic(request):
        return _json(anthropic.envelope(err), anthropic.status_of(err), err.headers)
    return _json(err.envelope(), err.status, err.headers)


def _on_gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    return _error(request, exc)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # Litestar's own refusals (unknown path, wrong method, body over the limit) in the API's envelope.
    err: GatewayError
    status = exc.status_code
    if status == 404:
        err = NotFound("Unknown path; this gateway serves the OpenAI API under /v1.")
    elif status == 405:
        err = MethodNotAllowed("Method not allowed for this path.")
    elif status == 413:
        err = PayloadTooLarge.body()
    elif status < 500:
        err = ClientError(str(exc.detail))
        err.status = status  # type: ignore[misc]  # Litestar's own 4xx, kept as it is
    else:
        err = GatewayError("Internal error.")
    return _error(request, err)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _error(request, GatewayError("Internal error.", code="internal_error"))


# Litestar's and the front's (server/front.py): every error in the envelope of the API it speaks.
EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
    GatewayError: _on_gateway_error,
    HTTPException: _on_http_exception,
    Exception: _on_unexpected,
}


def _registry() -> CollectorRegistry:
    # The app's own registry (not prometheus_client's global one), so apps in one process don't clash.
    # `_created` series double what is scraped and stored, and no dashboard reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def create_app(
    settings: Settings | None = None,
    table: RouteTable | None = None,
    registry: CollectorRegistry | None = None,
    on_started: Callable[[], None] | None = None,
) -> Litestar:
    settings = settings or Settings()
    table = table or load_routes(settings.routes)
    problems = preflight(table.spec)
    if problems:
        raise ConfigError(f"{table.source}: backends cannot start", problems)
    gateway = Gateway(settings, table, registry or _registry())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with gateway.running():
            if on_started is not None:
                on_started()
            yield

    app = Litestar(
        route_handlers=[*INFERENCE, *RESPONSES, *SOCKETS, *MESSAGES, *FEEDBACK, *OPS, *LEARNING],
        lifespan=[lifespan],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        logging_config=None,
    )
    app.state.gateway = gateway
    return app
