"""Who is calling and what they may ask for: the tenant behind the key, its limits, its hints (from an
HTTP request or a WebSocket's upgrade request alike: both are read by their headers), all from one
read of the rules in force, which the request then carries down (dispatch/snapshot.py: Admitted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.dispatch.snapshot import Admitted
from gateway.errors import InvalidRequest
from gateway.routing.decision import Hints

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.datastructures import Headers

    from gateway.dispatch.snapshot import Snapshot
    from gateway.rules import TenantSpec
    from gateway.server.runtime import Gateway

__all__ = ["admit", "admit_tenant", "credentials", "gateway_of", "hints", "tenant_of", "within_limits"]


def gateway_of(request: ASGIConnection[Any, Any, Any, Any]) -> Gateway:
    """The live gateway the app serves (set by create_app)."""
    gw: Gateway = request.app.state.gateway
    return gw


def _ms(headers: Headers, name: str) -> float | None:
    raw = headers.get(name)
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


def _hints(headers: Headers, spec: TenantSpec | None) -> Hints:
    """The request's own latency hints, and its tenant's tiers and default budget (which goes first,
    the request's or the tenant's or the route's, is routing.decision.budgets' to say)."""
    budget, slo = _ms(headers, "x-latency-budget-ms"), _ms(headers, "x-slo-ttft-ms")
    if spec is None:
        return Hints(budget, slo)
    tiers = frozenset(spec.tiers) if spec.tiers is not None else None
    return Hints(budget, slo, tiers, spec.latency_budget_ms)


def hints(request: ASGIConnection[Any, Any, Any, Any], snap: Snapshot, tenant: str | None) -> Hints:
    """The hints of a request whose tenant is known (a WebSocket's, once per connection)."""
    spec = snap.table.spec.tenants.get(tenant) if tenant is not None else None
    return _hints(request.headers, spec)


def credentials(request: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, str | None]:
    """The keys a request presents, on every endpoint: `Authorization: Bearer` (OpenAI's clients)
    and `x-api-key` (Anthropic's)."""
    headers = request.headers
    return headers.get("authorization"), headers.get("x-api-key")


def tenant_of(request: ASGIConnection[Any, Any, Any, Any], gw: Gateway) -> str | None:
    """The caller's tenant (None on an open gateway); 401 without a valid key."""
    return gw.keys.tenant(*credentials(request))


async def within_limits(gw: Gateway, tenant: str | None, snap: Snapshot | None = None) -> None:
    """Count one request against the tenant's limits, or raise the 429 that says which one."""
    if tenant is not None:
        spec = (snap or gw.snapshot()).table.spec.tenants.get(tenant)
        if spec is not None:
            await gw.stores.limits.admit(tenant, spec)


async def admit_tenant(request: ASGIConnection[Any, Any, Any, Any], gw: Gateway) -> str | None:
    """The caller's tenant, once its key is known and its limits allow one more request (a request
    that is not routed: feedback)."""
    tenant = tenant_of(request, gw)
    await within_limits(gw, tenant)
    return tenant


async def admit(
    request: ASGIConnection[Any, Any, Any, Any], gw: Gateway, headers: Headers | None = None
) -> Admitted:
    """Let a request in: its tenant, once its key is known and its limits allow one more request, and
    its hints, all from one read of the rules in force (which its plan will come from too).
    `headers`: the request's, where the caller read them already."""
    snap = gw.snapshot()
    headers = headers if headers is not None else request.headers
    tenant = gw.keys.tenant(headers.get("authorization"), headers.get("x-api-key"))
    spec = snap.table.spec.tenants.get(tenant) if tenant is not None else None
    if spec is not None:
        await gw.stores.limits.admit(tenant, spec)  # type: ignore[arg-type]
    return Admitted(snap, _hints(headers, spec), tenant)
