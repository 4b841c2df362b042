"""The tool rule (protocol/tools.py) in the candidate walk: hosted tools a request merely offers are
dropped for a chat backend (and said so: header, metric, decision log), a route's native backend is
preferred for them, and a request that requires one is refused when no backend speaks its API."""

from __future__ import annotations

import time

import pytest

from gateway.errors import InvalidRequest, UpstreamError
from gateway.observability.decision_log import DecisionLog
from gateway.protocol import Call, chat_view, responses_view
from gateway.serving.results import answer_headers
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness

ROUTES = """
version: 1
default_tier: chat
tiers:
  chat:
    backends: [{name: plain, kind: openai, base_url: "http://a.invalid/v1", model: m}]
  native:
    backends: [{name: native, kind: openai, base_url: "http://b.invalid/v1", model: n, responses: true}]
retry: {attempts: 1}
routes:
  - {model: chat, tier: chat}
  - {model: both, tier: chat, fallback: [native]}
"""


def harness(decisions: DecisionLog | None = None) -> Harness:
    backends = {"plain": FakeBackend("plain"), "native": FakeBackend("native")}
    backends["native"].responses = True
    return Harness.build(ROUTES, backends, decisions=decisions)


def responses_call(model: str, *, needs: str | None = None) -> Call:
    """A Responses request offering a function tool and web search, as serving/responses.py builds it."""
    tools = [{"type": "function", "name": "f"}, {"type": "web_search"}]
    raw = {"model": model, "input": "search", "tools": tools}
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "search"}]}]
    view = responses_view(raw, items, 64)
    now = time.monotonic()
    if needs is not None:
        return Call(view, raw, now, needs=needs, hosted=("web_search",), response_id="resp_1")
    chat = {"model": model, "messages": [{"role": "user", "content": "search"}], "tools": [tools[0]]}
    form = Call(chat_view(chat, 64), chat, now)
    return Call(view, raw, now, chat=form, hosted=("web_search",), response_id="resp_1")


async def test_an_offered_hosted_tool_is_dropped_for_a_chat_backend_and_said_so(tmp_path: object) -> None:
    log = DecisionLog("-", max_bytes=1 << 20, files=1)
    h = harness(log)
    served = await h.dispatcher.complete(responses_call("chat"))
    plain = h.backends["plain"]
    assert plain.calls[-1].endpoint == "chat" and "web_search" not in str(plain.calls[-1].body)
    assert served.trace.dropped_tools == ("web_search",)
    assert answer_headers(served)["x-gateway-dropped-tools"] == "web_search"
    assert h.sample("gateway_dropped_tools_total", route="chat", tool="web_search") == 1
    line = log._queue[-1]
    assert line.dropped_tools == ["web_search"]  # type: ignore[attr-defined]


async def test_a_native_backend_is_preferred_and_a_chat_one_answers_when_it_fails() -> None:
    h = harness()
    served = await h.dispatcher.complete(responses_call("both"))
    assert served.backend.name == "native" and served.trace.dropped_tools == ()
    assert h.backends["native"].calls[-1].endpoint == "responses"
    assert "x-gateway-dropped-tools" not in answer_headers(served)
    h.backends["native"].script(Step.fail(UpstreamError("down")))
    served = await h.dispatcher.complete(responses_call("both"))
    assert served.backend.name == "plain" and served.trace.dropped_tools == ("web_search",)


async def test_a_required_hosted_tool_needs_a_native_backend() -> None:
    h = harness()
    with pytest.raises(InvalidRequest, match=r"tool_choice 'web_search'.*route 'chat'") as info:
        await h.dispatcher.complete(responses_call("chat", needs="tool_choice 'web_search'"))
    assert info.value.status == 400 and not h.backends["plain"].calls
    served = await h.dispatcher.complete(responses_call("both", needs="tool_choice 'web_search'"))
    assert served.backend.name == "native"
