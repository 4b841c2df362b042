"""Hostile clients on the Responses WebSocket: bad JSON, unknown events, oversized and too many
messages, idling, a client that never reads, one that disconnects mid-response, 500 sockets opened and
dropped, refused upgrades, and the drain on shutdown. Each gets a clear error (an event, an HTTP answer
or a close code), nothing leaks (/readyz's task count, the process's RSS) and the gateway keeps
serving."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

KEY = "sk-hostile-socket-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
ROUTES = """
version: 1
default_tier: chat
tiers:
  chat:
    backends: [{{name: chat, kind: openai, base_url: "{chat}", model: chat-model}}]
  long:
    backends: [{{name: long, kind: openai, base_url: "{long}", model: long-model}}]
routes:
  - {{model: chat, tier: chat}}
  - {{model: long, tier: long}}
"""
LIMITS = {
    "GATEWAY_WS_MAX_MESSAGE_BYTES": "65536",
    "GATEWAY_WS_MAX_MESSAGES": "12",
    "GATEWAY_WS_IDLE_TIMEOUT_S": "3",
    "GATEWAY_WS_MAX_SOCKETS_PER_KEY": "600",
}
CREATE = {"type": "response.create", "model": "chat", "input": "hi", "store": False}


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        "chat": FakeUpstream(model="chat-model", reply="Fine, thanks."),
        # An answer far larger than the socket buffers between the gateway and a client: ~7 MB of events.
        "long": FakeUpstream(model="long-model", reply=" ".join(["word"] * 40_000)),
    }
    with started(fakes):
        yield fakes


def _gateway(tmp: Path, ups: dict[str, FakeUpstream], **env: str) -> Gateway:
    routes = ROUTES.format(chat=ups["chat"].base_url, long=ups["long"].base_url)
    return start_gateway(tmp, routes, GATEWAY_API_KEYS=f"acme:{KEY}", **env)


@pytest.fixture(scope="module")
def gw(ups: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = _gateway(tmp_path_factory.mktemp("hostile-socket"), ups, **LIMITS)
    yield g
    stop(g.proc)


def ws_url(gw: Gateway) -> str:
    return gw.url.replace("http://", "ws://") + "/v1/responses"


def sample(gw: Gateway, name: str) -> float:
    text = httpx.get(gw.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def tasks(gw: Gateway) -> int:
    count: int = httpx.get(gw.url + "/readyz", timeout=10).json()["runtime"]["tasks"]
    return count


def wait_for(what: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def settled(gw: Gateway, baseline: int) -> None:
    """No connection left open and the task count back where it was."""
    wait_for(lambda: sample(gw, "gateway_websocket_connections ") == 0)
    wait_for(lambda: tasks(gw) <= baseline + 2)


def serves(gw: Gateway) -> None:
    resp = httpx.post(gw.v1 + "/responses", json={"model": "chat", "input": "ok?"}, headers=AUTH, timeout=30)
    assert resp.status_code == 200 and resp.json()["status"] == "completed"


def events_until_done(ws: ClientConnection) -> list[dict[str, Any]]:
    out = []
    while True:
        event = json.loads(ws.recv(timeout=20))
        out.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return out


def test_bad_json_and_unknown_events_are_answered_and_the_socket_goes_on(gw: Gateway) -> None:
    with connect(ws_url(gw), additional_headers=AUTH) as ws:
        for bad, code in [
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_json"),
            (b"\xff\xfe", "invalid_json"),
            ('{"type": "session.update"}', "unknown_event"),
            ('{"no": "type"}', "unknown_event"),
            (
                '{"type": "response.steer", "input": "x", "previous_response_id": "resp_1"}',
                "steering_not_supported",
            ),
            ('{"type": "response.create", "model": "chat"}', "missing_required_parameter"),
            (
                '{"type": "response.create", "model": "chat", "input": "x", "temperature": "hot"}',
                "invalid_value",
            ),
        ]:
            ws.send(bad)
            event = json.loads(ws.recv(timeout=10))
            assert event["type"] == "error" and event["error"]["code"] == code, (bad, event)
            assert event["status"] == 400 and event["error"]["message"]
        ws.send(json.dumps(CREATE))
        assert events_until_done(ws)[-1]["type"] == "response.completed"
    assert "Traceback" not in gw.log.read_text()


def test_an_oversized_message_closes_with_1009(gw: Gateway) -> None:
    with connect(ws_url(gw), additional_headers=AUTH, max_size=None) as ws:
        ws.send(json.dumps({**CREATE, "input": "x" * 100_000}))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    serves(gw)


def test_the_message_limit_ends_the_connection_with_a_reason(gw: Gateway) -> None:
    with connect(ws_url(gw), additional_headers=AUTH) as ws:
        for _ in range(12):
            ws.send(json.dumps({**CREATE, "generate": False}))
            assert events_until_done(ws)[-1]["type"] == "response.completed"
        ws.send(json.dumps({**CREATE, "generate": False}))
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error" and event["error"]["code"] == "websocket_connection_limit_reached"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_an_idle_connection_is_closed(gw: Gateway) -> None:
    with connect(ws_url(gw), additional_headers=AUTH) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=15)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000
        assert 2.5 < time.monotonic() - started < 10


def _raw_socket(gw: Gateway) -> socket.socket:
    """A WebSocket opened by hand, with a tiny receive buffer: a client we can make stop reading."""
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/responses HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frame(text: str) -> bytes:
    """A masked client text frame."""
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_a_client_that_never_reads_is_cut_off(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    baseline = tasks(gw)
    stalled = sample(gw, 'gateway_websocket_closed_total{reason="stalled"}')
    sock = _raw_socket(gw)
    try:
        sock.sendall(_frame(json.dumps({**CREATE, "model": "long"})))
        # The answer fills every buffer on the way; the gateway gives up on a client stuck that long.
        wait_for(lambda: sample(gw, 'gateway_websocket_closed_total{reason="stalled"}') > stalled, 60)
    finally:
        sock.close()
    settled(gw, baseline)
    serves(gw)


def test_a_client_that_disconnects_mid_response_cancels_it(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    baseline = tasks(gw)
    chat = ups["chat"]
    cancelled = 'gateway_requests_total{backend="chat",endpoint="responses",outcome="cancelled"'
    before, aborted = sample(gw, cancelled), chat.stats.aborted
    chat.set(mode="slow", delay_ms=4000, times=1)  # the answer's words spread over 4 s
    ws = connect(ws_url(gw), additional_headers=AUTH)
    ws.send(json.dumps(CREATE))
    while json.loads(ws.recv(timeout=20))["type"] != "response.output_text.delta":
        pass
    ws.socket.close()  # gone without a close frame, mid-answer
    wait_for(lambda: chat.stats.aborted > aborted)  # the upstream stream was dropped too
    wait_for(lambda: sample(gw, cancelled) > before)
    settled(gw, baseline)
    serves(gw)


def test_500_sockets_opened_and_dropped_leak_nothing(gw: Gateway) -> None:
    serves(gw)
    baseline, rss = tasks(gw), sample(gw, "process_resident_memory_bytes")

    async def churn() -> None:
        async def one(i: int) -> None:
            ws = await aconnect(ws_url(gw), additional_headers=AUTH, open_timeout=30)
            if i % 3 == 0:
                await ws.send(json.dumps(CREATE))  # some drop mid-answer
            elif i % 3 == 1:
                await ws.send("{garbage")
            ws.transport.abort()  # no close frame: dropped

        for batch in range(5):
            await asyncio.gather(*(one(batch * 100 + i) for i in range(100)))

    asyncio.run(churn())
    settled(gw, baseline)
    serves(gw)
    grown = sample(gw, "process_resident_memory_bytes") - rss
    after = tasks(gw)
    print(
        f"\n500 sockets dropped: tasks {baseline} -> {after}, RSS {rss / 2**20:.1f} MiB +{grown / 2**20:.1f}"
    )
    assert grown < 32 * 1024 * 1024, f"RSS grew {grown / 1e6:.1f} MB"
    assert "Traceback" not in gw.log.read_text()


def test_refused_upgrades_are_http_answers(gw: Gateway, ups: dict[str, FakeUpstream], tmp_path: Path) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(gw))
    assert info.value.response.status_code == 401
    assert json.loads(info.value.response.body or b"{}")["error"]["code"] == "invalid_api_key"
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(gw), additional_headers={**AUTH, "x-latency-budget-ms": "soon"})
    assert info.value.response.status_code == 400
    assert httpx.get(gw.v1 + "/responses", headers=AUTH, timeout=10).status_code == 426
    off = _gateway(tmp_path, ups, GATEWAY_WS_MAX_SOCKETS_PER_KEY="0")
    try:
        with pytest.raises(InvalidStatus) as info:
            connect(ws_url(off), additional_headers=AUTH)
        assert info.value.response.status_code == 426  # Codex falls back to HTTP at once
    finally:
        stop(off.proc)


def test_a_key_holds_a_bounded_number_of_sockets(ups: dict[str, FakeUpstream], tmp_path: Path) -> None:
    g = _gateway(tmp_path, ups, GATEWAY_WS_MAX_SOCKETS_PER_KEY="3")
    try:
        held = [connect(ws_url(g), additional_headers=AUTH) for _ in range(3)]
        with pytest.raises(InvalidStatus) as info:
            connect(ws_url(g), additional_headers=AUTH)
        assert info.value.response.status_code == 429
        assert info.value.response.headers["retry-after"] == "1"
        held.pop().close()
        wait_for(lambda: sample(g, "gateway_websocket_connections ") == 2)
        connect(ws_url(g), additional_headers=AUTH).close()
        for ws in held:
            ws.close()
    finally:
        stop(g.proc)


def test_shutdown_drains_sockets_after_their_response(ups: dict[str, FakeUpstream], tmp_path: Path) -> None:
    g = _gateway(tmp_path, ups)
    chat = ups["chat"]
    try:
        chat.set(mode="slow", delay_ms=2000, times=1)
        with connect(ws_url(g), additional_headers=AUTH) as ws:
            ws.send(json.dumps(CREATE))
            while json.loads(ws.recv(timeout=20))["type"] != "response.output_text.delta":
                pass
            g.proc.send_signal(signal.SIGTERM)  # mid-answer
            events = events_until_done(ws)
            assert events[-1]["type"] == "response.completed"  # the answer was finished, not cut
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=15)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001  # going away, not 1012
        assert g.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it handled
    finally:
        stop(g.proc)
    assert "draining 1 WebSocket connection(s)" in g.log.read_text()
