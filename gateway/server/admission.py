"""Who is calling and what they may ask for: the tenant behind the key, its limits, its hints (from an
HTTP request or a WebSocket's upgrade request alike: both are read by their headers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.errors import InvalidRequest
from gateway.routing.decision import Hints

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

    from gateway.server.runtime import Gateway

__all__ = ["admit", "credentials", "gateway_of", "hints", "tenant_of", "within_limits"]


def gateway_of(request: ASGIConnection[Any, Any, Any, Any]) -> Gateway:
    """The live gateway the app serves (set by create_app)."""
    gw: Gateway = request.app.state.gateway
    return gw


def _ms(request: ASGIConnection[Any, Any, Any, Any], name: str) -> float | None:
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


def hints(request: ASGIConnection[Any, Any, Any, Any], gw: Gateway, tenant: str | None) -> Hints:
    """The request's latency hints and its tenant's tiers: the request's own budget first, then the
    tenant's, then the route's (in the planner)."""
    budget = _ms(request, "x-latency-budget-ms")
    spec = gw.table().spec.tenants.get(tenant) if tenant is not None else None
    if spec is None:
        return Hints(budget, _ms(request, "x-slo-ttft-ms"))
    return Hints(
        budget if budget is not None else spec.latency_budget_ms,
        _ms(request, "x-slo-ttft-ms"),
        frozenset(spec.tiers) if spec.tiers is not None else None,
    )


def credentials(request: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, str | None]:
    """The keys a request presents, on every endpoint: `Authorization: Bearer` (OpenAI's clients)
    and `x-api-key` (Anthropic's)."""
    headers = request.headers
    return headers.get("authorization"), headers.get("x-api-key")


def tenant_of(request: ASGIConnection[Any, Any, Any, Any], gw: Gateway) -> str | None:
    """The caller's tenant (None on an open gateway); 401 without a valid key."""
    return gw.keys.tenant(*credentials(request))


async def within_limits(gw: Gateway, tenant: str | None) -> None:
    """Count one request against the tenant's limits, or raise the 429 that says which one."""
    if tenant is not None:
        spec = gw.table().spec.tenants.get(tenant)
        if spec is not None:
            await gw.stores.limits.admit(tenant, spec)


async def admit(request: ASGIConnection[Any, Any, Any, Any], gw: Gateway) -> str | None:
    """The caller's tenant, once its key is known and its limits allow one more request."""
    tenant = tenant_of(request, gw)
    await within_limits(gw, tenant)
    return tenant
