"""What a serving object hands back to a transport: a JSON body or a stream of framed events, with the
headers that say who answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.protocol.tools import dropped_header

if TYPE_CHECKING:
    from gateway.dispatch import Served, StreamServed

__all__ = ["SSE_HEADERS", "EventStream", "JSONResult", "answer_headers", "route_headers", "stream_headers"]

# What proxies need to pass a stream on as it comes.
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(frozen=True, slots=True)
class JSONResult:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventStream:
    """Server-sent events, each chunk already framed; a failure after the first one is an event too."""

    events: AsyncIterator[bytes]
    headers: dict[str, str]


def route_headers(served: Served | StreamServed) -> dict[str, str]:
    """Who answered and why: the route, tier and backend, the reason, and the scores behind it."""
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
        headers["x-gateway-difficulty"] = f"{plan.difficulty:.6g}"
    if trace.cascade is not None:
        headers["x-gateway-cascade"] = trace.cascade
    if trace.confidence is not None:
        headers["x-gateway-confidence"] = f"{trace.confidence:.6g}"
    if trace.dropped_tools:
        headers["x-gateway-dropped-tools"] = dropped_header(trace.dropped_tools)
    if trace.max_tokens is not None:
        headers["x-gateway-max-tokens"] = str(trace.max_tokens)
    return headers


def answer_headers(served: Served) -> dict[str, str]:
    """A whole answer's headers: a stream's leave before its tokens are counted, so only a whole
    answer carries its cost (a stream's is in the metrics)."""
    headers = route_headers(served)
    headers["x-gateway-cost-usd"] = f"{served.cost_usd:.8f}"
    return headers


def stream_headers(served: StreamServed) -> dict[str, str]:
    return {**SSE_HEADERS, **route_headers(served)}
