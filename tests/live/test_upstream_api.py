"""The openai client through the gateway to real OpenAI-compatible HTTP upstreams."""

from __future__ import annotations

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import FAKE_KEY, Gateway


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=30)


def test_fake_upstream_chat_rewrites_model_and_sends_key(
    client: openai.OpenAI, reset_fakes: dict[str, FakeUpstream]
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="large",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        tool_choice="auto",
        logprobs=True,
        extra_body={"vendor_extra": {"keep": True}},
    )
    resp = raw.parse()
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and resp.choices[0].finish_reason == "tool_calls"  # type: ignore[union-attr]
    assert resp.model == "fake-large"
    assert raw.headers["x-gateway-backend"] == "fake-large"
    assert raw.headers["x-gateway-tier"] == "large"
    sent = reset_fakes["large"].stats.last_body
    assert sent is not None
    assert sent["model"] == "fake-large"  # rewritten from "large"
    assert sent["tools"][0]["function"]["name"] == "lookup"
    assert sent["tool_choice"] == "auto" and sent["logprobs"] is True
    assert sent["vendor_extra"] == {"keep": True}  # unknown fields pass through
    assert reset_fakes["large"].stats.last_auth == f"Bearer {FAKE_KEY}"


def test_fake_upstream_streaming_passes_chunks(client: openai.OpenAI, reset_fakes: dict) -> None:
    chunks = list(
        client.chat.completions.create(
            model="large",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "I am the large tier."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_backend_model_name_is_a_route(client: openai.OpenAI, reset_fakes: dict) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="fake-spare", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-backend"] == "fake-spare"
    assert raw.headers["x-gateway-route"] == "fake-spare"


def test_completions_and_embeddings_via_upstream(client: openai.OpenAI, reset_fakes: dict) -> None:
    assert client.completions.create(model="large", prompt="x").choices[0].text == "I am the large tier."
    emb = client.embeddings.create(model="large", input="abc")
    assert len(emb.data[0].embedding) == 8


def _streamed(client: openai.OpenAI, model: str) -> tuple[str, list[str | None]]:
    chunks = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=8,
        temperature=0,
        seed=7,
        stream=True,
    )
    choices = [c.choices[0] for c in chunks if c.choices]
    return "".join(c.delta.content or "" for c in choices), [c.finish_reason for c in choices]


def test_llama_cpp_server_peer(client: openai.OpenAI, llama_server: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="medium", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    resp = raw.parse()
    assert raw.headers["x-gateway-backend"] == "llama-peer"
    assert resp.choices[0].message.content
    # llama_cpp.server itself sometimes ends a stream without a finish_reason chunk (its issue #735),
    # so the contract checked is pass-through: greedy decoding, and the client sees through the
    # gateway exactly the chunks the peer sends when called directly.
    # The peer's greedy output is not always the same from one call to the next in a long session (once
    # in three full suite runs it ended a stream three tokens early, through the gateway): a second
    # pair is drawn before failing, and each pair must match exactly.
    direct = openai.OpenAI(base_url=llama_server, api_key="unused", max_retries=0, timeout=30)
    pairs = []
    for _ in range(2):
        via_gateway = _streamed(client, "medium")
        assert via_gateway[0]
        pairs.append((via_gateway, _streamed(direct, "smollm2-peer")))
        if pairs[-1][0] == pairs[-1][1]:
            break
    assert pairs[-1][0] == pairs[-1][1], pairs


def test_fallback_to_next_backend_of_the_tier(client: openai.OpenAI, reset_fakes: dict) -> None:
    reset_fakes["flaky"].set(mode="error", status=500)
    raw = client.chat.completions.with_raw_response.create(
        model="flaky", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-backend"] == "fake-spare"
    assert raw.parse().choices[0].message.content == "spare answered"
    chunks = list(
        client.chat.completions.create(
            model="flaky", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "spare answered"


def test_sse_is_not_buffered(gateway: Gateway, reset_fakes: dict) -> None:
    """With a slow upstream, the first chunk reaches the client long before the stream ends."""
    import time

    reset_fakes["broken"].set(mode="slow", delay_ms=1200)  # spread over the stream's chunks
    body = {"model": "broken", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    t0 = time.perf_counter()
    first = None
    with httpx.stream("POST", gateway.v1 + "/chat/completions", json=body, timeout=10) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:") and first is None:
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    assert first is not None
    assert total - first > 0.5, (first, total)
