"""What the fake upstream answers when tools are offered, and its native Responses API.

A request that offers tools and whose conversation does not end with a tool's result gets a call to
the first tool (arguments from the fake's `tool_arguments`); one that ends with a tool's result gets
text quoting it. The native /v1/responses answers the same way, as a Response or as its events,
under the upstream's own ids: the gateway must replace them with its own. Its SSE framing is
written here, independently of the gateway's.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

__all__ = [
    "chat_deltas",
    "chat_tool_call",
    "compaction_object",
    "last_tool_output",
    "responses_events",
    "responses_object",
]

_ids = itertools.count(1)
_USAGE = {
    "input_tokens": 7,
    "output_tokens": 3,
    "total_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}


def _tool_name(tools: list[dict[str, Any]], wanted: str | None = None) -> str | None:
    """The tool the fake calls: `wanted` when the request offers it, else the first one."""
    names = []
    for t in tools:
        fn = t.get("function") if t.get("type") == "function" and "function" in t else t
        if isinstance(fn, dict) and fn.get("name"):
            names.append(str(fn["name"]))
    if wanted is not None and wanted in names:
        return wanted
    return names[0] if names else None


def last_tool_output(body: dict[str, Any]) -> str | None:
    """The tool result the conversation ends with, if it does (chat or Responses input); in chat, user
    turns after it (a client's reminders beside the result) still count as ending with it."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role == "tool":
                return str(m.get("content"))
            if role != "user":
                break
    items = body.get("input")
    if isinstance(items, list) and items and items[-1].get("type") == "function_call_output":
        return str(items[-1].get("output"))
    return None


def chat_tool_call(body: dict[str, Any], arguments: str, wanted: str | None = None) -> dict[str, Any] | None:
    name = _tool_name(body.get("tools") or [], wanted)
    if name is None or last_tool_output(body) is not None:
        return None
    return {
        "id": f"call_fake{next(_ids)}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def chat_deltas(
    body: dict[str, Any], words: list[str], arguments: str, wanted: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """A chat stream's deltas: the role, then the tool call in two halves, or the words; its finish."""
    parts: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    call = chat_tool_call(body, arguments, wanted)
    if call is None:
        return parts + [{"content": (" " if i else "") + w} for i, w in enumerate(words)], "stop"
    fn, half = call["function"], len(arguments) // 2
    head = {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {**fn, "arguments": arguments[:half]},
    }
    tail = {"index": 0, "function": {"arguments": arguments[half:]}}
    return [*parts, {"tool_calls": [head]}, {"tool_calls": [tail]}], "tool_calls"


def _output(body: dict[str, Any], reply: str, arguments: str) -> list[dict[str, Any]]:
    name = _tool_name(body.get("tools") or [])
    result = last_tool_output(body)
    if name is not None and result is None:
        n = next(_ids)
        return [
            {"type": "function_call", "id": f"fc_up{n}", "call_id": f"call_up{n}", "name": name,
             "arguments": arguments, "status": "completed"}
        ]  # fmt: skip
    text = reply if result is None else f"{reply} (the tool said: {result})"
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return [{"type": "message", "id": f"msg_up{next(_ids)}", "status": "completed", "role": "assistant",
             "content": content}]  # fmt: skip


def responses_object(body: dict[str, Any], model: str, reply: str, arguments: str) -> dict[str, Any]:
    output = _output(body, reply, arguments)
    return {
        "id": f"resp_upstream{next(_ids)}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": output,
        "usage": _USAGE,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": body.get("tools") or [],
        "store": body.get("store", True), "previous_response_id": body.get("previous_response_id"),
    }  # fmt: skip


def responses_events(body: dict[str, Any], model: str, reply: str, arguments: str) -> list[bytes]:
    final = responses_object(body, model, reply, arguments)
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for i, item in enumerate(final["output"]):
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": i,
                "item": {**item, "status": "in_progress"},
            }
        )
        if item["type"] == "message":
            text = item["content"][0]["text"]
            where = {"item_id": item["id"], "output_index": i, "content_index": 0}
            events.append({"type": "response.content_part.added", **where,
                           "part": {"type": "output_text", "text": "", "annotations": []}})  # fmt: skip
            for word in text.split(" "):
                events.append(
                    {"type": "response.output_text.delta", **where, "delta": word + " ", "logprobs": []}
                )
            events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **where, "part": item["content"][0]})
        else:
            events.append({"type": "response.function_call_arguments.done", "item_id": item["id"],
                           "output_index": i, "arguments": item["arguments"]})  # fmt: skip
        events.append({"type": "response.output_item.done", "output_index": i, "item": item})
    events.append({"type": "response.completed", "response": final})
    out = []
    for seq, e in enumerate(events):
        e["sequence_number"] = seq
        out.append(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode())
    return out


def compaction_object(body: dict[str, Any]) -> dict[str, Any]:
    """A native /v1/responses/compact answer: the user messages, then one opaque compaction item."""
    items = body.get("input")
    users = (
        [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
        if isinstance(items, list)
        else []
    )
    return {
        "id": f"resp_upcompact{next(_ids)}",
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [
            *users,
            {"type": "compaction", "id": f"cmp_up{next(_ids)}", "encrypted_content": "opaque-up"},
        ],
        "usage": _USAGE,
    }
