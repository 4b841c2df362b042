"""The Responses API over a WebSocket: `GET /v1/responses` with `Upgrade: websocket`, as OpenAI's
WebSocket mode defines it (what Codex uses with `supports_websockets = true`).

The key is on the upgrade request; a refused upgrade is an HTTP answer in OpenAI's envelope (401, 429
for a key's sockets used up, 426 with WebSocket mode off so clients fall back to HTTP at once, 503
while draining). Once open, the client sends `response.create` messages, each the body a POST would
carry; each is admitted and rate-limited like that POST and runs through serving/responses.py, whose
events go out in order, one JSON object per text frame (the same events, sequence numbers included,
as SSE). Responses on one connection run one after another; several may be sent ahead (up to
_PENDING). `previous_response_id` continues the connection's last responses whatever `store` said
(serving/recent.py). A failure before a response starts is an `error` event carrying its HTTP status
(`previous_response_not_found` is 400, as Codex expects, which then resends its full history); after,
`response.failed`, as over SSE; neither closes the connection. `response.steer` and unknown messages
get an `error` event. The connection closes (after an `error` event saying why, where there is one)
at its message limit (`websocket_connection_limit_reached`, which Codex answers by reconnecting), on a
message over the size limit (1009), when idle, when the client stops reading (_STALL_S), and on
shutdown after its current response (1001, sockets.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from gateway.errors import GatewayError, InvalidRequest, ServiceUnavailable
from gateway.protocol.openai import parse_json, validate
from gateway.protocol.responses import ResponsesRequest
from gateway.server.admission import gateway_of, hints, within_limits
from gateway.server.sockets import key_of
from gateway.serving.recent import Recent
from gateway.serving.results import EventStream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from gateway.routing.decision import Hints
    from gateway.server.runtime import Gateway

__all__ = ["SOCKETS"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_PENDING = 8  # client messages waiting behind the response being sent; more are refused one by one
_STALL_S = 30.0  # a send blocked this long (the client stopped reading) ends the connection (or idle's)
_CLOSED, _LIMIT, _TOO_LARGE, _DRAIN = object(), object(), object(), object()
# Errors a socket answers without a status of their own, and the ones that differ from HTTP's.
_STATUS = {"previous_response_not_found": 400}


def _error(err: GatewayError) -> str:
    """An `error` event: OpenAI's envelope under `error` with its HTTP status (what Codex reads), and
    code, message and param at the top (what the SDK's ResponseErrorEvent reads)."""
    body: dict[str, Any] = err.envelope()["error"]
    event: dict[str, Any] = {
        "type": "error",
        "status": _STATUS.get(err.code or "", err.status),
        "sequence_number": 0,
        "code": body["code"],
        "message": body["message"],
        "param": body["param"],
        "error": body,
    }
    if err.headers:  # Retry-After: where Codex reads it, and where the SDK's ResponseWsError has it
        event["headers"] = body["headers"] = err.headers
    return _encode(event).decode()


def _frames(chunk: bytes) -> Iterator[str]:
    """Server-sent events (`event: ...\\ndata: {...}\\n\\n`, one or more) as the JSON each carries."""
    for event in chunk.split(b"\n\n"):
        at = event.find(b"data: ")
        if at >= 0:
            yield event[at + 6 :].decode()


class _Session:
    """One open connection: a reader that queues the client's messages (and notices it leave), and
    this loop answering them in order."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], gw: Gateway, tenant: str | None, asked: Hints
    ) -> None:
        s = gw.settings
        self._socket = socket
        self._gw = gw
        self._tenant = tenant
        self._hints = asked
        self._metrics = gw.metrics.sockets
        self._idle_s = s.ws_idle_timeout_s
        self._stall_s = min(_STALL_S, s.ws_idle_timeout_s)
        self._max_messages = s.ws_max_messages
        self._max_bytes = s.ws_max_message_bytes
        self.recent = Recent()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._current: asyncio.Task[None] | None = None
        self._sending_since: float | None = None
        self._watcher: asyncio.TimerHandle | None = None
        self._draining = False
        self.reason = "client"

    def drain(self) -> None:
        self._draining = True
        self._inbox.put_nowait(_DRAIN)

    # ---- sending -----------------------------------------------------------------------------
    async def _send(self, text: str) -> None:
        self._sending_since = asyncio.get_running_loop().time()
        try:
            await self._socket.send({"type": "websocket.send", "text": text, "bytes": None})
        finally:
            self._sending_since = None

    def _watch(self) -> None:
        """Every few seconds while a response runs: a send stuck for _STALL_S ends it."""
        since = self._sending_since
        loop = asyncio.get_running_loop()
        if since is not None and loop.time() - since > self._stall_s:
            self.reason = "stalled"
            self._left()
            return
        self._watcher = loop.call_later(self._stall_s / 3, self._watch)

    async def _close(self, code: int, reason: str, why: str = "") -> str:
        self.reason = reason
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await self._socket.send({"type": "websocket.close", "code": code, "reason": why})
        return reason

    # ---- reading -----------------------------------------------------------------------------
    def _left(self) -> None:
        """The client is gone (or stuck): stop what is being answered for it."""
        if self._current is not None:
            self._current.cancel()
        self._inbox.put_nowait(_CLOSED)

    async def _read(self) -> None:
        received = 0
        try:
            while True:
                message = await self._socket.receive()
                if message["type"] != "websocket.receive":
                    break
                received += 1
                text = message.get("text")
                data: str | bytes = text if text is not None else (message.get("bytes") or b"")
                if received > self._max_messages:
                    self._inbox.put_nowait(_LIMIT)
                    return
                if len(data) > self._max_bytes:  # uvicorn refuses it first (ws_max_size); in-process, here
                    self._inbox.put_nowait(_TOO_LARGE)
                    return
                if self._inbox.qsize() >= _PENDING:
                    ahead = InvalidRequest(
                        "Too many messages wait ahead of this one.", code="too_many_pending"
                    )
                    await self._send(_error(ahead))
                    continue
                self._inbox.put_nowait(data)
        except (WebSocketDisconnect, OSError):
            pass
        self._left()

    async def run(self) -> str:
        """Answer the client's messages until the connection ends; why it ended (CLOSE_REASONS)."""
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read())
        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle_s):
                        item = await self._inbox.get()
                except TimeoutError:
                    return await self._close(1000, "idle", "idle")
                if item is _CLOSED:
                    return self.reason
                if item is _DRAIN:
                    return await self._close(1001, "drained", "the gateway is restarting")
                if item is _LIMIT:
                    limit = GatewayError(
                        f"This connection reached its limit of {self._max_messages} messages; reconnect.",
                        code="websocket_connection_limit_reached",
                    )
                    await self._send(_error(limit))
                    return await self._close(1000, "message_limit", "message limit")
                if item is _TOO_LARGE:
                    return await self._close(1009, "too_large", "message too big")
                assert isinstance(item, str | bytes)
                await self._handle(item)
        except (WebSocketDisconnect, OSError):
            return self.reason
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    # ---- answering ---------------------------------------------------------------------------
    async def _handle(self, data: str | bytes) -> None:
        try:
            event = parse_json(data if isinstance(data, bytes) else data.encode())
        except GatewayError as err:
            self._metrics.message("invalid")
            await self._send(_error(err))
            return
        kind = event.get("type")
        if kind == "response.create":
            self._metrics.message("warmup" if event.get("generate") is False else "response.create")
            if self._draining:
                await self._send(
                    _error(ServiceUnavailable("This gateway replica is shutting down; reconnect."))
                )
                return
            await self._run(event)
        elif kind == "response.steer":
            self._metrics.message("response.steer")
            steer = InvalidRequest(
                "Steering is not supported by this gateway: send the input with the next response.create.",
                param="type",
                code="steering_not_supported",
            )
            await self._send(_error(steer))
        else:
            self._metrics.message("unknown")
            shown = kind if isinstance(kind, str) and len(kind) <= 64 else "(none)"
            unknown = InvalidRequest(
                f"Unknown client event type '{shown}'; this socket takes 'response.create'.",
                param="type",
                code="unknown_event",
            )
            await self._send(_error(unknown))

    async def _run(self, event: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        task = self._current = loop.create_task(self._respond(event))
        self._watcher = loop.call_later(self._stall_s / 3, self._watch)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._watcher.cancel()
            self._current = None
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure

    async def _respond(self, event: dict[str, Any]) -> None:
        gw = self._gw
        serving = gw.responses_api
        received = gw.dispatcher.now()
        raw = {k: v for k, v in event.items() if k != "type"}
        raw["stream"] = True  # a socket always streams
        try:
            if raw.get("generate") is not False:  # a warm-up generates nothing: not a request
                await within_limits(gw, self._tenant)
            req = validate(raw, ResponsesRequest)
            prepared = await serving.prepare(req, raw, self._tenant, received, self.recent)
        except GatewayError as err:
            serving.rejected(received, err)
            await self._send(_error(err))
            return
        try:
            result = await serving.create(prepared, self._hints)
        except GatewayError as err:  # dispatch recorded it
            await self._send(_error(err))
            return
        assert isinstance(result, EventStream)  # a socket's requests always stream
        events = result.events
        try:
            async for chunk in events:
                for text in _frames(chunk):
                    await self._send(text)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()


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
    authorization = socket.headers.get("authorization")
    key = key_of(authorization, socket.client.host if socket.client else "")
    try:
        tenant = gw.keys.tenant(authorization)
        asked = hints(socket, gw, tenant)
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
        session = _Session(socket, gw, tenant, asked)
        gw.sockets.opened(session)
        reason = await session.run()
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        gw.sockets.closed(key, session, reason)


SOCKETS = [responses_socket]
