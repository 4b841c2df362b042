"""SSE responses: the headers proxies need, and a failure after the first byte as an in-band event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from gateway.errors import GatewayError
from gateway.protocol.sse import error_event

__all__ = ["SSE_HEADERS", "chat_events"]

log = logging.getLogger(__name__)

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def chat_events(chunks: AsyncIterator[bytes], ids: Callable[[bytes], bytes]) -> AsyncIterator[bytes]:
    """Pass chunks through with the gateway's response id (`ids`); a failure after the first byte
    ends the stream with an error event."""
    try:
        async for chunk in chunks:
            yield ids(chunk)
    except GatewayError as exc:
        log.warning("stream ended by upstream failure: %s", exc.message)
        yield error_event(exc.envelope())
