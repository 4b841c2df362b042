"""Rendering a serving result: a JSON body as a small ASGI app, a stream as server-sent events.

Litestar passes a handler's ASGI app through untouched, where a `Response` is rebuilt into an
`ASGIResponse` whose headers are set one by one through a scope-headers view (measured: ~5% of the
gateway's CPU per request on a pinned route). The JSON app here sends its two events with headers
encoded once. Errors still go through the exception handlers: only answers take this path.

A stream is sent the same way, its client's leaving noticed by the gateway's Watch
(server/disconnect.py) once it has lasted a quarter of a second, as a request is before its answer:
Litestar's streaming response started a task group and a listener task for every stream (measured at
c=256: ~0.5 MiB of anyio objects in flight).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from gateway.errors import ClientClosedRequest
from gateway.server.admission import gateway_of
from gateway.serving.results import EventStream, JSONResult

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, Receive, Scope, Send

    from gateway.server.disconnect import Watch

__all__ = ["JSONApp", "SSEApp", "render"]

_JSON = (b"content-type", b"application/json")
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")


def _headers(first: tuple[bytes, bytes], headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    out = [first]
    if headers:
        out += [(k.encode(), v.encode()) for k, v in headers.items()]
    return out


class JSONApp:
    __slots__ = ("_body", "_headers", "_status")

    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._body = body
        self._status = status
        self._headers = _headers(_JSON, headers)
        self._headers.append((b"content-length", str(len(body)).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self._status, "headers": self._headers})
        await send({"type": "http.response.body", "body": self._body, "more_body": False})


class SSEApp:
    """Each event as it comes; the events' source is closed however the stream ends (its upstream
    call with it), and a client that left stops it."""

    __slots__ = ("_events", "_headers", "_request", "_watch")

    def __init__(
        self,
        events: AsyncIterator[bytes],
        headers: dict[str, str] | None,
        request: Request[Any, Any, Any],
        watch: Watch,
    ) -> None:
        self._events = events
        self._headers = _headers(_SSE, headers)
        self._request = request
        self._watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = self._events
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        try:
            with self._watch.watching(self._request):
                async for event in events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
        except ClientClosedRequest:
            return  # nobody to finish the stream for
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def render(request: Request[Any, Any, Any], result: JSONResult | EventStream) -> ASGIApp:
    if isinstance(result, JSONResult):
        return JSONApp(result.body, result.status, result.headers)
    return SSEApp(result.events, result.headers, request, gateway_of(request).watch)
