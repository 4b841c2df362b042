"""A tier behind Anthropic's Messages API (`kind: anthropic`): the official `openai` and `anthropic`
SDKs through the gateway to a fake Anthropic upstream over real HTTP. The fake checks every request by
the rules the Messages API documents and refuses what the API would (a 400 naming the field), and the
official `anthropic` SDK reads its answers (tests/unit/protocol/test_anthropic_upstream.py): what the
gateway sends it is what the API takes, and what it answers is what the API would answer. No request
reached the real api.anthropic.com (no internet here)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway.testing.fake_anthropic import FakeAnthropic
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import FAKE_KEY, PROMPT_MARKER, Gateway, logged_as, start_gateway

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
REPLY = "Claude says hello from the fake API."


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, Any]]:
    fakes: dict[str, Any] = {
        "claude": FakeAnthropic(model="claude-fake", reply=REPLY, api_key=FAKE_KEY),
        "cached": FakeAnthropic(model="claude-cached", api_key=FAKE_KEY),
        "spare": FakeUpstream(model="spare", reply="the spare answered"),
    }
    for f in fakes.values():
        f.start_in_thread()
    yield fakes
    for f in fakes.values():
        f.stop_thread()


@pytest.fixture(scope="module")
def gw(ups: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    routes = f"""
version: 1
default_tier: large
tiers:
  large:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0}}
    backends:
      - {{name: claude, kind: anthropic, base_url: "{ups["claude"].base_url}/v1", model: claude-fake,
          api_key_env: FAKE_ANTHROPIC_KEY, betas: [fine-grained-tool-streaming-2025-05-14], max_tokens: 1000,
          max_output_tokens: 4000}}
  cachedtier:
    price: {{input_per_mtok: 3.0, output_per_mtok: 15.0, cached_input_per_mtok: 0.3,
            cache_write_per_mtok: 3.75}}
    backends:
      - {{name: cached, kind: anthropic, base_url: "{ups["cached"].base_url}", model: claude-cached,
          api_key_env: FAKE_ANTHROPIC_KEY, prompt_cache: true}}
  spare:
    backends:
      - {{name: spare, kind: openai, base_url: "{ups["spare"].base_url}", model: spare}}
routes:
  - {{model: claude, tier: large, fallback: [spare]}}
  - {{model: cached, tier: cachedtier}}
  - {{model: drafted, policy: cascade, draft: spare, escalate: [large], verify: {{min_confidence: 1}}}}
  - {{model: kept, policy: cascade, draft: spare, escalate: [large], verify: {{min_confidence: 0}}}}
breaker: {{consecutive_failures: 100, min_requests: 100}}  # each test's failures are its own
health: {{interval_s: 0.5, unhealthy_after: 1}}
"""
    tmp = tmp_path_factory.mktemp("anthropic-backend")
    g = start_gateway(
        tmp, routes, FAKE_ANTHROPIC_KEY=FAKE_KEY, GATEWAY_DECISION_LOG=str(tmp / "decisions.jsonl")
    )
    yield g
    stop(g.proc)


def up(gw: Gateway, name: str, want: bool = True) -> bool:
    """Whether readiness reports the backend `want` (up or down) within 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(gw.url + "/readyz", timeout=5).json()["backends"][name]["up"] is want:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def client(gw: Gateway, ups: dict[str, Any]) -> openai.OpenAI:
    ups["claude"].set()
    ups["claude"].api_key = FAKE_KEY
    ups["claude"].healthy = True
    ups["claude"].stats.refused.clear()
    ups["claude"].max_output = None
    assert up(gw, "claude")  # a test before may have left it down for a health check
    return openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0, timeout=30)


def ask(text: str = "Hi there.") -> list[Any]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def test_a_chat_request_reaches_the_messages_api_and_comes_back_as_chat(
    client: openai.OpenAI, ups: dict[str, Any]
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="claude", messages=ask(), max_tokens=50)
    answer = raw.parse()
    assert answer.choices[0].message.content == REPLY and answer.choices[0].finish_reason == "stop"
    assert answer.model == "claude-fake" and raw.headers["x-gateway-backend"] == "claude"
    assert answer.usage is not None and answer.usage.prompt_tokens == 11
    fake: FakeAnthropic = ups["claude"]
    assert fake.stats.last_body == {
        "model": "claude-fake",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there."}]}],
        "system": "Be brief.",
    }
    assert fake.stats.last_headers == {
        "x-api-key": FAKE_KEY,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "fine-grained-tool-streaming-2025-05-14",
    }
    # The Messages API requires an answer length: a request without one gets the backend's.
    client.chat.completions.create(model="claude", messages=ask())
    assert fake.stats.last_body is not None and fake.stats.last_body["max_tokens"] == 1000


