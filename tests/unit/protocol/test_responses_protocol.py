"""The Responses API's wire format, by tables: input items, the chat translation, Response objects and
the event stream built from chat answers, and a native backend's answer made the gateway's own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.protocol.responses import (
    NativeTap,
    ResponsesRequest,
    Translation,
    chat_body,
    echo,
    hosted_tools,
    input_items,
    native_only,
)
from gateway.testing.fake_backend import chat_chunks, chat_reply

TOOL = {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}


def req(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "auto", **fields})


def test_a_string_input_is_one_user_message() -> None:
    assert input_items("hi") == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]


def test_a_conversation_with_tools_becomes_chat_messages() -> None:
    items = input_items(
        [
            {"role": "developer", "content": "be brief"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"x":1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "rain"}],
            },
        ]
    )
    body = chat_body(req(instructions="You are a bot.", tools=[TOOL], max_output_tokens=50), items, "m")
    assert body["messages"] == [
        {"role": "system", "content": "You are a bot."},
        {"role": "system", "content": "be brief"},  # developer: what system means to chat templates
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": '{"x":1}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ]  # the reasoning item is dropped
    assert body["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": TOOL["parameters"]}}
    ]
    assert body["max_tokens"] == 50


def test_images_formats_and_streams_translate() -> None:
    items = input_items(
        [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what"},
                    {"type": "input_image", "image_url": "data:x"},
                ],
            }
        ]
    )
    schema = {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
    body = chat_body(
        req(text={"format": schema}, stream=True, tool_choice={"type": "function", "name": "f"}), items, "m"
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what"},
        {"type": "image_url", "image_url": {"url": "data:x"}},
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("value", "param", "code"),
    [
        ([{"type": "telepathy"}], "input.0.type", "unknown_item_type"),
        ([{"role": "user", "content": [{"type": "video"}]}], "input.0.content.0.type", "unknown_part_type"),
        ([{"role": "wizard", "content": "x"}], "input.0.role", "invalid_value"),
        ([{"type": "function_call", "call_id": "c", "name": "f"}], "input.0.arguments", "invalid_value"),
    ],
)
def test_bad_items_name_their_field(value: list[dict[str, Any]], param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        input_items(value)
    assert (info.value.param, info.value.code) == (param, code)


def test_an_output_for_no_call_and_a_schema_that_is_not_an_object_are_400s() -> None:
    orphan = input_items([{"type": "function_call_output", "call_id": "nope", "output": "x"}])
    with pytest.raises(InvalidRequest) as info:
        chat_body(req(), orphan, "m")
    assert info.value.param == "input.0.call_id" and info.value.code == "unknown_call_id"
    bad_tool = {"type": "function", "name": "f", "parameters": {"type": "string"}}
    with pytest.raises(InvalidRequest) as info:
        chat_body(req(tools=[bad_tool]), input_items("hi"), "m")
    assert info.value.param == "tools.0.parameters"


def test_what_only_a_native_backend_serves_is_named() -> None:
    r = req(tools=[TOOL, {"type": "web_search"}], background=True)
    items = input_items(
        [
            {"type": "item_reference", "id": "x"},
            {"role": "user", "content": [{"type": "input_file", "file_id": "f"}]},
        ]
    )
    assert native_only(r, items) == [
        "background mode",
        "'item_reference' items (input.0)",
        "'input_file' parts (input.1)",
    ]
    assert native_only(req(tools=[TOOL]), input_items("hi")) == []


def test_built_in_tools_offered_are_hosted_and_required_ones_need_a_native_backend() -> None:
    offered = req(tools=[TOOL, {"type": "web_search"}, {"type": "file_search"}, {"type": "web_search"}])
    assert hosted_tools(offered) == ("web_search", "file_search")
    assert native_only(offered, input_items("hi")) == []
    # The chat form keeps the function tool only, and its tool_choice.
    chat = chat_body(offered, input_items("hi"), "m")
    assert [t["function"]["name"] for t in chat["tools"]] == ["weather"]
    required = req(tools=[TOOL, {"type": "web_search"}], tool_choice={"type": "web_search"})
    assert native_only(required, input_items("hi")) == ["tool_choice 'web_search'"]
    only_hosted = req(tools=[{"type": "web_search"}], tool_choice="required")
    assert native_only(only_hosted, input_items("hi")) == ["tool_choice 'required' with built-in tools only"]
    # With nothing left to choose from, the chat form has neither tools nor a tool_choice.
    auto = chat_body(req(tools=[{"type": "web_search"}], tool_choice="auto"), input_items("hi"), "m")
    assert "tools" not in auto and "tool_choice" not in auto
    assert hosted_tools(req(tools=[{"type": "bad\r\ntype"}])) == ("other",)


def test_a_chat_answer_becomes_a_response() -> None:
    r = req(max_output_tokens=5, metadata={"k": "v"})
    t = Translation("resp_1", echo(r, {"model": "auto"}), "auto")
    out = t.of_chat(chat_reply("hello there", model="small-model", finish="length"))
    assert out["id"] == "resp_1" and out["object"] == "response" and out["model"] == "small-model"
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["output"][0]["content"][0] == {
        "type": "output_text",
        "text": "hello there",
        "annotations": [],
        "logprobs": [],
    }
    assert out["usage"]["input_tokens"] == 5 and out["usage"]["output_tokens"] == 2
    assert out["metadata"] == {"k": "v"} and out["max_output_tokens"] == 5 and out["store"] is True
    calls = chat_reply("x")
    call = {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    calls["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    item = Translation("resp_2", echo(r, {}), "m").of_chat(calls)["output"][0]
    assert (item["type"], item["call_id"], item["name"], item["status"]) == (
        "function_call",
        "call_9",
        "weather",
        "completed",
    )


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block.strip():
            name, data = block.split(b"\n")
            event = json.loads(data.removeprefix(b"data: "))
            assert name == b"event: " + event["type"].encode()
            out.append(event)
    return out


def test_a_chat_stream_becomes_the_event_sequence_the_sdk_expects() -> None:
    t = Translation("resp_s", echo(req(), {}), "m")
    chunks = chat_chunks("one two", usage=True)
    # Any split: reads need not end at event boundaries.
    raw = t.started() + b"".join(t.feed(c[i : i + 7]) for c in chunks for i in range(0, len(c), 7))
    got = events(raw)
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    assert "".join(e["delta"] for e in got if e["type"] == "response.output_text.delta") == "one two"
    assert got[-1]["response"]["output"][0]["content"][0]["text"] == "one two"
    assert got[-1]["response"]["usage"]["output_tokens"] == 2
    assert {e["response"]["id"] for e in got if "response" in e} == {"resp_s"}
    assert t.final is not None and t.final["status"] == "completed"
    failed = events(t.failed({"error": {"code": "stream_interrupted", "message": "gone"}}))[0]
    assert failed["type"] == "response.failed" and failed["response"]["error"]["code"] == "stream_interrupted"


def test_a_native_answer_gets_the_gateways_ids() -> None:
    tap = NativeTap("resp_mine", {"previous_response_id": "resp_prev", "store": True})
    upstream = {
        "id": "resp_theirs",
        "object": "response",
        "store": False,
        "previous_response_id": None,
        "output": [],
    }
    assert tap.of_reply(upstream)["id"] == "resp_mine"
    kinds = ("response.created", "response.completed")
    bodies = [{"type": kind, "sequence_number": i, "response": upstream} for i, kind in enumerate(kinds)]
    stream = b"".join(f"event: {b['type']}\ndata: {json.dumps(b)}\n\n".encode() for b in bodies)
    got = events(b"".join(tap.feed(stream[i : i + 11]) for i in range(0, len(stream), 11)))
    assert [e["response"]["id"] for e in got] == ["resp_mine", "resp_mine"]
    assert got[0]["response"]["previous_response_id"] == "resp_prev" and got[0]["response"]["store"] is True
    assert tap.final is not None and tap.final["id"] == "resp_mine"
