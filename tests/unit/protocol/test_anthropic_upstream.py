"""Chat to an Anthropic backend and back (`kind: anthropic`): chat requests as Messages requests
(protocol/anthropic/from_chat.py), each checked by the rules the Messages API documents
(testing/anthropic_rules.py, what the fake Anthropic upstream refuses); Messages and their events as
chat (protocol/anthropic/chat_answer.py), the streamed chunks put back together
(protocol/assemble.py) equal to the plain answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import UpstreamRejected
from gateway.protocol.anthropic import MessagesRequest, chat_body, check
from gateway.protocol.anthropic.chat_answer import ChatChunks, chat_of_message
from gateway.protocol.anthropic.from_chat import messages_body
from gateway.protocol.anthropic.native import MessageTap
from gateway.protocol.assemble import Assembled
from gateway.protocol.sse import ChatEvents
from gateway.testing.anthropic_rules import check as documented_rules
from gateway.testing.fake_anthropic import FakeAnthropic

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PNG = "iVBORw0KGgo="


def to_messages(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out = messages_body(body, **{"model": "claude-x", "max_tokens": 4096, "cache": False, **kw})
    documented_rules(out)  # what the API would refuse, refused here
    return out


def call(cid: str, name: str = "get_weather", args: str = '{"city": "Paris"}') -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


# ---- requests ----------------------------------------------------------------------------------


def test_a_chat_conversation_with_tools_becomes_turns_the_api_accepts() -> None:
    body = {
        "model": "large",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": [call("call_1"), call("call:2/x")]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call:2/x", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "And?"},
            {"role": "assistant", "content": "Sunny, then rain."},
            {"role": "user", "content": "Thanks."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                ],
            },
        ],
        "tools": [WEATHER],
    }
    out = to_messages(body)
    hashed = out["messages"][1]["content"][1]["id"]
    assert hashed.startswith("toolu_") and hashed == out["messages"][2]["content"][1]["tool_use_id"]
    assert out == {
        "model": "claude-x",
        "max_tokens": 4096,
        "system": "You are terse.\n\nUse tools.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": hashed, "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": hashed, "content": "rain"},
                    {"type": "text", "text": "And?"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Sunny, then rain."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Thanks."},
                    {"type": "text", "text": "Look:"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                "description": "The weather in a city",
            }
        ],
    }


def test_tool_results_lead_their_user_turn_whatever_the_chat_order() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "Calling.", "tool_calls": [call("call_1")]},
            {"role": "user", "content": "(a reminder the client slipped in)"},
            {"role": "tool", "tool_call_id": "call_1", "content": ""},
        ]
    }
    turns = to_messages(body)["messages"]
    assert turns[1]["content"][0] == {"type": "text", "text": "Calling."}
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "text"]


def test_the_request_fields_that_have_a_counterpart() -> None:
    base = {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER]}
    out = to_messages(
        {
            **base,
            "max_completion_tokens": 77,
            "max_tokens": 5,
            "temperature": 1.4,
            "top_p": 0.9,
            "stop": "END",
            "user": "u-1",
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "o", "schema": {"type": "object"}},
            },
            "reasoning_effort": "minimal",
            "seed": 7,
            "logprobs": True,
            "frequency_penalty": 0.5,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        cache=True,
    )
    assert out["max_tokens"] == 77 and out["temperature"] == 1.0 and out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"] and out["metadata"] == {"user_id": "u-1"}
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}},
        "effort": "low",
    }
    assert out["cache_control"] == {"type": "ephemeral"} and out["stream"] is True
    assert not {"seed", "logprobs", "frequency_penalty", "stream_options", "n"} & out.keys()
    named = to_messages({**base, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})
    assert named["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert to_messages({**base, "tool_choice": "none"})["tool_choice"] == {"type": "none"}
    assert to_messages({**base, "parallel_tool_calls": False})["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    allowed = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [other]}}
    narrowed = to_messages({**base, "tools": [WEATHER, other], "tool_choice": allowed})
    assert narrowed["tool_choice"] == {"type": "any"} and [t["name"] for t in narrowed["tools"]] == [
        "get_time"
    ]
    assert to_messages({**base, "max_tokens": 9})["max_tokens"] == 9
    assert to_messages(base, max_tokens=123)["max_tokens"] == 123


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"n": 2}, "`n` > 1"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "x"}}, "audio"),
        ({"response_format": {"type": "json_object"}}, "json_object"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "'custom' tools"),
        ({"tools": [{"type": "function"}]}, "a function tool without its `function` object"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "custom", "custom": {"name": "x"}}},
            "`tool_choice` 'custom'",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "'input_audio' content parts",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]},
            "files other than PDFs",
        ),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "'function' messages"),
    ],
)
def test_what_the_api_has_no_room_for_is_refused_by_name(extra: dict[str, Any], said: str) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(UpstreamRejected, match="The Anthropic Messages API cannot take") as caught:
        messages_body(body, model="m", max_tokens=10, cache=False)
    assert said in caught.value.message and caught.value.status == 400


def test_an_inline_pdf_becomes_a_document() -> None:
    part = {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
    }
    out = to_messages({"messages": [{"role": "user", "content": [part]}]})
    assert out["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        }
    ]


def test_a_messages_request_comes_back_from_chat_form_as_it_was_sent() -> None:
    """Anthropic's client → the gateway's chat form (to_chat.py) → an Anthropic backend: the turns
    arrive as sent, the text of each block and every tool id kept."""
    sent = {
        "model": "claude-opus-5-5",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "You are an agent."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List files."}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Running ls."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.py\nb.py"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "Which is bigger?"},
                ],
            },
        ],
        "tools": [
            {"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {}}}
        ],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["###"],
        "temperature": 0.2,
    }
    request = MessagesRequest.model_validate(sent)
    check(request)
    back = to_messages(chat_body(request).body)
    assert back["system"] == "You are an agent." and back["max_tokens"] == 300
    assert back["tools"] == sent["tools"] and back["tool_choice"] == {"type": "auto"}
    assert back["stop_sequences"] == ["###"] and back["temperature"] == 0.2
    assert back["messages"][:2] == sent["messages"][:2]
    # The image a user turn carries beside a tool result follows the result, as it was sent.
    assert back["messages"][2]["content"][0] == sent["messages"][2]["content"][0]
    assert sent["messages"][2]["content"][1] in back["messages"][2]["content"]
    assert back["messages"][2]["content"][-1] == {"type": "text", "text": "Which is bigger?"}


# ---- answers -----------------------------------------------------------------------------------


def message(*blocks: dict[str, Any], stop: str = "end_turn", sequence: str | None = None) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": list(blocks),
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": {
            "input_tokens": 11,
            "output_tokens": 5,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 100,
        },
    }


THOUGHT = {"type": "thinking", "thinking": "Let me see.", "signature": "sig"}
TEXT = {"type": "text", "text": "It is sunny."}
TOOL = {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}}


def test_a_message_as_a_chat_completion() -> None:
    chat = chat_of_message(message(THOUGHT, TEXT, TOOL, stop="tool_use"), created=1765000000)
    assert chat == {
        "id": "msg_01",
        "object": "chat.completion",
        "created": 1765000000,
        "model": "claude-x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "It is sunny.",
                    "tool_calls": [
                        {
                            "id": "toolu_9",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        }
                    ],
                    "reasoning_content": "Let me see.",
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 131,
            "completion_tokens": 5,
            "total_tokens": 136,
            "prompt_tokens_details": {"cached_tokens": 100},
            "cache_creation_input_tokens": 20,
        },
    }
    tools_only = chat_of_message(message(TOOL, stop="tool_use"), created=0)["choices"][0]["message"]
    assert tools_only["content"] is None
    stopped = chat_of_message(message(TEXT, stop="stop_sequence", sequence="###"), created=0)["choices"][0]
    assert stopped["finish_reason"] == "stop" and stopped["stop_reason"] == "###"
    for reason, finish in [("max_tokens", "length"), ("refusal", "content_filter"), ("pause_turn", "stop")]:
        assert chat_of_message(message(TEXT, stop=reason), created=0)["choices"][0]["finish_reason"] == finish


def streamed(msg: dict[str, Any], split: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fake's event stream of `msg` as chat chunks, fed in pieces of `split` bytes: the answer
    put back together, and the chunks."""
    raw = b"".join(FakeAnthropic()._events(msg))
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    events, chunks = ChatEvents(), ChatChunks(created=1765000000)
    out = b"".join(b"".join(chunks.feed(e)) for p in pieces for e in events.feed(p) if e is not None)
    assert chunks.done and out.endswith(b"data: [DONE]\n\n")
    assembled, parsed = Assembled("chat"), []
    for event in ChatEvents().feed(out):
        if event is not None:
            parsed.append(event)
            assembled.add(event)
    return assembled.answer(), parsed