@pytest.mark.parametrize("usage", [True, False])
def test_a_stream_arrives_as_chat_chunks(client: openai.OpenAI, gw: Gateway, usage: bool) -> None:
    chunks = list(
        client.chat.completions.create(
            model="claude",
            messages=ask(),
            stream=True,
            stream_options={"include_usage": True} if usage else None,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    if usage:
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11
        assert chunks[-1].choices == []
    else:
        # No usage chunk and no usage field (the stream a client that did not ask gets from OpenAI);
        # the gateway still logs and bills the API's count: 11 input tokens, not an estimate.
        assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
        logged = logged_as(gw, chunks[-1].id)
        asked = list(
            client.chat.completions.create(
                model="claude", messages=ask(), stream=True, stream_options={"include_usage": True}
            )
        )[-1].usage
        assert asked is not None
        assert (logged["prompt_tokens"], logged["completion_tokens"]) == (11, asked.completion_tokens)


def _streamed_call(client: openai.OpenAI, messages: list[Any]) -> tuple[str, dict[str, Any] | None]:
    text, call = "", None
    for c in client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER], stream=True):
        delta = c.choices[0].delta if c.choices else None
        text += (delta.content or "") if delta else ""
        for piece in (delta.tool_calls or []) if delta else []:
            if piece.id:
                call = {"id": piece.id, "name": piece.function.name, "arguments": ""}  # type: ignore[union-attr]
            assert call is not None
            call["arguments"] += piece.function.arguments or ""  # type: ignore[union-attr]
    return text, call


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_round_trip(client: openai.OpenAI, ups: dict[str, Any], stream: bool) -> None:
    """The call the model makes, its result sent back: the fake refuses a result without its call
    (and a call without its result) as the API does, so this passes only if the ids match."""
    messages = ask("Weather in Paris?")
    if stream:
        _, call = _streamed_call(client, messages)
        assert call is not None
        cid, name, args = call["id"], call["name"], call["arguments"]
    else:
        first = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
        assert first.choices[0].finish_reason == "tool_calls"
        made = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        cid, name, args = made.id, made.function.name, made.function.arguments  # type: ignore[union-attr]
    assert name == "get_weather" and json.loads(args) == {"city": "Paris"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}],
        },
        {"role": "tool", "tool_call_id": cid, "content": "sunny, 21 C"},
    ]
    if stream:
        text, again = _streamed_call(client, messages)
        assert again is None
    else:
        text = (
            client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
            .choices[0]
            .message.content
            or ""
        )
    assert text == f"{REPLY} (the tool said: sunny, 21 C)"
    assert ups["claude"].stats.last_body["messages"][-1]["content"][0]["tool_use_id"] == cid


@pytest.mark.parametrize("stream", [False, True])
def test_an_overloaded_api_falls_back_unnoticed(
    client: openai.OpenAI, ups: dict[str, Any], stream: bool
) -> None:
    """HTTP 529 (plain), or a stream whose first event is an `overloaded_error` (Anthropic accepts,
    then finds no capacity): nothing reached the client, so it is tried again (the routes' two
    tries), and then the fallback tier answers."""

    def text() -> str:
        if stream:
            chunks = list(client.chat.completions.create(model="claude", messages=ask(), stream=True))
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return client.chat.completions.create(model="claude", messages=ask()).choices[0].message.content or ""

    mode = "error_event" if stream else "error"
    ups["claude"].set(mode=mode, status=529, times=1)
    assert text() == REPLY  # the second try
    ups["claude"].set(mode=mode, status=529, times=2)
    assert text() == "the spare answered"


