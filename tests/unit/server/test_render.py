"""The SSE app: events as they come, the source closed however the stream ends, a leaving client
noticed by the gateway's Watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from gateway.server.disconnect import Watch
from gateway.server.render import SSEApp


class _Source:
    def __init__(self, n: int, every_s: float = 0.0) -> None:
        self.n, self.every_s, self.closed, self.sent = n, every_s, False, 0

    async def events(self) -> AsyncIterator[bytes]:
        try:
            for i in range(self.n):
                await asyncio.sleep(self.every_s)
                self.sent += 1
                yield f"data: {i}\n\n".encode()
        finally:
            self.closed = True


class _Client:
    """The request as the app sees it: a receive() that reports a disconnect once `leave` is set."""

    def __init__(self) -> None:
        self.leave = asyncio.Event()
        self.messages: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


async def test_a_whole_stream_then_its_end_and_the_source_closed() -> None:
    source, client, watch = _Source(3), _Client(), Watch()
    app = SSEApp(source.events(), {"x-gateway-tier": "small"}, client, watch)  # type: ignore[arg-type]
    await app({}, client.receive, client.send)  # type: ignore[arg-type]
    start, *bodies = client.messages
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"x-gateway-tier", b"small") in start["headers"]
    assert [m["body"] for m in bodies] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert [m["more_body"] for m in bodies] == [True, True, True, False]
    assert source.closed


async def test_a_client_that_leaves_stops_the_stream_and_closes_its_source() -> None:
    source, client, watch = _Source(100, every_s=0.02), _Client(), Watch()
    watch.start()
    try:
        app = SSEApp(source.events(), None, client, watch)  # type: ignore[arg-type]
        task = asyncio.create_task(app({}, client.receive, client.send))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        client.leave.set()
        await asyncio.wait_for(task, 2.0)  # noticed within the watch's 0.25-0.375 s
    finally:
        await watch.stop()
    assert source.closed and source.sent < 40
    assert client.messages[-1]["more_body"] is True  # no end sent to nobody
