"""The Messages API's serving module in-process, around the real dispatch and fake backends: a cascade's
accepted draft answered as a Message (whole and streamed), a rejected one escalated, server tools
dropped (header, metric) or required (400 before any backend), and count_tokens."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.protocol.anthropic import CountTokensRequest, MessagesRequest
from gateway.protocol.ids import ResponseIds
from gateway.protocol.request import Parsed
from gateway.serving.messages import MessagesServing
from gateway.serving.results import EventStream, JSONResult
from gateway.serving.tokens import TokenCounting
from gateway.testing.fake_backend import FakeBackend
from gateway.testing.harness import Harness

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.1}}
    backends: [{{name: draft, kind: openai, base_url: "http://d.x/v1", model: d}}]
  large:
    price: {{input_per_mtok: 10, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "http://b.x/v1", model: b}}]
retry: {{attempts: 1}}
routes:
  - {{model: "claude-*", policy: cascade, draft: small, escalate: [large],
      verify: {{min_confidence: {threshold}}}}}
  - {{model: large, tier: large}}
"""


def setup(threshold: float = 0.0) -> tuple[Harness, MessagesServing]:
    h = Harness.build(ROUTES.format(threshold=threshold), {n: FakeBackend(n) for n in ("draft", "big")})
    return h, MessagesServing(h.dispatcher, ResponseIds(), TokenCounting(h.dispatcher))


def call_of(serving: MessagesServing, **fields: Any) -> tuple[Any, MessagesRequest]:
    raw = {"model": "claude-opus-5-5", "max_tokens": 100, "messages": [{"role": "user", "content": "2+2?"}]}
    raw.update(fields)
    req = MessagesRequest.model_validate(raw)
    return serving.call(Parsed(req, raw, len(json.dumps(raw)), "s-1"), time.monotonic(), None), req


async def test_an_accepted_draft_is_a_message_and_a_rejected_one_escalates() -> None:
    for threshold, answering in ((0.0, "draft"), (1.0, "big")):
        h, serving = setup(threshold)
        call, req = call_of(serving)
        result = await serving.create(call, req, h.admitted())
        assert isinstance(result, JSONResult)
        message = json.loads(result.body)
        assert message["type"] == "message" and message["id"] == call.response_id
        assert message["id"].startswith("msg_") and message["content"] == [
            {"type": "text", "text": "fake answer"}
        ]
        assert result.headers["x-gateway-backend"] == answering
        assert h.backends["draft"].calls[0].endpoint == "chat"  # drafted in chat form
        assert (
            h.sample(
                "gateway_requests_total",
                route="claude-*",
                tier="small" if answering == "draft" else "large",
                backend=answering,
                endpoint="messages",
                outcome="ok",
            )
            == 1
        )


async def test_an_accepted_draft_streams_as_anthropics_events() -> None:
    h, serving = setup(0.0)
    call, req = call_of(serving, stream=True)
    result = await serving.create(call, req, h.admitted())
    assert isinstance(result, EventStream)
    raw = b"".join([chunk async for chunk in result.events]).decode()
    kinds = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    data = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    text = "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta")
    assert text == "fake answer"
    assert result.headers["x-gateway-cascade"] == "accepted"


async def test_server_tools_are_dropped_when_offered_and_refused_when_required() -> None:
    h, serving = setup(0.0)
    tools = [
        {"name": "Bash", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    call, req = call_of(serving, model="large", tools=tools)
    result = await serving.create(call, req, h.admitted())
    assert isinstance(result, JSONResult)
    assert result.headers["x-gateway-dropped-tools"] == "web_search_20250305"
    assert h.sample("gateway_dropped_tools_total", route="large", tool="web_search") == 1
    sent = h.backends["big"].calls[-1].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["Bash"]
    call, req = call_of(
        serving, model="large", tools=tools, tool_choice={"type": "tool", "name": "web_search"}
    )
    with pytest.raises(InvalidRequest, match=r"server tool 'web_search'.*Messages API natively"):
        await serving.create(call, req, h.admitted())
    assert len(h.backends["big"].calls) == 1


async def test_count_tokens_for_the_route_now() -> None:
    h, serving = setup(0.0)
    raw = {"model": "large", "messages": [{"role": "user", "content": "count me " * 50}]}
    req = CountTokensRequest.model_validate(raw)
    call = serving.call(Parsed(req, raw, len(json.dumps(raw)), None), time.monotonic(), None)
    result = await serving.count_tokens(call, h.admitted())
    assert json.loads(result.body) == {"input_tokens": call.view.prompt_tokens}
    assert (
        result.headers["x-gateway-backend"] == "big" and result.headers["x-gateway-token-count"] == "estimate"
    )