def test_refused_keys_fall_back_and_the_key_is_never_shown(
    client: openai.OpenAI, ups: dict[str, Any], gw: Gateway
) -> None:
    ups["claude"].api_key = "another-key"
    answer = client.chat.completions.create(model="claude", messages=ask(PROMPT_MARKER))
    assert answer.choices[0].message.content == "the spare answered"
    log = gw.log.read_text()
    assert "refused the gateway's credentials" in log or "upstream_auth" in log
    assert FAKE_KEY not in log and PROMPT_MARKER not in log


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"n": 2}, "The Anthropic Messages API cannot take `n` > 1"),
        ({"stop": ["   "]}, "stop_sequences: a list of non-blank strings"),  # the API's own refusal
    ],
)
def test_what_the_api_cannot_take_is_a_clear_400(
    client: openai.OpenAI, extra: dict[str, Any], said: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=ask(), **extra)
    assert said in caught.value.message


def test_text_completions_are_refused_by_name(client: openai.OpenAI) -> None:
    with pytest.raises(
        openai.BadRequestError, match="speaks Anthropic's Messages API, which has no completions"
    ):
        client.completions.create(model="claude", prompt="Once upon")


def test_a_stream_cut_midway_ends_in_an_error_the_client_reads(
    client: openai.OpenAI, ups: dict[str, Any]
) -> None:
    ups["claude"].set(mode="cut", times=1)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="claude", messages=ask(), stream=True))


def test_the_prompt_cache_is_asked_for_and_its_writes_and_reads_billed(
    client: openai.OpenAI, ups: dict[str, Any]
) -> None:
    """The fake writes a 100-token prefix to its cache the first time and reads it the second: each
    billed at its price (x-gateway-cost-usd), the 11 other input tokens at the input price."""
    create = client.chat.completions.with_raw_response.create
    first, second = create(model="cached", messages=ask()), create(model="cached", messages=ask("Again."))
    assert ups["cached"].stats.last_body["cache_control"] == {"type": "ephemeral"}
    wrote, read = first.parse().usage, second.parse().usage
    assert wrote is not None and read is not None
    assert wrote.prompt_tokens == 111 and wrote.prompt_tokens_details.cached_tokens == 0  # type: ignore[union-attr]
    assert read.prompt_tokens == 111 and read.prompt_tokens_details.cached_tokens == 100  # type: ignore[union-attr]
    assert (wrote.model_extra or {}).get("cache_creation_input_tokens") == 100
    out = wrote.completion_tokens * 15.0
    assert float(first.headers["x-gateway-cost-usd"]) == pytest.approx((11 * 3.0 + 100 * 3.75 + out) / 1e6)
    assert float(second.headers["x-gateway-cost-usd"]) == pytest.approx((11 * 3.0 + 100 * 0.3 + out) / 1e6)


def test_anthropic_and_responses_clients_reach_it_too(gw: Gateway, ups: dict[str, Any]) -> None:
    """A Messages request goes through the gateway's chat form to the Anthropic backend and back; a
    Responses request likewise: both with the official SDKs, a tool round trip for the first."""
    claude = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    tools = [{"name": "get_weather", "description": "w", "input_schema": WEATHER["function"]["parameters"]}]
    asked = [{"role": "user", "content": "Weather in Paris?"}]
    with claude.messages.stream(model="claude", max_tokens=200, messages=asked, tools=tools) as s:  # type: ignore[arg-type]
        first = s.get_final_message()
    use = first.content[-1]
    assert first.stop_reason == "tool_use" and use.type == "tool_use" and use.input == {"city": "Paris"}
    answered = [
        *asked,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    second = claude.messages.create(model="claude", max_tokens=200, messages=answered, tools=tools)  # type: ignore[arg-type]
    assert second.content[0].type == "text" and second.content[0].text == f"{REPLY} (the tool said: sunny)"
    responses = openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0)
    assert responses.responses.create(model="claude", input="Hi.").output_text == REPLY


def test_health_asks_the_api_with_the_key(client: openai.OpenAI, gw: Gateway, ups: dict[str, Any]) -> None:
    """GET /v1/models, which bills nothing: the fake answers it only with the key, so `up` says the
    key works; a failing API is taken down, and its requests go to the fallback tier."""
    assert ups["claude"].stats.paths.get("/v1/models", 0) >= 1
    ups["claude"].healthy = False
    assert up(gw, "claude", False)
    assert (
        client.chat.completions.create(model="claude", messages=ask()).choices[0].message.content
        == "the spare answered"
    )
    ups["claude"].healthy = True
    ups["claude"].stats.refused.clear()
    ups["claude"].max_output = None
    assert up(gw, "claude")


# ---- the Messages API passed through ------------------------------------------------------------


def claude_client(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=30)


