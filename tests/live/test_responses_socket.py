"""The Responses API as Codex and the official SDK (3.63) speak it, end to end against the gateway as a
real server: a WebSocket session over several turns with tools and chains (store: false), errors as
events, input_tokens, compaction then a follow-up turn (chat and native backends), a namespace call's
round trip, an offered web_search answered by a chat backend. Fake upstreams over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

KEY, SLOW = "sk-socket-acme-1", "sk-socket-slow-2"
WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CRM = {
    "type": "namespace",
    "name": "crm",
    "description": "The customer database.",
    "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}],
}
ROUTES = """
version: 1
default_tier: large
tiers:
  large:
    backends: [{{name: chat-only, kind: openai, base_url: "{chat}", model: chat-model}}]
  native:
    backends: [{{name: native, kind: openai, base_url: "{native}", model: native-model, responses: true}}]
routes:
  - {{model: large, tier: large}}
  - {{model: native, tier: native}}
tenants:
  slow: {{requests_per_minute: 1}}
"""


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        "chat": FakeUpstream(model="chat-model", reply="It is sunny."),
        "native": FakeUpstream(model="native-model", reply="Native says hi."),
    }
    with started(fakes):
        yield fakes


@pytest.fixture(scope="module")
def gw(ups: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("socket")
    g = start_gateway(
        tmp,
        ROUTES.format(chat=ups["chat"].base_url, native=ups["native"].base_url),
        GATEWAY_API_KEYS=f"acme:{KEY},slow:{SLOW}",
        GATEWAY_DECISION_LOG=str(tmp / "decisions.jsonl"),
    )
    yield g
    stop(g.proc)


def client(gw: Gateway, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=30)


def until_done(conn: Any) -> list[Any]:
    """One response's events, up to and including the one that ends it (or an error event)."""
    events = []
    for event in conn:
        events.append(event)
        if event.type in ("response.completed", "response.incomplete", "response.failed", "error"):
            return events
    raise AssertionError("the connection closed mid-response")


