"""The HTTP side: the Litestar app (composition root), thin handlers, SSE, readiness, OpenAPI, and
the live runtime that holds the rules in force and swaps them."""

from gateway.server.app import create_app
from gateway.server.runtime import Gateway

__all__ = ["Gateway", "create_app"]