def test_a_messages_request_passes_through_as_the_client_sent_it(
    client: openai.OpenAI, gw: Gateway, ups: dict[str, Any]
) -> None:
    """Prompt caching marks, thinking, `service_tier`, metadata and the client's beta features reach the API
    unchanged (the chat form would drop them); the answer comes back with the gateway's id."""
    sent: dict[str, Any] = {
        "max_tokens": 300,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2;"},
            {"type": "text", "text": "You are an agent.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi.", "cache_control": {"type": "ephemeral"}}],
            }
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "service_tier": "auto",
        "metadata": {"user_id": "u-7"},
    }
    raw = claude_client(gw).messages.with_raw_response.create(
        model="claude", extra_headers={"anthropic-beta": "context-management-2025-06-27"}, **sent
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == REPLY
    assert message.id.startswith("msg_") and not message.id.startswith("msg_fake")  # the gateway's own
    assert message.usage.input_tokens == 11 and raw.headers["x-gateway-backend"] == "claude"
    fake: FakeAnthropic = ups["claude"]
    assert fake.stats.last_body == {**sent, "model": "claude-fake"}
    assert fake.stats.last_headers["anthropic-beta"] == (
        "fine-grained-tool-streaming-2025-05-14,context-management-2025-06-27"
    )
    assert fake.stats.last_headers["x-api-key"] == FAKE_KEY  # the backend's key, not the client's
    # The body is written for the client's API version: it goes with it (the SDK's, not the
    # backend's 2023-06-01), as Claude Code's gateway contract asks.
    sdk_version = claude_client(gw).default_headers["anthropic-version"]
    assert sdk_version != "2023-06-01" and fake.stats.last_headers["anthropic-version"] == sdk_version


def test_a_messages_stream_passes_through_with_the_gateways_id(gw: Gateway, ups: dict[str, Any]) -> None:
    asked = [{"role": "user", "content": "Hi."}]
    with claude_client(gw).messages.stream(model="claude", max_tokens=100, messages=asked) as s:  # type: ignore[arg-type]
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY and final.stop_reason == "end_turn"
    assert final.id.startswith("msg_") and not final.id.startswith("msg_fake")
    assert final.usage.input_tokens == 11 and ups["claude"].stats.last_body["stream"] is True
    # The API's own count is what the gateway bills and logs (read off the stream's last events).
    logged = logged_as(gw, final.id)
    assert (logged["prompt_tokens"], logged["completion_tokens"]) == (11, final.usage.output_tokens)


def test_a_server_tool_the_request_requires_is_served_natively(gw: Gateway, ups: dict[str, Any]) -> None:
    """A chat backend cannot run web search: a request that requires it was refused (400) when no
    backend spoke the API; an Anthropic backend gets it, tools as sent."""
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    message = claude_client(gw).messages.create(
        model="claude",
        max_tokens=100,
        messages=[{"role": "user", "content": "News today?"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "tool", "name": "web_search"},
    )
    assert message.content[0].type == "text" and message.content[0].text == REPLY
    assert ups["claude"].stats.last_body["tools"] == tools


@pytest.mark.parametrize("stream", [False, True])
def test_an_overloaded_api_falls_back_to_a_chat_tier_unnoticed(
    gw: Gateway, ups: dict[str, Any], client: openai.OpenAI, stream: bool
) -> None:
    """Overloaded twice (the routes' two tries): the fallback tier, a chat backend, answers in the
    chat form, and the client still reads a Message."""
    ups["claude"].set(mode="error_event" if stream else "error", status=529, times=2)
    claude, asked = claude_client(gw), [{"role": "user", "content": "Hi."}]
    if stream:
        with claude.messages.stream(model="claude", max_tokens=100, messages=asked) as s:  # type: ignore[arg-type]
            message = s.get_final_message()
    else:
        message = claude.messages.create(model="claude", max_tokens=100, messages=asked)  # type: ignore[arg-type]
    assert message.content[0].type == "text" and message.content[0].text == "the spare answered"


def test_a_native_stream_cut_midway_ends_in_anthropics_error_event(
    gw: Gateway, ups: dict[str, Any], client: openai.OpenAI
) -> None:
    ups["claude"].set(mode="cut", times=1)
    asked = [{"role": "user", "content": "Hi."}]
    stream = claude_client(gw).messages.stream(model="claude", max_tokens=100, messages=asked)  # type: ignore[arg-type]
    with pytest.raises(anthropic.APIError), stream as s:
        s.get_final_message()


def test_tokens_are_counted_by_the_api(gw: Gateway, ups: dict[str, Any], client: openai.OpenAI) -> None:
    """`count_tokens` for an Anthropic tier asks the API (exact for its model), sent what the
    counting endpoint reads; the estimate when the API will not count."""
    fake: FakeAnthropic = ups["claude"]
    tools = [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}]
    asked = {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi."}], "tools": tools}
    raw = claude_client(gw).messages.with_raw_response.count_tokens(model="claude", **asked)  # type: ignore[arg-type]
    assert raw.headers["x-gateway-token-count"] == "exact" and raw.headers["x-gateway-backend"] == "claude"
    assert fake.stats.last_body == {**asked, "model": "claude-fake"} and not fake.stats.refused
    assert raw.parse().input_tokens == len(json.dumps(fake.stats.last_body)) // 4
    assert (
        fake.stats.last_headers["anthropic-version"] == claude_client(gw).default_headers["anthropic-version"]
    )
    fake.api_key = "another-key"
    raw = claude_client(gw).messages.with_raw_response.count_tokens(model="claude", **asked)  # type: ignore[arg-type]
    assert raw.headers["x-gateway-token-count"] == "estimate" and raw.parse().input_tokens > 0


def test_no_more_answer_is_asked_for_than_the_model_gives(
    gw: Gateway, ups: dict[str, Any], client: openai.OpenAI
) -> None:
    """Clients ask for their own model's longest answer (Claude Code up to 128,000 tokens); the API
    refuses more than the backend's model gives (`max_output_tokens`: 4,000 here)."""
    fake: FakeAnthropic = ups["claude"]
    fake.max_output = 4000
    asked = [{"role": "user", "content": "Hi."}]
    with pytest.raises(anthropic.BadRequestError, match="maximum allowed number of output tokens"):
        anthropic.Anthropic(
            base_url=fake.base_url, api_key=FAKE_KEY, max_retries=0, timeout=30
        ).messages.create(
            model="claude-fake",
            max_tokens=128_000,
            messages=asked,  # type: ignore[arg-type]
        )
    message = claude_client(gw).messages.create(model="claude", max_tokens=128_000, messages=asked)  # type: ignore[arg-type]
    assert message.content[0].type == "text" and fake.stats.last_body["max_tokens"] == 4000
    client.chat.completions.create(model="claude", messages=ask(), max_tokens=50_000)
    assert fake.stats.last_body["max_tokens"] == 4000
    client.chat.completions.create(model="claude", messages=ask(), max_tokens=300)
    assert fake.stats.last_body["max_tokens"] == 300


@pytest.mark.parametrize("stream", [False, True])
def test_a_cascade_drafts_on_a_chat_tier_and_escalates_to_the_api_natively(
    gw: Gateway, ups: dict[str, Any], client: openai.OpenAI, stream: bool
) -> None:
    """A Messages request on a cascade: the draft from a chat tier (in the chat form), the escalation
    to the Anthropic tier as the client sent the request; an accepted draft comes back a Message."""
    claude, asked = claude_client(gw), [{"role": "user", "content": "Hi."}]

    def message(route: str) -> tuple[anthropic.types.Message, str]:
        if stream:
            with claude.messages.with_streaming_response.create(
                model=route,
                max_tokens=100,
                messages=asked,
                stream=True,  # type: ignore[arg-type]
            ) as raw:
                cascade = raw.headers["x-gateway-cascade"]
            with claude.messages.stream(model=route, max_tokens=100, messages=asked) as s:  # type: ignore[arg-type]
                return s.get_final_message(), cascade
        raw = claude.messages.with_raw_response.create(model=route, max_tokens=100, messages=asked)  # type: ignore[arg-type]
        return raw.parse(), raw.headers["x-gateway-cascade"]

    before = ups["spare"].stats.paths.get("/v1/chat/completions", 0)
    escalated, how = message("drafted")
    assert how == "escalated" and escalated.content[0].type == "text" and escalated.content[0].text == REPLY
    assert ups["claude"].stats.last_body["messages"] == asked  # natively, as sent
    assert ups["spare"].stats.paths["/v1/chat/completions"] > before  # the draft was asked for
    accepted, how = message("kept")
    assert how == "accepted" and accepted.content[0].type == "text"
    assert accepted.content[0].text == "the spare answered" and accepted.id.startswith("msg_")