def test_a_socket_session_over_several_turns_with_tools_and_chains(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    chat = ups["chat"]
    with client(gw).responses.connect() as conn:
        # Codex's warm-up: nothing generated, an empty response to continue from.
        developer = [{"role": "developer", "content": "You are terse."}]
        conn.response.create(model="large", input=developer, store=False, generate=False)  # type: ignore[call-arg, arg-type]
        warm = until_done(conn)
        assert [e.type for e in warm] == ["response.created", "response.completed"]
        assert warm[-1].response.output == []
        calls_before = chat.stats.paths.get("/v1/chat/completions", 0)
        conn.response.create(
            model="large",
            input="Weather in Paris?",
            tools=[WEATHER],  # type: ignore[list-item]
            previous_response_id=warm[-1].response.id,
            store=False,
            prompt_cache_key="thread-7",  # Codex's session
        )
        first = until_done(conn)
        assert chat.stats.paths["/v1/chat/completions"] == calls_before + 1  # the warm-up called nobody
        assert [e.sequence_number for e in first] == list(range(len(first)))
        call = first[-1].response.output[0]
        assert call.type == "function_call" and call.name == "weather"
        # Only the new item, chained to a response that was never stored: the connection kept it.
        conn.response.create(
            model="large",
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22 C"}],
            tools=[WEATHER],  # type: ignore[list-item]
            previous_response_id=first[-1].response.id,
            store=False,
        )
        second = until_done(conn)
        assert second[-1].type == "response.completed"
        assert second[-1].response.output_text == "It is sunny. (the tool said: 22 C)"
        sent = chat.stats.last_body or {}
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool"]
        # An older response of the same connection can still be continued.
        conn.response.create(model="large", input="And tomorrow?", previous_response_id=warm[-1].response.id)
        third = until_done(conn)
        assert third[-1].type == "response.completed"
    # Each turn is a request like any other: counted, and in the decision log, marked as a socket's.
    log = gw.log.parent / "decisions.jsonl"
    wanted = {first[-1].response.id, second[-1].response.id}

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def logged() -> set[str]:
        return {line["id"] for line in lines() if line.get("transport") == "websocket"}

    deadline = time.monotonic() + 10
    while not wanted <= logged():
        assert time.monotonic() < deadline, "the socket's turns are not in the decision log"
        time.sleep(0.1)
    sessions = {line["id"]: line["session"] for line in lines()}
    assert sessions[first[-1].response.id] == "thread-7"
    # What the socket sends is what SSE sends: the same events in the same order.
    sse = list(
        client(gw).responses.create(model="large", input="Weather in Paris?", tools=[WEATHER], stream=True)
    )  # type: ignore[list-item]
    assert [e.type for e in sse] == [e.type for e in first]


def test_errors_are_events_and_the_connection_goes_on(gw: Gateway) -> None:
    with client(gw).responses.connect() as conn:
        conn.response.create(model="large", input="x", previous_response_id="resp_unknown", store=False)
        (err,) = until_done(conn)
        assert err.type == "error" and err.status == 400 and err.code == "previous_response_not_found"
        conn.send({"type": "response.steer", "input": "faster", "previous_response_id": "resp_x"})
        steer = conn.recv()
        assert steer.type == "error" and steer.code == "steering_not_supported"
        conn.send({"type": "response.cancel"})  # type: ignore[typeddict-item]
        unknown = conn.recv()
        assert unknown.type == "error" and unknown.code == "unknown_event"
        conn.send({"type": "response.create", "model": "nope", "input": "x"})  # type: ignore[typeddict-item]
        missing = conn.recv()
        assert missing.type == "error" and missing.status == 404 and missing.code == "model_not_found"
        conn.response.create(model="large", input="still there?")
        assert until_done(conn)[-1].type == "response.completed"


def test_a_socket_is_rate_limited_like_http(gw: Gateway) -> None:
    with client(gw, SLOW).responses.connect() as conn:
        conn.response.create(model="large", input="one", generate=False)  # type: ignore[call-arg]
        assert until_done(conn)[-1].type == "response.completed"  # a warm-up is not a request
        conn.response.create(model="large", input="one")
        assert until_done(conn)[-1].type == "response.completed"
        conn.response.create(model="large", input="two")
        (err,) = until_done(conn)
        assert err.type == "error" and err.status == 429 and err.code == "rate_limit_requests"
        assert int(err.error.headers["retry-after"]) >= 1  # type: ignore[union-attr]


def test_input_tokens(gw: Gateway) -> None:
    c = client(gw)
    small = c.responses.input_tokens.count(model="large", input="hi")
    big = c.responses.input_tokens.count(
        model="large",
        input="hi " * 400,
        instructions="Be brief.",
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert small.object == "response.input_tokens" and 0 < small.input_tokens < big.input_tokens
    raw = httpx.post(
        gw.v1 + "/responses/input_tokens",
        json={"model": "large", "input": "hi"},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert (
        raw.headers["x-gateway-backend"] == "chat-only" and raw.headers["x-gateway-token-count"] == "estimate"
    )


def _as_input(items: list[Any]) -> list[dict[str, Any]]:
    return [i.model_dump(exclude_none=True, warnings=False) for i in items]


def test_compaction_on_a_chat_route_then_a_follow_up(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    c, chat = client(gw), ups["chat"]
    first = c.responses.create(model="large", input="Fix the login bug in auth.py.")
    compacted = c.responses.compact(model="large", previous_response_id=first.id)
    assert compacted.object == "response.compaction"
    assert [i.type for i in compacted.output] == ["message", "compaction"]
    asked = (chat.stats.last_body or {})["messages"]
    assert "compacted" in asked[-1]["content"] and asked[-2]["role"] == "assistant"
    # The gateway's compaction item goes back in as input, on this replica or any other.
    again = c.responses.create(
        model="large", input=[*_as_input(compacted.output), {"role": "user", "content": "Go on."}]
    )
    assert again.status == "completed"
    messages = (chat.stats.last_body or {})["messages"]
    assert messages[1] == {
        "role": "user",
        "content": "The earlier conversation was compacted. Its summary:\n\nIt is sunny.",
    }


def test_compaction_passes_through_to_a_native_backend(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    c, native = client(gw), ups["native"]
    compacted = c.responses.compact(model="native", input=[{"role": "user", "content": "Summarise me."}])
    assert native.stats.paths.get("/v1/responses/compact") == 1
    assert compacted.id.startswith("resp_") and "upcompact" not in compacted.id  # the gateway's id
    assert compacted.output[-1].encrypted_content == "opaque-up"  # type: ignore[union-attr]
    follow = _as_input(compacted.output)
    assert c.responses.create(model="native", input=follow).status == "completed"  # native reads its own
    with pytest.raises(openai.BadRequestError) as info:
        c.responses.create(model="large", input=follow)  # a chat backend cannot
    assert info.value.code == "unsupported_feature"


def test_a_namespace_call_round_trip(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    c = client(gw)
    first = c.responses.create(model="large", input="Find customer 7.", tools=[CRM])  # type: ignore[list-item]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "lookup" and call.namespace == "crm"
    tools = (ups["chat"].stats.last_body or {})["tools"]
    assert [t["function"]["name"] for t in tools] == ["crm__lookup"]
    again = c.responses.create(
        model="large",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Ada"}],
        tools=[CRM],  # type: ignore[list-item]
    )
    assert again.output_text.endswith("(the tool said: Ada)")
    # Streamed, over a socket: the call carries its namespace in its events too.
    with c.responses.connect() as conn:
        conn.response.create(model="large", input="Find customer 8.", tools=[CRM], store=False)  # type: ignore[list-item]
        events = until_done(conn)
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.namespace == "crm" and added.item.name == "lookup"
    # A native backend gets the namespace as the client sent it.
    c.responses.create(model="native", input="Find customer 9.", tools=[CRM])  # type: ignore[list-item]
    assert (ups["native"].stats.last_body or {})["tools"] == [CRM]


def test_an_offered_web_search_is_answered_by_a_chat_backend(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    raw = client(gw).responses.with_raw_response.create(
        model="large",
        input="Search the news.",
        tools=[{"type": "web_search"}, WEATHER],  # type: ignore[list-item]
    )
    resp = raw.parse()
    assert resp.status == "completed" and raw.headers["x-gateway-dropped-tools"] == "web_search"
    sent = ups["chat"].stats.last_body or {}
    assert [t["function"]["name"] for t in sent["tools"]] == ["weather"]
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).responses.create(
            model="large",
            input="Search.",
            tools=[{"type": "web_search"}],
            tool_choice={"type": "web_search"},  # type: ignore[list-item, typeddict-item]
        )
    assert info.value.code == "unsupported_feature"


def test_codex_model_catalog(gw: Gateway) -> None:
    got = httpx.get(
        gw.v1 + "/models",
        params={"client_version": "0.169.0"},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    models = {m["slug"]: m for m in got.json()["models"]}
    large = models["large"]
    assert large["context_window"] == 128_000 and large["auto_compact_token_limit"] == 128_000 - 16_000
    assert large["base_instructions"] and large["apply_patch_tool_type"] == "freeform"
    assert got.headers["etag"]
    plain = httpx.get(gw.v1 + "/models", headers={"authorization": f"Bearer {KEY}"}, timeout=10).json()
    assert plain["object"] == "list"
    assert json.loads(httpx.get(gw.url + "/openapi.json", timeout=10).text)["paths"]["/v1/responses/compact"]
