"""The Responses API end to end: the official openai client against the gateway as a real server, over
the embedded model, a chat-only fake upstream (with tools) and a fake upstream that speaks the
Responses API natively. Stored responses, chains, tenants, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

pytestmark = pytest.mark.model  # the gateway loads it for its small tier

ACME, BETA = "sk-acme-responses-1", "sk-beta-responses-2"
WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 1024, queue_size: 4}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: chat-only, kind: openai, base_url: "{chat}", model: chat-model}}]
  native:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: native, kind: openai, base_url: "{native}", model: native-model, responses: true}}]
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: large, tier: large, fallback: [native]}}
  - {{model: native, tier: native}}
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
    g = start_gateway(
        tmp_path_factory.mktemp("responses"),
        ROUTES.format(chat=ups["chat"].base_url, native=ups["native"].base_url),
        GATEWAY_API_KEYS=f"acme:{ACME},beta:{BETA}",
        GATEWAY_MAX_BODY_BYTES="65536",
    )
    yield g
    stop(g.proc)


def client(gw: Gateway, key: str = ACME) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=60)


def post(gw: Gateway, body: dict[str, Any], key: str = ACME) -> httpx.Response:
    return httpx.post(gw.v1 + "/responses", json=body, headers={"authorization": f"Bearer {key}"}, timeout=60)


def test_plain_text_on_the_embedded_model(gw: Gateway) -> None:
    raw = client(gw).responses.with_raw_response.create(
        model="small", input="Say hello.", instructions="Be brief.", max_output_tokens=12
    )
    resp = raw.parse()
    assert resp.id.startswith("resp_") and resp.object == "response"
    assert resp.status in ("completed", "incomplete") and resp.output_text
    assert resp.usage is not None and resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert raw.headers["x-gateway-tier"] == "small" and raw.headers["x-gateway-backend"] == "smollm2"
    assert float(raw.headers["x-gateway-cost-usd"]) == 0


def test_streamed_text_on_the_embedded_model_follows_the_sdks_event_sequence(gw: Gateway) -> None:
    events = list(
        client(gw).responses.create(model="small", input="Say hi.", max_output_tokens=3, stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in kinds
    # Three tokens cannot finish a greeting: cut by max_output_tokens.
    assert kinds[-1] == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_a_function_tool_over_three_turns_with_previous_response_id(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    c = client(gw)
    first = c.responses.create(model="large", input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    call = first.output[0]
    assert (
        call.type == "function_call"
        and call.name == "weather"
        and json.loads(call.arguments) == {"city": "Paris"}
    )
    second = c.responses.create(
        model="large",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24 C"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "It is sunny. (the tool said: sunny, 24 C)"
    sent = ups["chat"].stats.last_body
    assert sent is not None and [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    third = c.responses.create(model="large", previous_response_id=second.id, input="Thanks!")
    assert third.previous_response_id == second.id and third.output_text == "It is sunny."
    sent = ups["chat"].stats.last_body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "assistant", "user"]


def test_stored_responses_can_be_retrieved_listed_and_deleted(gw: Gateway) -> None:
    c = client(gw)
    made = c.responses.create(
        model="large", input=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    )
    got = c.responses.retrieve(made.id)
    assert got.id == made.id and got.output_text == made.output_text
    items = c.responses.input_items.list(made.id, order="asc")
    assert [i.content[0].text for i in items.data] == ["one", "two"]  # type: ignore[union-attr]
    page = c.responses.input_items.list(made.id, order="asc", limit=1)
    assert page.has_more and len(page.data) == 1
    rest = c.responses.input_items.list(made.id, order="asc", after=page.data[0].id)
    assert [i.content[0].text for i in rest.data] == ["two"]  # type: ignore[union-attr]
    c.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(made.id)


def test_another_tenants_response_is_a_404_and_store_false_leaves_nothing(gw: Gateway) -> None:
    mine = client(gw, ACME).responses.create(model="large", input="hi")
    with pytest.raises(openai.NotFoundError):
        client(gw, BETA).responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        client(gw, BETA).responses.create(model="large", input="go on", previous_response_id=mine.id)
    unkept = client(gw).responses.create(model="large", input="hi", store=False)
    assert unkept.store is False
    with pytest.raises(openai.NotFoundError):
        client(gw).responses.retrieve(unkept.id)


def test_the_stream_helper_and_function_call_events(gw: Gateway) -> None:
    with client(gw).responses.stream(model="large", input="Weather?", tools=[WEATHER]) as stream:  # type: ignore[list-item]
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert (
        "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    )
    assert final.output[0].type == "function_call" and json.loads(final.output[0].arguments) == {
        "city": "Paris"
    }
    with client(gw).responses.stream(model="large", input="Hello?") as stream:
        assert stream.get_final_response().output_text == "It is sunny."


def test_a_native_backend_gets_the_whole_conversation_without_the_gateways_ids(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    c = client(gw)
    first = c.responses.create(model="native", input="hi", metadata={"k": "v"})
    assert first.id.startswith("resp_") and not first.id.startswith("resp_upstream")
    second = c.responses.create(model="native", input="and again", previous_response_id=first.id)
    sent = ups["native"].stats.last_body
    assert sent is not None and sent["store"] is False and "previous_response_id" not in sent
    assert [i.get("role") or i["type"] for i in sent["input"]] == ["user", "assistant", "user"]
    assert second.previous_response_id == first.id
    events = list(c.responses.create(model="native", input="stream it", stream=True))
    assert {e.response.id for e in events if hasattr(e, "response")} == {events[0].response.id}  # type: ignore[attr-defined]
    assert events[-1].type == "response.completed" and not events[0].response.id.startswith("resp_upstream")  # type: ignore[attr-defined]
    assert c.responses.retrieve(events[0].response.id).output_text.startswith("Native says hi")  # type: ignore[attr-defined]


def test_built_in_tools_are_dropped_for_chat_backends_and_preferred_natively(
    gw: Gateway, ups: dict[str, FakeUpstream]
) -> None:
    """The tool rule: offered hosted tools are dropped for a chat backend (and named), required ones
    are refused there, and a route with a native backend sends them to it."""
    body = {"model": "large", "input": "search", "tools": [WEATHER, {"type": "web_search"}]}
    served = post(gw, {**body, "model": "small"})
    assert served.status_code == 200, served.text
    assert served.headers["x-gateway-backend"] == "smollm2"
    assert served.headers["x-gateway-dropped-tools"] == "web_search"
    required = post(gw, {**body, "model": "small", "tool_choice": {"type": "web_search"}})
    assert required.status_code == 400 and "web_search" in required.json()["error"]["message"]
    assert required.json()["error"]["code"] == "unsupported_feature"
    # The large route falls back to the native tier: the request goes there first, untranslated.
    served = post(gw, body)
    assert served.status_code == 200 and served.headers["x-gateway-backend"] == "native"
    assert "x-gateway-dropped-tools" not in served.headers
    assert ups["native"].stats.last_body["tools"] == [WEATHER, {"type": "web_search"}]  # type: ignore[index]
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'gateway_dropped_tools_total{route="small",tool="web_search"} 1.0' in metrics
    background = post(gw, {"model": "small", "input": "x", "background": True})
    assert background.status_code == 400 and "background" in background.json()["error"]["message"]
    cancel = httpx.post(gw.v1 + "/responses/resp_x/cancel", headers={"authorization": f"Bearer {ACME}"})
    assert cancel.status_code == 400 and cancel.json()["error"]["code"] == "background_not_supported"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "large", "input": [{"type": "telepathy"}]}, 400, "input.0.type"),
        (
            {"model": "large", "input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]},
            400,
            "input.0.call_id",
        ),
        (
            {
                "model": "large",
                "input": "x",
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}],
            },
            400,
            "tools.0.parameters",
        ),
        ({"model": "large", "input": "x", "previous_response_id": "resp_nope"}, 404, "previous_response_id"),
        ({"model": "large", "input": "x" * 70_000}, 413, None),
        ({"model": "large"}, 400, "input"),
        ({"model": "large", "input": 5}, 400, "input"),
    ],
)
def test_bad_input_gets_openais_envelope(
    gw: Gateway, body: dict[str, Any], status: int, param: str | None
) -> None:
    resp = post(gw, body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["message"] and err["type"]
    if param is not None:
        assert err["param"] == param


def test_codex_style_requests(gw: Gateway, ups: dict[str, FakeUpstream]) -> None:
    """What Codex sends with `wire_api = "responses"`: reasoning items, `include`, `store: false`,
    function tools, streaming; a chat-only backend gets them without the reasoning."""
    shell = {
        "type": "function",
        "name": "shell",
        "description": "Runs a command",
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "array", "items": {"type": "string"}}},
        },
    }
    body = {
        "model": "large",
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-opaque"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "shell",
                "arguments": '{"command":["ls"]}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "README.md"},
        ],
        "tools": [shell],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
    }
    with httpx.stream(
        "POST", gw.v1 + "/responses", json=body, headers={"authorization": f"Bearer {ACME}"}
    ) as resp:
        assert resp.status_code == 200
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "response.completed"
    assert (
        events[-1]["response"]["output"][0]["content"][0]["text"] == "It is sunny. (the tool said: README.md)"
    )
    sent = ups["chat"].stats.last_body
    assert sent is not None and [m["role"] for m in sent["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert "include" not in sent and "reasoning" not in sent


def test_the_agents_sdk_runs_an_agent_with_a_function_tool(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    import asyncio

    from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool

    calls: list[str] = []

    @function_tool
    def weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return "sunny"

    model = OpenAIResponsesModel(
        model="large", openai_client=openai.AsyncOpenAI(base_url=gw.v1, api_key=ACME)
    )
    agent = Agent(name="assistant", instructions="Use the tool.", tools=[weather], model=model)
    result = asyncio.run(Runner.run(agent, "Weather in Paris?", run_config=RunConfig(tracing_disabled=True)))
    assert calls == ["Paris"]
    assert result.final_output == "It is sunny. (the tool said: sunny)"
