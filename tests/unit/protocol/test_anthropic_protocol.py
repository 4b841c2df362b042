"""The Messages API's wire format, by tables, both ways: every block type of a request into chat, chat
answers (whole and streamed) into Messages and Anthropic's event sequence, errors into Anthropic's
envelope, and the one session notion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import (
    ContextTooLong,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    StreamInterrupted,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.protocol import Usage, stream_usage, usage_of
from gateway.protocol.anthropic import (
    CountTokensRequest,
    MessagesRequest,
    MessageTranslation,
    chat_body,
    check,
    envelope,
    status_of,
)
from gateway.protocol.anthropic.message import message_of_chat, tool_id
from gateway.protocol.choices import answer_text, streamed_text
from gateway.protocol.session import session_of
from gateway.testing.fake_backend import chat_chunks, chat_reply

BASH = {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {}}}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def req(**fields: Any) -> MessagesRequest:
    body = {"model": "claude-opus-5-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    r = MessagesRequest.model_validate({**body, **fields})
    check(r)
    return r


def chat(**fields: Any) -> dict[str, Any]:
    return chat_body(req(**fields)).body


# ---- requests into chat ------------------------------------------------------------------------


def test_system_blocks_and_system_messages_become_one_leading_system_message() -> None:
    body = chat(
        system=[
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328.b1f;"},
            {"type": "text", "text": "You are an agent.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "<reminder>"}, {"type": "text", "text": "go"}],
            },
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}], "output_config": {}},
            {"role": "system", "content": []},
        ],
    )
    # The billing line (a per-prompt fingerprint) is dropped: the prompt's prefix stays cacheable.
    assert body["messages"] == [
        {"role": "system", "content": "You are an agent.\n\n# Environment"},
        {"role": "user", "content": "<reminder>\n\ngo"},
    ]
    assert chat(system="Be brief.")["messages"][0] == {"role": "system", "content": "Be brief."}


def test_tool_use_and_tool_results_keep_their_ids_errors_and_images() -> None:
    body = chat(
        tools=[BASH],
        messages=[
            {"role": "user", "content": "list files"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pwd"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt", "is_error": False},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [{"type": "text", "text": "denied"}, {"type": "image", "source": PNG}],
                    },
                    {"type": "text", "text": "and now?"},
                ],
            },
        ],
    )
    assert body["messages"] == [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command":"pwd"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: denied"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "(the image(s) the tool call toolu_2 returned)"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "and now?"},
            ],
        },
    ]


def test_images_documents_and_search_results() -> None:
    doc = {
        "type": "document",
        "title": "Notes",
        "source": {"type": "text", "media_type": "text/plain", "data": "n1"},
    }
    plain = {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": "aGVsbG8="}}
    found = {
        "type": "search_result",
        "title": "T",
        "source": "https://x",
        "content": [{"type": "text", "text": "s"}],
    }
    url = {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}}
    body = chat(
        messages=[{"role": "user", "content": [doc, plain, found, url, {"type": "text", "text": "?"}]}]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Notes\n\nn1"},
        {"type": "text", "text": "hello"},
        {"type": "text", "text": "T — https://x\n\ns"},
        {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
        {"type": "text", "text": "?"},
    ]


@pytest.mark.parametrize(
    ("block", "param"),
    [
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
            },
            "messages.0.content.0",
        ),
        ({"type": "image", "source": {"type": "file", "file_id": "f1"}}, "messages.0.content.0"),
        ({"type": "web_search_tool_result", "tool_use_id": "s", "content": []}, "messages.0.content.0.type"),
    ],
)
def test_what_a_chat_backend_cannot_take_is_refused_naming_the_block(
    block: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat(messages=[{"role": "user", "content": [block]}])
    assert info.value.param == param and info.value.code == "unsupported_feature"


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "robot", "content": "x"}], "messages.0.role"),
        ([{"role": "user", "content": [{"type": "telepathy"}]}], "messages.0.content.0.type"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages.0.content.0.text"),
        (
            [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 3}]}],
            "messages.0.content.0.input",
        ),
        ([{"role": "user", "content": [{"type": "tool_result"}]}], "messages.0.content.0.tool_use_id"),
        (
            [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}],
            "messages.0.content.0.source",
        ),
        ([{"role": "user"}], "messages.0.content"),
    ],
)
def test_malformed_messages_name_their_field(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        req(messages=messages)
    assert info.value.param == param


def test_tools_custom_client_deferred_and_server() -> None:
    tools = [
        BASH,
        {"name": "Later", "input_schema": {"type": "object"}, "defer_loading": True},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ]
    form = chat_body(req(tools=tools, tool_choice={"type": "auto", "disable_parallel_tool_use": True}))
    names = [t["function"]["name"] for t in form.body["tools"]]
    assert names == ["Bash", "str_replace_based_edit_tool"]  # the deferred tool is not loaded yet
    editor = form.body["tools"][1]["function"]["parameters"]
    assert editor["required"] == ["command", "path"] and "old_str" in editor["properties"]
    assert form.hosted == ("web_search_20250305", "code_execution_20250825") and not form.needs
    assert form.body["tool_choice"] == "auto" and form.body["parallel_tool_calls"] is False
    # A tool_reference in a tool result loads the deferred tool.
    loaded = chat_body(
        req(
            tools=tools,
            messages=[
                {"role": "user", "content": "find it"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "tool_reference", "tool_name": "Later"}],
                        }
                    ],
                },
            ],
        )
    )
    assert "Later" in [t["function"]["name"] for t in loaded.body["tools"]]
    chosen = chat_body(req(tools=tools, tool_choice={"type": "tool", "name": "Later"}))
    assert chosen.body["tool_choice"] == {"type": "function", "function": {"name": "Later"}}
    assert "Later" in [t["function"]["name"] for t in chosen.body["tools"]]
    undated = chat_body(req(tools=[{"type": "text_editor", "name": "edit"}, {"type": "bash", "name": "sh"}]))
    assert [t["function"]["name"] for t in undated.body["tools"]] == ["edit", "sh"]
    assert loaded.body["messages"][-1]["content"] == "Tool 'Later' loaded."


@pytest.mark.parametrize(
    ("choice", "expected", "needs"),
    [
        ({"type": "any"}, "required", []),
        ({"type": "none"}, "none", []),
        ({"type": "tool", "name": "Bash"}, {"type": "function", "function": {"name": "Bash"}}, []),
        ({"type": "tool", "name": "web_search"}, None, ["tool_choice naming the server tool 'web_search'"]),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any, needs: list[str]) -> None:
    tools = [BASH, {"type": "web_search_20250305", "name": "web_search"}]
    form = chat_body(req(tools=tools, tool_choice=choice))
    assert form.body.get("tool_choice") == expected and form.needs == needs


def test_any_with_server_tools_only_needs_a_native_backend_and_an_unknown_name_is_a_400() -> None:
    form = chat_body(
        req(tools=[{"type": "web_search_20250305", "name": "web_search"}], tool_choice={"type": "any"})
    )
    assert form.needs == ["tool_choice 'any' with server tools only"] and "tools" not in form.body
    with pytest.raises(InvalidRequest, match="not among"):
        chat_body(req(tools=[BASH], tool_choice={"type": "tool", "name": "Nope"}))


def test_sampling_stream_structured_output_and_what_is_dropped() -> None:
    body = chat(
        stop_sequences=["END"],
        temperature=0.2,
        top_p=0.9,
        top_k=5,
        stream=True,
        metadata={"user_id": "u"},
        thinking={"type": "adaptive"},
        context_management={"edits": []},
        output_config={"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        service_tier="auto",
    )
    assert body == {
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": {"type": "object"}},
        },
        "max_tokens": 100,
        "stop": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    counted = CountTokensRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    )
    assert "max_tokens" not in chat_body(counted).body


def test_claude_codes_own_request_translates() -> None:
    """The shape Claude Code 2.1.328 sends (REPORT.md): every key of it is taken or dropped."""
    body = {
        "model": "claude-opus-5-5",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "run it"},
                ],
            },
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}
                ],
                "output_config": {"effort": "medium"},
            },
        ],
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328.b1f;"},
            {"type": "text", "text": "You are Claude."},
        ],
        "tools": [
            BASH,
            {
                "name": "DeferredToolPlaceholder",
                "description": "never",
                "input_schema": {"type": "object"},
                "defer_loading": True,
            },
        ],
        "metadata": {
            "user_id": json.dumps({"device_id": "d", "account_uuid": "", "session_id": "8ae4934d-c4fc"})
        },
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "stream": True,
    }
    r = MessagesRequest.model_validate(body)
    check(r)
    form = chat_body(r)
    assert [m["role"] for m in form.body["messages"]] == ["system", "user"]
    assert [t["function"]["name"] for t in form.body["tools"]] == ["Bash"]
    assert form.body["max_tokens"] == 128000 and not form.hosted and not form.needs
    assert session_of({}, body) == "8ae4934d-c4fc"


# ---- answers into Messages ---------------------------------------------------------------------


def test_a_chat_answer_becomes_a_message_with_usage_and_stop_reason() -> None:
    reply = chat_reply("Hello there", model="big")
    reply["usage"] = {
        "prompt_tokens": 120,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    message = message_of_chat(reply, "msg_1", "claude", thinking=False, stop_sequences=None)
    assert message == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "big",
        "content": [{"type": "text", "text": "Hello there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
            "output_tokens": 2,
        },
    }
    # The gateway's bill reads the same usage back: the cached tokens as cached, the input whole.
    usage = usage_of(json.dumps(message).encode())
    assert usage is not None and (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (
        120,
        100,
        2,
    )
    assert answer_text(json.dumps(message).encode()) == "Hello there"


@pytest.mark.parametrize(
    ("finish", "extra", "expected"),
    [
        ("length", {}, ("max_tokens", None)),
        ("tool_calls", {}, ("tool_use", None)),
        ("stop", {"stop_reason": "END"}, ("stop_sequence", "END")),
        ("stop", {"stop_reason": 2}, ("end_turn", None)),
        ("content_filter", {}, ("refusal", None)),
    ],
)
def test_stop_reasons(finish: str, extra: dict[str, Any], expected: tuple[str, str | None]) -> None:
    reply = chat_reply("x", finish=finish, **extra)
    message = message_of_chat(reply, "m", "c", thinking=False, stop_sequences=["END"])
    assert (message["stop_reason"], message["stop_sequence"]) == expected


def test_tool_calls_and_reasoning_become_blocks() -> None:
    reply = chat_reply("", finish="tool_calls")
    reply["choices"][0]["message"].update(
        content=None,
        reasoning_content="Let me think.",
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
            },
            {"id": "call:odd/id", "type": "function", "function": {"name": "Bash", "arguments": "not json"}},
        ],
    )
    message = message_of_chat(reply, "m", "c", thinking=True, stop_sequences=None)
    assert message["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": ""},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_use", "id": tool_id("call:odd/id"), "name": "Bash", "input": {}},
    ]
    assert tool_id("call:odd/id") == tool_id("call:odd/id") and tool_id("call:odd/id").startswith("toolu_")
    hidden = message_of_chat(reply, "m", "c", thinking=False, stop_sequences=None)
    assert [b["type"] for b in hidden["content"]] == ["tool_use", "tool_use"]


# ---- streams into Anthropic's events -----------------------------------------------------------


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        kind_line, data_line = block.split("\n")
        assert kind_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[6:])
        assert data["type"] == kind_line[7:]
        out.append((kind_line[7:], data))
    return out


def translate(
    chunks: list[bytes], *, split: int = 0, thinking: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    t = MessageTranslation("msg_1", "claude", input_tokens=lambda: 50, thinking=thinking, stop_sequences=None)
    raw = b"".join(chunks)
    pieces = [raw[i : i + split] for i in range(0, len(raw), split)] if split else chunks
    return events(t.started() + b"".join(t.feed(p) for p in pieces))


@pytest.mark.parametrize("split", [0, 7])
def test_a_text_stream_becomes_anthropics_exact_sequence(split: int) -> None:
    got = translate(chat_chunks("Hello big world", model="big", usage=True), split=split)
    assert [k for k, _ in got] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = got[0][1]["message"]
    assert start["model"] == "big" and start["usage"]["input_tokens"] == 50 and start["content"] == []
    assert "".join(d["delta"]["text"] for k, d in got if k == "content_block_delta") == "Hello big world"
    delta = got[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 3,
    }
    raw = b"".join(f"event: {k}\ndata: {json.dumps(d)}\n\n".encode() for k, d in got)
    assert streamed_text(raw) == "Hello big world"
    usage = stream_usage(raw)
    assert usage == Usage(
        input_tokens=5, output_tokens=3, cache_read_input_tokens=0, cache_creation_input_tokens=0
    )


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": "c",
        "model": "big",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_thinking_text_and_tool_calls_stream_as_consecutive_blocks() -> None:
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "Think."}),
        chunk({"content": "I'll run it."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"command":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"ls"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    got = translate(chunks, thinking=True)
    summary = [
        (k, d.get("index"), (d.get("content_block") or d.get("delta") or {}).get("type")) for k, d in got
    ]
    assert summary == [
        ("message_start", None, None),
        ("ping", None, None),
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, "tool_use"),
        ("content_block_delta", 3, "input_json_delta"),
        ("content_block_stop", 3, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"
    tool = got[9][1]["content_block"]
    assert tool == {"type": "tool_use", "id": "call_a", "name": "Bash", "input": {}}
    args = "".join(
        d["delta"]["partial_json"] for k, d in got if k == "content_block_delta" and d["index"] == 2
    )
    assert json.loads(args) == {"command": "ls"}
    # Without usage from the backend: the input as estimated, a token per delta.
    assert got[-2][1]["usage"]["input_tokens"] == 50 and got[-2][1]["usage"]["output_tokens"] == 5


def test_a_cut_answer_and_an_interleaved_or_broken_stream() -> None:
    got = translate([chunk({"content": "Hel"}), chunk({}, "length"), b"data: [DONE]\n\n"])
    assert got[-2][1]["delta"]["stop_reason"] == "max_tokens"
    t = MessageTranslation("m", "c", input_tokens=lambda: 1, thinking=False, stop_sequences=None)
    t.feed(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}))
    t.feed(chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "f", "arguments": ""}}]}))
    with pytest.raises(StreamInterrupted):
        t.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}))
    with pytest.raises(StreamInterrupted):
        MessageTranslation("m", "c", input_tokens=lambda: 1, thinking=False, stop_sequences=None).feed(
            b"data: {oops\n\n"
        )
    failed = events(t.failed(envelope(UpstreamError("boom"))))
    assert failed == [("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})]


# ---- errors and sessions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (ContextTooLong(9000, 1792), 400, "invalid_request_error"),
        (Unauthorized("who"), 401, "authentication_error"),
        (ModelNotFound("x"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (RateLimited("slow", code="rate_limit_requests", retry_after_s=2), 429, "rate_limit_error"),
        (GatewayError("oops"), 500, "api_error"),
        (UpstreamError("down"), 502, "api_error"),
        (UpstreamUnavailable("full", code="queue_full"), 529, "overloaded_error"),
        (ServiceUnavailable("store down"), 503, "api_error"),
        (UpstreamTimeout("slow"), 504, "timeout_error"),
    ],
)
def test_errors_in_anthropics_envelope(err: GatewayError, status: int, kind: str) -> None:
    assert status_of(err) == status
    assert envelope(err) == {"type": "error", "error": {"type": kind, "message": err.message}}


def test_one_session_notion() -> None:
    headers = {"x-claude-code-session-id": "cc-1", "x-session-id": "s-2"}
    body = {"metadata": {"user_id": json.dumps({"session_id": "meta-3"})}, "prompt_cache_key": "pck-4"}
    assert session_of(headers, body) == "cc-1"
    assert session_of({"x-session-id": "s-2"}, body) == "meta-3"
    assert session_of({"x-session-id": "s-2"}, {"prompt_cache_key": "pck-4"}) == "s-2"
    assert session_of({}, {"prompt_cache_key": "pck-4"}) == "pck-4"
    assert session_of({}, {"metadata": {"user_id": "{not json"}}) is None
    assert session_of({"x-session-id": "bad id\nwith newline"}, {}) is None
