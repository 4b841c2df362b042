"""Composition root: create_app(settings) wires routes, backends, dispatch and the HTTP layer.

Nothing happens at import. The lifespan owns the upstream HTTP session and the backends (model loading).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
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

from gateway.api import HANDLERS
from gateway.backends.base import Backend
from gateway.backends.http import make_session
from gateway.backends.registry import build_backends, preflight
from gateway.config import Settings
from gateway.dispatch import Dispatcher
from gateway.errors import (
    ClientError,
    ConfigError,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from gateway.metrics import BackendRow, Metrics
from gateway.recorder import Recorder
from gateway.resilience.guard import Guard
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.routing.rules import RouteTable, load_classifier, load_routes

__all__ = ["Gateway", "create_app"]

log = logging.getLogger(__name__)


class Gateway:
    """What the handlers reach through app.state: the live route table, backends and dispatcher."""

    def __init__(self, settings: Settings, table: RouteTable, registry: CollectorRegistry) -> None:
        self.settings = settings
        self._table = table
        self.backends: dict[str, Backend] = {}
        self.metrics = Metrics(registry)
        planner = Planner(load_classifier(table), LatencyBook())
        self.guard = Guard.from_spec(table.spec, self.backends, observer=self.metrics)
        self.dispatcher = Dispatcher(
            self.table,
            self.backends,
            planner,
            self.guard,
            Recorder(self.metrics, self.table),
            request_timeout_s=settings.request_timeout_s,
            first_token_timeout_s=settings.first_token_timeout_s,
        )

    def table(self) -> RouteTable:
        return self._table

    def backend_rows(self) -> list[BackendRow]:
        """Each backend's live state, read when Prometheus scrapes."""
        now = self.dispatcher.now()
        return [
            BackendRow(
                tier=tier,
                backend=spec.name,
                up=self.guard.health.up(spec.name),
                breaker=self.guard.breakers.state(spec.name, now).value,
                in_flight=self.dispatcher.in_flight(spec.name),
                queued=self.backends[spec.name].queued if spec.name in self.backends else 0,
            )
            for tier, t in self._table.spec.tiers.items()
            for spec in t.backends
        ]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        s = self.settings
        session = make_session(
            max_connections=s.max_upstream_connections,
            connect_timeout_s=s.connect_timeout_s,
            read_timeout_s=s.read_timeout_s,
        )
        try:
            self.backends.update(
                build_backends(self._table.spec, session=session, model_threads=s.model_threads)
            )
            await asyncio.gather(*(b.start() for b in self.backends.values()))
            await self.guard.health.check_all()  # readiness is known before the first request
            self.guard.health.start()
            # Everything loaded so far (routes, weights, clients) lives as long as the process: keep it
            # out of the garbage collector's scans, which otherwise grow with it on every request burst.
            gc.freeze()
            log.info(
                "routes %s (sha256 %s): %d routes, backends: %s",
                self._table.source,
                self._table.sha256[:12],
                len(self._table.routes),
                ", ".join(f"{b.name} ({b.kind})" for b in self.backends.values()),
            )
            yield
        finally:
            await self.guard.health.stop()
            await asyncio.gather(*(b.aclose() for b in self.backends.values()), return_exceptions=True)
            self.backends.clear()
            await session.close()


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _on_gateway_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    return _json(exc.envelope(), exc.status, exc.headers)


def _on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # Litestar's own refusals (unknown path, wrong method, body over the limit) in OpenAI's envelope.
    err: GatewayError
    status = exc.status_code
    if status == 404:
        err = NotFound("Unknown path; this gateway serves the OpenAI API under /v1.")
    elif status == 405:
        err = MethodNotAllowed("Method not allowed for this path.")
    elif status == 413:
        err = PayloadTooLarge("The request body is larger than this gateway accepts.", code="body_too_large")
    elif status < 500:
        err = ClientError(str(exc.detail))
    else:
        err, status = GatewayError("Internal error."), 500
    return _json(err.envelope(), status if status < 500 else err.status)


def _on_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _json(GatewayError("Internal error.", code="internal_error").envelope(), 500)


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
) -> Litestar:
    settings = settings or Settings()
    table = table or load_routes(settings.routes)
    problems = preflight(table.spec)
    if problems:
        raise ConfigError(f"{table.source}: backends cannot start", problems)
    gateway = Gateway(settings, table, registry or _registry())
    gateway.metrics.watch(gateway.backend_rows, lambda: gateway.table().sha256)
    gateway.metrics.prepare(b.name for t in table.spec.tiers.values() for b in t.backends)
    gateway.metrics.reloaded(ok=True)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with gateway.running():
            yield

    app = Litestar(
        route_handlers=HANDLERS,
        lifespan=[lifespan],
        exception_handlers={
            GatewayError: _on_gateway_error,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        logging_config=None,
    )
    app.state.gateway = gateway
    return app
