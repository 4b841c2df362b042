"""The Responses API over a WebSocket: `GET /v1/responses` with `Upgrade: websocket`, as OpenAI's
WebSocket mode defines it (what Codex uses with `supports_websockets = true`).

The key is on the upgrade request; a refused upgrade is an HTTP answer in OpenAI's envelope (401, 429
for a key's sockets used up, 426 with WebSocket mode off so clients fall back to HTTP at once, 503
while draining). Once open, the client sends `response.create` messages, each the body a POST would
carry; each is admitted and rate-limited like that POST and runs through serving/responses.py, whose
events go out in order, one JSON object per text frame (the same events, sequence numbers included,
as SSE). Responses on one connection run one after another (ws_session.py); several may be sent
ahead (up to 8). `previous_response_id` continues the connection's last responses whatever `store`
said (serving/recent.py). A failure before a response starts is an `error` event carrying its HTTP status
(`previous_response_not_found` is 400, as Codex expects, which then resends its full history); after,
`response.failed`, as over SSE; neither closes the connection. `response.steer` and unknown messages
get an `error` event. The connection closes (after an `error` event saying why, where there is one)
at its message limit (`websocket_connection_limit_reached`, which Codex answers by reconnecting), on a
message over the size limit (1009), when idle, when the client stops reading (30 s), and on
shutdown after its current response (1001, sockets.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from gateway.errors import GatewayError
from gateway.protocol.session import session_of
from gateway.server.admission import credentials, gateway_of, hints, tenant_of
from gateway.server.sockets import key_of
from gateway.server.ws_session import Session

__all__ = ["SOCKETS"]

_encode = msgspec.json.Encoder().encode


async def _refuse(socket: WebSocket[Any, Any, Any], err: GatewayError) -> None:
    """An upgrade refused with an HTTP answer (ASGI's denial response), or a bare close without it."""
    if "websocket.http.response" not in (socket.scope.get("extensions") or {}):
        await socket.close(1008, err.message[:120])
        return
    body = _encode(err.envelope())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in err.headers.items()]
    await socket.send({"type": "websocket.http.response.start", "status": err.status, "headers": headers})
    await socket.send({"type": "websocket.http.response.body", "body": body, "more_body": False})


@websocket("/v1/responses")
async def responses_socket(socket: WebSocket[Any, Any, Any]) -> None:
    gw = gateway_of(socket)
    await socket.receive()  # websocket.connect
    bearer, api_key = credentials(socket)
    key = key_of(bearer or api_key, socket.client.host if socket.client else "")
    try:
        tenant = tenant_of(socket, gw)
        asked = hints(socket, gw.snapshot(), tenant)
    except GatewayError as err:
        gw.metrics.sockets.upgrade("unauthorized" if err.status == 401 else "invalid")
        await _refuse(socket, err)
        return
    try:
        gw.sockets.admit(key)
    except GatewayError as err:
        await _refuse(socket, err)
        return
    session = None
    reason = "client"
    try:
        await socket.send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        session = Session(socket, gw, tenant, asked, session_of(socket.headers, {}))
        gw.sockets.opened(session)
        reason = await session.run()
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        gw.sockets.closed(key, session, reason)


SOCKETS = [responses_socket]
