"""Conversation state the Responses serving module owns, in-process with fake backends: a WebSocket
connection's last responses continue chains whatever `store` said, a warm-up generates nothing, and a
compaction a chat backend wrote is read back by another replica (no shared state)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.errors import NotFound
from gateway.protocol.ids import ResponseIds
from gateway.protocol.responses import ResponsesRequest
from gateway.serving.compaction import CompactServing
from gateway.serving.recent import Recent
from gateway.serving.responses import ResponsesServing
from gateway.serving.results import EventStream, JSONResult
from gateway.serving.tokens import TokenCounting
from gateway.tenancy.response_store import MemoryResponses
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness

ROUTES = """
version: 1
default_tier: t
tiers:
  t:
    backends: [{name: chat, kind: openai, base_url: "http://a.invalid/v1", model: m}]
routes:
  - {model: m, tier: t}
"""


def serving() -> tuple[ResponsesServing, Harness]:
    h = Harness.build(ROUTES, {"chat": FakeBackend("chat")})
    store = MemoryResponses(
        max_count=100, max_bytes=1 << 20, tenant_count=100, tenant_bytes=1 << 20, ttl_s=60
    )
    s = ResponsesServing(
        h.dispatcher,
        ResponseIds(),
        store,
        TokenCounting(h.dispatcher),
        max_bytes=1 << 20,
        on_not_stored=lambda: None,
    )
    return s, h


def req(**fields: Any) -> tuple[ResponsesRequest, dict[str, Any]]:
    raw = {"model": "m", "stream": True, **fields}
    return ResponsesRequest.model_validate(raw), raw


async def events(result: JSONResult | EventStream) -> list[dict[str, Any]]:
    assert isinstance(result, EventStream)
    out = []
    async for chunk in result.events:
        for event in chunk.split(b"\n\n"):
            if b"data: " in event:
                out.append(msgspec.json.decode(event.split(b"data: ", 1)[1]))
    return out


def test_the_cache_keeps_the_last_responses() -> None:
    recent = Recent(2)
    for rid in ("a", "b", "c"):
        recent.put(rid, [{"id": rid}])
    assert recent.get("a") is None and recent.get("b") == [{"id": "b"}]
    recent.put("d", [])
    assert recent.get("c") is None and recent.get("b") is not None and len(recent) == 2  # b was used


async def test_a_connection_continues_its_chain_with_store_false() -> None:
    s, h = serving()
    recent = Recent()
    r, raw = req(input=[{"role": "developer", "content": "terse"}], store=False, generate=False)
    warm = await events(await s.create(await s.prepare(r, raw, None, 0.0, recent), h.admitted()))
    assert [e["type"] for e in warm] == ["response.created", "response.completed"]
    assert not h.backends["chat"].calls  # a warm-up generates nothing
    r, raw = req(input="hi", store=False, previous_response_id=warm[-1]["response"]["id"])
    first = await events(await s.create(await s.prepare(r, raw, None, 0.0, recent), h.admitted()))
    sent = h.backends["chat"].calls[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    r, raw = req(input="more", store=False, previous_response_id=first[-1]["response"]["id"])
    await events(await s.create(await s.prepare(r, raw, None, 0.0, recent), h.admitted()))
    sent = h.backends["chat"].calls[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    # Not stored: another connection (or HTTP) cannot continue it.
    with pytest.raises(NotFound) as info:
        await s.prepare(r, raw, None, 0.0, Recent())
    assert info.value.code == "previous_response_not_found" and info.value.param == "previous_response_id"


async def test_a_chat_backends_compaction_is_read_back_by_another_replica() -> None:
    s, h = serving()
    h.backends["chat"].script(Step.ok("The user wants the login bug fixed."))
    compaction = CompactServing(h.dispatcher, ResponseIds(), s)
    r, raw = req(input=[{"role": "user", "content": "fix login"}, {"role": "assistant", "content": "ok"}])
    call, compacting = await compaction.call(r, raw, None, 0.0)
    result = await compaction.compact(call, compacting, h.admitted())
    body = msgspec.json.decode(result.body)
    assert body["object"] == "response.compaction" and body["id"].startswith("resp_")
    assert [i["type"] for i in body["output"]] == ["message", "compaction"]
    asked = h.backends["chat"].calls[-1].body
    assert asked["messages"][-1]["role"] == "user" and "compacted" in asked["messages"][-1]["content"]
    assert "stream" not in asked
    other, h2 = serving()  # another replica: its own store and state
    r, raw = req(input=[*body["output"], {"role": "user", "content": "go on"}])
    await events(await other.create(await other.prepare(r, raw, None, 0.0), h2.admitted()))
    sent = h2.backends["chat"].calls[-1].body["messages"]
    assert sent[1]["content"].endswith("The user wants the login bug fixed.")
