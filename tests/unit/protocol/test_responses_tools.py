"""The tools Codex offers, as a chat backend gets them and back: namespaces flattened and their calls
returned with their `namespace`, custom (grammar) tools as a string argument and returned as
custom_tool_call, streamed and not; prompt_cache_key passed on; the gateway's compaction items read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.protocol.responses import (
    ChatTools,
    ResponsesRequest,
    Translation,
    chat_body,
    echo,
    hosted_tools,
    input_items,
    native_items,
    native_only,
)
from gateway.protocol.responses.compaction import compacted, compaction_item, summary_of

EXEC = {
    "type": "function",
    "name": "exec_command",
    "description": "Run a command",
    "strict": False,
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
}
AGENTS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "close_agent",
            "description": "Close one",
            "parameters": {"type": "object"},
        },
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}},
    ],
}
PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"},
}
CODEX_TOOLS = [EXEC, AGENTS, PATCH, {"type": "web_search", "external_web_access": True}]


def req(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "auto", **fields})


def events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(b.split(b"data: ", 1)[1]) for b in raw.split(b"\n\n") if b.strip()]


def test_codex_tools_as_chat_functions() -> None:
    tools = ChatTools(CODEX_TOOLS)
    names = [t["function"]["name"] for t in tools.chat]
    assert names == [
        "exec_command",
        "multi_agent_v1__close_agent",
        "multi_agent_v1__spawn_agent",
        "apply_patch",
    ]
    close = tools.chat[1]["function"]
    assert close["description"] == "Tools for spawning and managing sub-agents.\n\nClose one"
    patch = tools.chat[3]["function"]
    assert patch["parameters"]["required"] == ["input"]
    assert "lark grammar:\nstart: begin_patch hunk+ end_patch" in patch["description"]
    assert tools.other == [{"type": "web_search", "external_web_access": True}]
    # Hosted tools are the tool rule's (dropped for chat); namespace and custom tools are translated.
    r = req(tools=[*CODEX_TOOLS, {"type": "tool_search", "execution": "client"}])
    assert native_only(r, input_items("hi")) == []
    assert hosted_tools(r) == ("web_search", "tool_search")
    required = req(tools=[{"type": "web_search"}], tool_choice="required")
    assert native_only(required, input_items("hi")) == ["tool_choice 'required' with built-in tools only"]
    assert native_only(req(tools=[PATCH], tool_choice="required"), input_items("hi")) == []


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{"type": "namespace", "tools": []}], "tools.0.name"),
        ([{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}], "tools.0.tools.0.type"),
        ([{"type": "custom"}], "tools.0.name"),
    ],
)
def test_malformed_tools_name_their_field(tools: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        ChatTools(tools)
    assert info.value.param == param


def test_flat_names_stay_valid_and_unique() -> None:
    long_ns = {"type": "namespace", "name": "n" * 60, "tools": [{"type": "function", "name": "do.it"}]}
    clash = {"type": "namespace", "name": "a", "tools": [{"type": "function", "name": "b"}]}
    tools = ChatTools([{"type": "function", "name": "a__b"}, clash, long_ns])
    flat = [t["function"]["name"] for t in tools.chat]
    assert len(set(flat)) == 3 and all(len(n) <= 64 and "." not in n for n in flat)
    assert tools.origin(flat[1]).namespace == "a" and tools.origin(flat[1]).name == "b"
    assert tools.origin(flat[2]).name == "do.it"
    assert tools.origin("a__b").namespace is None  # the top-level function keeps its own name


def test_history_calls_and_tool_choice_use_the_chat_names() -> None:
    items = input_items(
        [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "close_agent", "namespace": "multi_agent_v1",
             "arguments": "{}"},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "function_call_output", "call_id": "c1", "output": "closed"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done!"},
        ]
    )  # fmt: skip
    body = chat_body(
        req(tools=CODEX_TOOLS, tool_choice={"type": "custom", "name": "apply_patch"}), items, "m"
    )
    calls = body["messages"][1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["multi_agent_v1__close_agent", "apply_patch"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"input": "*** Begin Patch"}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "tool"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}


def test_a_chat_answer_maps_back_to_namespaced_and_custom_calls() -> None:
    tools = ChatTools(CODEX_TOOLS)
    chat = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "k1", "type": "function",
                         "function": {"name": "multi_agent_v1__close_agent", "arguments": '{"id":"a"}'}},
                        {"id": "k2", "type": "function",
                         "function": {"name": "apply_patch", "arguments": '{"input":"*** Begin Patch\\n"}'}},
                        {"id": "k3", "type": "function",
                         "function": {"name": "exec_command", "arguments": "{}"}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }  # fmt: skip
    out = Translation("resp_1", echo(req(), {}), "m", tools).of_chat(chat)["output"]
    assert out[0]["type"] == "function_call" and out[0]["name"] == "close_agent"
    assert out[0]["namespace"] == "multi_agent_v1" and out[0]["call_id"] == "k1"
    assert out[1] == {
        **out[1],
        "type": "custom_tool_call",
        "name": "apply_patch",
        "input": "*** Begin Patch\n",
    }
    assert out[1]["id"].startswith("ctc_") and "namespace" not in out[1]
    assert out[2]["name"] == "exec_command" and "namespace" not in out[2]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_streamed_calls_map_back_too() -> None:
    tools = ChatTools(CODEX_TOOLS)
    t = Translation("resp_s", echo(req(), {}), "m", tools)
    call = {"index": 0, "id": "k1", "type": "function", "function": {"name": "multi_agent_v1__close_agent",
                                                                      "arguments": '{"id"'}}  # fmt: skip
    patch = {
        "index": 1,
        "id": "k2",
        "type": "function",
        "function": {"name": "apply_patch", "arguments": '{"inp'},
    }
    chunks = [
        _chunk({"role": "assistant", "tool_calls": [call]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ':"a"}'}}]}),
        _chunk({"tool_calls": [patch]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": 'ut":"x y"}'}}]}),
        _chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    got = events(t.started() + b"".join(t.feed(c) for c in chunks))
    added = [e["item"] for e in got if e["type"] == "response.output_item.added"]
    assert added[0]["namespace"] == "multi_agent_v1" and added[0]["name"] == "close_agent"
    assert added[1]["type"] == "custom_tool_call" and added[1]["input"] == ""
    args = "".join(e["delta"] for e in got if e["type"] == "response.function_call_arguments.delta")
    assert args == '{"id":"a"}'
    done = next(e for e in got if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == "x y" and done["output_index"] == 1
    final = got[-1]["response"]["output"]
    assert final[0]["namespace"] == "multi_agent_v1" and final[1]["input"] == "x y"
    assert [e["sequence_number"] for e in got] == list(range(len(got)))


def test_prompt_cache_fields_pass_to_chat() -> None:
    body = chat_body(req(prompt_cache_key="thread-1", prompt_cache_retention="24h"), input_items("hi"), "m")
    assert body["prompt_cache_key"] == "thread-1" and body["prompt_cache_retention"] == "24h"
    assert "prompt_cache_key" not in chat_body(req(), input_items("hi"), "m")


def test_the_gateways_compaction_item_reads_back_anywhere() -> None:
    conversation = input_items(
        [{"role": "user", "content": "fix the bug"}, {"role": "assistant", "content": "ok"}]
    )
    out = compacted("resp_c", conversation, "The user wants the bug fixed.", None)["output"]
    assert [i.get("role") or i["type"] for i in out] == ["user", "compaction"]
    assert out[1]["encrypted_content"].startswith("gwc1.")
    # The next request, on any replica: the items alone carry the summary.
    nxt = input_items([*out, {"role": "user", "content": "and now?"}])
    assert native_only(req(), nxt) == []
    messages = chat_body(req(), nxt, "m")["messages"]
    assert messages[1] == {
        "role": "user",
        "content": "The earlier conversation was compacted. Its summary:\n\nThe user wants the bug fixed.",
    }
    assert native_items(nxt)[1]["type"] == "message"
    # A native backend's own compaction items stay native-only; a forged gateway item is a 400.
    theirs = {"type": "compaction", "id": "cmp_x", "encrypted_content": "gAAAA..."}
    assert native_only(req(), input_items([theirs])) == ["'compaction' items (input.0)"]
    with pytest.raises(InvalidRequest) as info:
        input_items([{**compaction_item("x"), "encrypted_content": "gwc1.!!!"}])
    assert info.value.code == "invalid_compaction" and info.value.param == "input.0.encrypted_content"
    assert summary_of(compaction_item("sum")) == "sum"


def test_codex_sessions_are_read_from_its_header_or_its_prompt_cache_key() -> None:
    from gateway.protocol.session import session_of

    assert session_of({"session-id": "019a-thread"}, {"prompt_cache_key": "019a-thread"}) == "019a-thread"
    assert session_of({}, {"prompt_cache_key": "019b"}) == "019b"  # a socket's turn: the body only
    assert session_of({"x-session-id": "s-1", "session-id": "c-2"}, {}) == "s-1"
