"""The embedded backend on the real model: bounded queue, and callers that leave stop their generation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.backends.llamacpp import LlamaCppBackend
from gateway.errors import UpstreamRejected, UpstreamUnavailable
from gateway.protocol import Call, chat_view, embedding_view
from tests.conftest import Gateway

# SmolLM2's end-of-text tokens banned: the model talks until max_tokens (~115 tokens/s on one thread),
# so a generation that is not stopped keeps the backend busy for many seconds.
ENDLESS: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Tell me a story."}],
    "max_tokens": 1500,
    "logit_bias": {"0": -100.0, "2": -100.0},
}


def chat_call(body: dict[str, Any], stream: bool = False) -> Call:
    body = {"model": "smollm2", **body, "stream": stream}
    return Call(chat_view(body, 0), body)


@pytest.fixture
async def backend(gguf: Path) -> AsyncIterator[LlamaCppBackend]:
    b = LlamaCppBackend("local", "smollm2", path=gguf, threads=1, n_ctx=2048, queue_size=1, embeddings=False)
    await b.start()
    yield b
    await b.aclose()


async def drained(backend: LlamaCppBackend, within: float) -> float:
    t0 = time.perf_counter()
    await asyncio.wait_for(backend.drained(), within)
    return time.perf_counter() - t0


async def test_closing_a_stream_stops_the_generation(backend: LlamaCppBackend) -> None:
    chunks = backend.stream(chat_call(ENDLESS, stream=True))
    for _ in range(3):
        assert (await anext(chunks)).startswith(b"data: ")
    assert backend.queued == 1
    await chunks.aclose()  # what the server does when the client disconnects
    assert await drained(backend, within=5) < 1.0


async def test_cancelled_completion_stops_the_generation(backend: LlamaCppBackend) -> None:
    task = asyncio.create_task(backend.complete(chat_call(ENDLESS)))
    await asyncio.wait_for(backend.generating(), 10)
    assert backend.queued == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await drained(backend, within=5) < 1.0


async def test_full_queue_is_refused_at_once(backend: LlamaCppBackend) -> None:
    running = backend.stream(chat_call(ENDLESS, stream=True))
    await anext(running)
    waiting = asyncio.create_task(backend.complete(chat_call({**ENDLESS, "max_tokens": 2})))
    await asyncio.sleep(0)  # one turn of the loop: the task is admitted, then waits for the thread
    assert backend.queued == 2  # one running + queue_size=1 waiting
    t0 = time.perf_counter()
    with pytest.raises(UpstreamUnavailable) as info:
        await backend.complete(chat_call({**ENDLESS, "max_tokens": 2}))
    assert time.perf_counter() - t0 < 0.1
    assert info.value.code == "queue_full" and info.value.headers["retry-after"]
    await running.aclose()
    reply = await asyncio.wait_for(waiting, 10)  # the waiting one then runs
    assert b"chat.completion" in reply.content
    assert await drained(backend, within=5) < 1.0


async def test_token_id_embeddings_are_refused(gguf: Path) -> None:
    b = LlamaCppBackend("e", "m", path=gguf, threads=1, n_ctx=512, queue_size=0, embeddings=True)
    await b.start()
    try:
        with pytest.raises(UpstreamRejected):
            await b.complete(
                Call(embedding_view({"model": "m", "input": [1, 2, 3]}, 0), {"input": [1, 2, 3]})
            )
    finally:
        await b.aclose()


async def queued(client: httpx.AsyncClient, gateway: Gateway, n: int) -> None:
    """Until the gateway's embedded model has `n` requests admitted (its readiness shows the queue;
    the gateway is another process, so it can only be polled)."""
    deadline = time.perf_counter() + 10
    while (await client.get(gateway.url + "/readyz")).json()["backends"]["smollm2"]["queued"] < n:
        assert time.perf_counter() < deadline, f"fewer than {n} requests admitted"
        await asyncio.sleep(0.02)


async def test_gateway_full_queue_is_503_and_disconnects_free_it(gateway: Gateway) -> None:
    """queue_size 4 in the test gateway: 1 running stream + 4 waiting calls fill it; the 6th gets 503.

    Then all five clients leave. The waiting ones are non-streamed on purpose: nothing but the
    disconnect watch can stop them, and each would otherwise run its full 1500 tokens.
    """
    body = {"model": "small", **ENDLESS}
    async with httpx.AsyncClient(base_url=gateway.v1, timeout=60) as client:

        async def hold(stream: bool) -> None:
            if not stream:
                await client.post("/chat/completions", json=body)
                return
            async with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as resp:
                async for _ in resp.aiter_lines():
                    pass

        holders = [asyncio.create_task(hold(stream=True))]
        await queued(client, gateway, 1)
        holders += [asyncio.create_task(hold(stream=False)) for _ in range(4)]
        await queued(client, gateway, 5)
        resp = await client.post("/chat/completions", json=body)
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "queue_full"
        assert resp.headers["retry-after"]
        for h in holders:
            h.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        # All five generations stop: within moments a short request is served again, where orphaned
        # generations would hold the queue for about a minute. (The gateway learns of the disconnects
        # asynchronously, so a request sent at once may still find the queue full.)
        t0 = time.perf_counter()
        short = {"model": "small", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
        while (ok := await client.post("/chat/completions", json=short)).status_code == 503:
            assert time.perf_counter() - t0 < 5, ok.text
            await asyncio.sleep(0.05)
        assert ok.status_code == 200, ok.text
        assert time.perf_counter() - t0 < 5
