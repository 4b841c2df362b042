"""One open Responses WebSocket: a reader that queues the client's messages (and notices it leave, or
stop reading), and a loop answering them in order through serving/responses.py, each event of a
response a text frame. server/ws_responses.py opens it; see there for the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.exceptions import WebSocketDisconnect

from gateway.dispatch.snapshot import Admitted
from gateway.errors import GatewayError, InvalidRequest, ServiceUnavailable
from gateway.protocol.openai import parse_json, validate
from gateway.protocol.responses import ResponsesRequest
from gateway.protocol.session import session_of
from gateway.server.admission import within_limits
from gateway.serving.recent import Recent
from gateway.serving.results import EventStream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import WebSocket

    from gateway.routing.decision import Hints
    from gateway.server.runtime import Gateway

__all__ = ["Session", "error_event", "frames"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_PENDING = 8  # client messages waiting behind the response being sent; more are refused one by one
_STALL_S = 30.0  # a send blocked this long (the client stopped reading) ends the connection (or idle's)
_CLOSED, _LIMIT, _TOO_LARGE, _DRAIN = object(), object(), object(), object()
# Errors a socket answers without a status of their own, and the ones that differ from HTTP's.
_STATUS = {"previous_response_not_found": 400}


def error_event(err: GatewayError) -> str:
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


def frames(chunk: bytes) -> Iterator[str]:
    """Server-sent events (`event: ...\\ndata: {...}\\n\\n`, one or more) as the JSON each carries."""
    for event in chunk.split(b"\n\n"):
        at = event.find(b"data: ")
        if at >= 0:
            yield event[at + 6 :].decode()


class Session:
    """One open connection: a reader that queues the client's messages (and notices it leave), and
    this loop answering them in order."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        gw: Gateway,
        tenant: str | None,
        asked: Hints,
        session: str | None = None,
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
        self._session = session  # the upgrade's session header, if any (protocol/session.py)
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
                    await self._send(error_event(ahead))
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
                    await self._send(error_event(limit))
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
            await self._send(error_event(err))
            return
        kind = event.get("type")
        if kind == "response.create":
            self._metrics.message("warmup" if event.get("generate") is False else "response.create")
            if self._draining:
                await self._send(
                    error_event(ServiceUnavailable("This gateway replica is shutting down; reconnect."))
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
            await self._send(error_event(steer))
        else:
            self._metrics.message("unknown")
            shown = kind if isinstance(kind, str) and len(kind) <= 64 else "(none)"
            unknown = InvalidRequest(
                f"Unknown client event type '{shown}'; this socket takes 'response.create'.",
                param="type",
                code="unknown_event",
            )
            await self._send(error_event(unknown))

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
        received = gw.clock()
        raw = {k: v for k, v in event.items() if k != "type"}
        raw["stream"] = True  # a socket always streams
        # Each turn is a request of its own: admitted by the rules in force now, planned by them too
        # (the connection's hints were read once, from its upgrade request).
        admitted = Admitted(gw.snapshot(), self._hints, self._tenant)
        try:
            if raw.get("generate") is not False:  # a warm-up generates nothing: not a request
                await within_limits(gw, self._tenant, admitted.snap)
            req = validate(raw, ResponsesRequest)
            session = self._session or session_of({}, raw)  # else the turn's prompt_cache_key
            prepared = await serving.prepare(req, raw, self._tenant, received, self.recent, session)
        except GatewayError as err:
            serving.rejected(received, err)
            await self._send(error_event(err))
            return
        try:
            result = await serving.create(prepared, admitted)
        except GatewayError as err:  # dispatch recorded it
            await self._send(error_event(err))
            return
        assert isinstance(result, EventStream)  # a socket's requests always stream
        events = result.events
        try:
            async for chunk in events:
                for text in frames(chunk):
                    await self._send(text)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
