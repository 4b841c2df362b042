"""The WebSocket mode's bookkeeping and wire helpers: sockets per key, refusals, the drain, the error
event both Codex and the SDK read, and server-sent events turned into frames."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import CollectorRegistry

from gateway.errors import NotFound, RateLimited, ServiceUnavailable, UpgradeRequired
from gateway.observability.socket_metrics import SocketMetrics
from gateway.protocol.responses import frame
from gateway.server.sockets import Sockets, key_of
from gateway.server.ws_session import error_event, frames


class Session:
    def __init__(self) -> None:
        self.drained = False

    def drain(self) -> None:
        self.drained = True


def test_a_key_holds_at_most_its_sockets_and_zero_turns_the_mode_off() -> None:
    registry = CollectorRegistry()
    sockets = Sockets(2, SocketMetrics(registry))
    key = key_of("Bearer sk-1", "10.0.0.1")
    assert key != "Bearer sk-1" and key_of(None, "10.0.0.1") == "10.0.0.1"  # never the key itself
    sockets.admit(key)
    sockets.admit(key)
    with pytest.raises(RateLimited) as info:
        sockets.admit(key)
    assert info.value.code == "websocket_connection_limit_reached"
    sockets.admit("other")
    sockets.closed(key, None, "client")
    sockets.admit(key)
    assert registry.get_sample_value("gateway_websocket_connections") == 3
    assert registry.get_sample_value("gateway_websocket_upgrades_total", {"result": "limited"}) == 1
    with pytest.raises(UpgradeRequired):
        Sockets(0, SocketMetrics(CollectorRegistry())).admit(key)


async def test_the_drain_asks_each_connection_and_waits_for_them() -> None:
    sockets = Sockets(5, SocketMetrics(CollectorRegistry()))
    sessions = [Session(), Session()]
    for s in sessions:
        sockets.admit("k")
        sockets.opened(s)

    async def finish() -> None:
        await asyncio.sleep(0.01)
        for s in sessions:
            sockets.closed("k", s, "drained")

    task = asyncio.get_running_loop().create_task(finish())
    assert await sockets.drain(5) == 0
    await task
    assert all(s.drained for s in sessions)
    with pytest.raises(ServiceUnavailable):
        sockets.admit("k")  # nothing new while draining
    late = Sockets(5, SocketMetrics(CollectorRegistry()))
    late.admit("k")
    late.opened(Session())
    assert await late.drain(0.01) == 1  # still open after the grace period: uvicorn closes it


def test_an_error_event_carries_the_status_and_the_envelope() -> None:
    missing = NotFound("gone", param="previous_response_id", code="previous_response_not_found")
    event = json.loads(error_event(missing))
    assert event["type"] == "error" and event["status"] == 400  # what Codex answers by resending all
    assert (
        event["code"] == "previous_response_not_found" and event["error"]["param"] == "previous_response_id"
    )
    limited = json.loads(error_event(RateLimited("slow down", code="rate_limit_requests", retry_after_s=3)))
    assert limited["status"] == 429 and limited["headers"] == limited["error"]["headers"] == {
        "retry-after": "3"
    }


def test_sse_events_become_one_frame_each() -> None:
    chunk = frame({"type": "a", "sequence_number": 0}) + frame({"type": "b", "sequence_number": 1})
    assert [json.loads(f)["type"] for f in frames(chunk)] == ["a", "b"]
    assert list(frames(b": keep-alive\n\n")) == []
