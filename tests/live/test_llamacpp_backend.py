"""The embedded backend on the real model: bounded queue, and callers that leave stop their generation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.backends.llamacpp import LlamaCppBackend
from gateway.errors import UpstreamRejected, UpstreamUnavailable
from gateway.protocol import Call, chat_view, completion_view, embedding_view
from tests.support import Gateway

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
    # "At once" without a wall clock (CI's machine is shared): the refusal comes while the endless
    # stream still holds the model and the admitted call still waits, so it waited for no slot.
    with pytest.raises(UpstreamUnavailable) as info:
        await asyncio.wait_for(backend.complete(chat_call({**ENDLESS, "max_tokens": 2})), 5)
    assert backend.queued == 2 and not waiting.done()
    assert info.value.code == "queue_full" and info.value.headers["retry-after"]
    await running.aclose()
    reply = await asyncio.wait_for(waiting, 10)  # the waiting one then runs
    assert b"chat.completion" in reply.content
    assert await drained(backend, within=5) < 1.0


async def test_counting_tokens_is_exact_and_never_waits_for_a_generation(backend: LlamaCppBackend) -> None:
    """The count is the prompt the model runs (its usage says so), with tools and a tool-call history
    the template renders, and it does not queue behind a generation that holds the model."""
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the weather in Paris? " * 20},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "max_tokens": 1,
    }
    counted = await backend.count_tokens(chat_call(body))
    reply = json.loads((await backend.complete(chat_call(body))).content)
    assert counted.exact and counted.tokens == reply["usage"]["prompt_tokens"] > 100
    running = backend.stream(chat_call(ENDLESS, stream=True))
    await anext(running)
    assert backend.queued == 1
    # Counted while the endless generation (many seconds) still holds the model: it did not wait.
    again = await asyncio.wait_for(backend.count_tokens(chat_call(body)), 5)
    assert again == counted and backend.queued == 1
    await running.aclose()
    text = "Once upon a time"
    prompt = await backend.count_tokens(
        Call(completion_view({"model": "m", "prompt": text}, 0), {"prompt": text})
    )
    assert prompt.exact and 3 <= prompt.tokens <= 8


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


# ---- logprobs, recorded as tokens are sampled (the model is loaded without logits_all) ----------
ARITHMETIC = {"messages": [{"role": "user", "content": "What is 17 + 26? Answer with the number only."}]}


def completion_call(body: dict[str, Any], stream: bool = False) -> Call:
    body = {"model": "smollm2", **body, "stream": stream}
    return Call(completion_view(body, 0), body)


async def test_chat_logprobs_one_per_completion_token(backend: LlamaCppBackend) -> None:
    reply = json.loads((await backend.complete(chat_call({**ARITHMETIC, "logprobs": True, "n": 2}))).content)
    assert len(reply["choices"]) == 2
    for choice in reply["choices"]:
        content = choice["logprobs"]["content"]
        assert content and all(t["logprob"] <= 0.0 and t["top_logprobs"] == [] for t in content)
        assert "".join(t["token"] for t in content) == choice["message"]["content"]
        assert all(bytes(t["bytes"]).decode() == t["token"] for t in content)
    assert sum(len(c["logprobs"]["content"]) for c in reply["choices"]) == reply["usage"]["completion_tokens"]


async def test_chat_logprobs_match_llama_cpps_own_with_logits_all(
    backend: LlamaCppBackend, gguf: Path
) -> None:
    from llama_cpp import Llama

    body = {**ARITHMETIC, "temperature": 0, "max_tokens": 12, "logprobs": True, "top_logprobs": 2}
    ours = json.loads((await backend.complete(chat_call(body))).content)["choices"][0]["logprobs"]["content"]
    ref_llm = Llama(model_path=str(gguf), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    try:
        ref = ref_llm.create_chat_completion(
            messages=body["messages"], temperature=0, max_tokens=12, logprobs=True, top_logprobs=2
        )["choices"][0]["logprobs"]["content"]
    finally:
        ref_llm.close()
    assert [t["token"] for t in ours] == [t["token"] for t in ref]
    for mine, theirs in zip(ours, ref, strict=True):
        assert mine["logprob"] == pytest.approx(float(theirs["logprob"]), abs=1e-3)
        # greedy: the sampled token is the most likely one
        assert mine["top_logprobs"][0]["token"] == mine["token"]
        assert [a["logprob"] for a in mine["top_logprobs"]] == pytest.approx(
            [float(a["logprob"]) for a in theirs["top_logprobs"]], abs=1e-3
        )


async def test_no_logprobs_unless_asked(backend: LlamaCppBackend) -> None:
    reply = json.loads((await backend.complete(chat_call({**ARITHMETIC, "max_tokens": 4}))).content)
    assert reply["choices"][0]["logprobs"] is None


async def test_completion_logprobs_in_the_legacy_shape(backend: LlamaCppBackend) -> None:
    call = completion_call({"prompt": "1, 2, 3, 4,", "max_tokens": 6, "temperature": 0, "logprobs": 2})
    reply = json.loads((await backend.complete(call)).content)
    lp = reply["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == reply["usage"]["completion_tokens"]
    assert all(v <= 0.0 for v in lp["token_logprobs"]) and all(len(t) == 2 for t in lp["top_logprobs"])
    assert lp["text_offset"][0] == 0 and "".join(lp["tokens"]) == reply["choices"][0]["text"]


async def test_logprobs_refused_where_they_cannot_be_recorded(backend: LlamaCppBackend) -> None:
    with pytest.raises(UpstreamRejected, match="non-streamed"):
        await anext(backend.stream(chat_call({**ARITHMETIC, "logprobs": True}, stream=True)))
    with pytest.raises(UpstreamRejected, match="echo"):
        await backend.complete(completion_call({"prompt": "hi", "echo": True, "logprobs": 1}))