def parsed_arguments(chat: dict[str, Any]) -> dict[str, Any]:
    """The answer with its tool calls' arguments parsed: a stream carries the model's JSON text as
    written (spaces and all), a Message the parsed input."""
    for call in chat["choices"][0]["message"].get("tool_calls") or []:
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return chat


@pytest.mark.parametrize(
    "blocks", [(TEXT,), (TEXT, TOOL), (TOOL, TOOL | {"id": "toolu_10"}), (THOUGHT, TEXT), ()]
)
def test_a_stream_puts_back_together_as_the_plain_answer(blocks: tuple[dict[str, Any], ...]) -> None:
    msg = message(*blocks, stop="tool_use" if TOOL in blocks else "end_turn")
    plain = parsed_arguments(chat_of_message(msg, created=1765000000))
    whole, chunks = streamed(msg)
    assert parsed_arguments(whole) == plain
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]) == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    for split in (1, 7, 64):
        assert parsed_arguments(streamed(msg, split)[0]) == plain


def test_thinking_streams_as_reasoning_content() -> None:
    raw = [
        {"type": "message_start", "message": message() | {"usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Yes."}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    chunks = ChatChunks(created=1)
    out = [json.loads(b[6:]) for e in raw for b in chunks.feed(e) if b.startswith(b"data: {")]
    assert [c["choices"][0]["delta"] for c in out[:-1]] == [
        {"role": "assistant", "reasoning_content": "Hmm."},
        {"content": "Yes."},
        {},
    ]
    assert out[-2]["choices"][0]["finish_reason"] == "stop"
    assert out[-1]["choices"] == [] and out[-1]["usage"]["completion_tokens"] == 4


# ---- a native answer made the gateway's own ----------------------------------------------------


@pytest.mark.parametrize("split", [None, 1, 5, 64])
def test_a_native_stream_gets_the_gateways_id_and_nothing_else_changes(split: int | None) -> None:
    raw = b"".join(FakeAnthropic()._events(message(THOUGHT, TEXT, TOOL, stop="tool_use")))
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    tap = MessageTap("msg_gateway01")
    out = b"".join(tap.feed(p) for p in pieces)
    before, after = list(ChatEvents().feed(raw)), list(ChatEvents().feed(out))
    assert after[0]["message"]["id"] == "msg_gateway01" and before[0]["message"]["id"] == "msg_01"
    after[0]["message"]["id"] = "msg_01"
    assert after == before
    assert out.split(b"\n\n", 1)[1] == raw.split(b"\n\n", 1)[1]  # byte for byte after message_start
    assert tap.of_reply(message(TEXT)) == {**message(TEXT), "id": "msg_gateway01"}
