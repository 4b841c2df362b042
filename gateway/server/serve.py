"""Running the app under uvicorn (behind server/front.py's entry for the inference paths), with the
gateway's own shutdown order for WebSockets.

uvicorn, told to stop, closes its listening sockets, then at once closes every WebSocket with 1012
(answers half-sent included) and waits for HTTP requests to finish. The gateway's sockets are drained
before that: no new connection is accepted, each open one finishes the response it is sending and
closes with 1001, and only what is still open after the grace period gets uvicorn's 1012.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import uvicorn

from gateway.server.front import Front
from gateway.server.http_openai import DIRECT

if TYPE_CHECKING:
    from litestar import Litestar

    from gateway.config import Settings
    from gateway.server.runtime import Gateway

__all__ = ["GRACEFUL_S", "serve"]

log = logging.getLogger(__name__)
GRACEFUL_S = 10.0  # for WebSockets to finish their responses, then again for HTTP requests


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self._gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection while the open ones drain
        open_sockets = len(self._gateway.sockets)
        if open_sockets:
            log.info("draining %d WebSocket connection(s)", open_sockets)
            left = await self._gateway.sockets.drain(GRACEFUL_S)
            if left:
                log.warning("%d WebSocket connection(s) still open after %.0f s", left, GRACEFUL_S)
        else:
            self._gateway.sockets.draining = True
        await super().shutdown(sockets)


def serve(app: Litestar, settings: Settings) -> None:
    config = uvicorn.Config(
        Front(app, DIRECT),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # per-request log lines cost CPU; metrics carry the traffic
        loop="uvloop",
        http="httptools",
        ws_max_size=settings.ws_max_message_bytes,  # a larger message closes the socket (1009)
        # No permessage-deflate: its zlib state is ~300 KiB per socket for as long as the socket lives
        # (a replica holding Codex sessions holds thousands) and it compresses every event, small JSON
        # a client reads at once; measured, 500 sockets opened and closed left +42 MiB of heap with it,
        # +9 MiB without, on a bare uvicorn. Clients that offer it (Codex) work without it.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(GRACEFUL_S),
    )
    _DrainingServer(config, app.state.gateway).run()
