"""The ASGI entry `gateway serve` runs: the OpenAI inference paths straight to their handlers, every
other request to Litestar.

Chat completions, completions and embeddings are ASGI route handlers that read their body and send
their answer themselves (http_openai.py). Litestar's router and exception middleware around them were
~6% of a pinned request's CPU in the server (~14 µs, loadtests/RESULTS.md). For exactly those paths the
front does what Litestar does there: its Host check, the scope's app and route handler, and for an
error raised before the answer started the app's own exception handler (the API's envelope); once the
answer started, an error is the server's, as under Litestar. Anything else (another path, a trailing
slash Litestar normalises, a root path, a WebSocket, the lifespan) goes to Litestar unchanged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import ClientException

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar import Litestar
    from litestar.handlers import ASGIRouteHandler
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Front"]

# The characters Litestar's router accepts in a Host header (RFC 3986's host and port); anything else
# is its 400 "Invalid host header", given here the same way.
_HOST = re.compile(rb"\A[0-9A-Za-z!$&'()*+,;=\-._~:\[\]@%]*\Z")


class Front:
    __slots__ = ("_app", "_handlers", "_routes", "state")

    def __init__(self, app: Litestar, routes: Iterable[ASGIRouteHandler]) -> None:
        self._app = app
        self._routes: dict[str, tuple[ASGIApp, ASGIRouteHandler]] = {
            path: (route.fn, route) for route in routes for path in route.paths
        }
        self._handlers = app.exception_handlers
        self.state = app.state  # what `serve` reads the gateway from, as from the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not scope.get("root_path"):
            found = self._routes.get(scope["path"])
            if found is not None:
                await self._direct(found, scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _direct(
        self, found: tuple[ASGIApp, ASGIRouteHandler], scope: Scope, receive: Receive, send: Send
    ) -> None:
        fn, route = found
        scope["app"] = scope["litestar_app"] = self._app
        scope.setdefault("state", {})
        scope["path_params"] = {}
        scope["route_handler"] = route
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            for name, value in scope["headers"]:
                if name == b"host":
                    if _HOST.match(value) is None:
                        raise ClientException("Invalid host header")
                    break
            await fn(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise  # the answer is on its way: nothing can be said in its place
            await self._error(scope, receive, send, exc)

    async def _error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """The app's own exception handler for `exc` (the most derived class it has one for)."""
        handler: Any = next((self._handlers[c] for c in type(exc).__mro__ if c in self._handlers), None)
        if handler is None:
            raise exc
        request: Request[Any, Any, Any] = Request(scope, receive)
        response = handler(request, exc)
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)
