"""A Responses request as a chat completion request, for backends that speak only chat.

Instructions become the first system message; message items become chat messages; function and custom
tool calls become an assistant message's tool_calls (under their chat names, tools.py) and their
outputs tool messages; reasoning items and `include` are dropped (a chat model has neither);
`text.format` becomes `response_format`; `max_output_tokens` becomes `max_tokens`. `reasoning` is not
sent: chat backends do not take it, and built-in tools are left out (protocol/tools.py: the tool
rule). `prompt_cache_key` and `prompt_cache_retention` mean the same in chat (OpenAI takes both; vLLM
and llama.cpp's server ignore fields they lack; the embedded model reads neither), so they pass as they
are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.errors import InvalidRequest
from gateway.protocol.responses.compaction import summary_message
from gateway.protocol.responses.tools import ChatTools

if TYPE_CHECKING:
    from gateway.protocol.responses.request import ResponsesRequest

__all__ = ["chat_body"]

# Sampling, identity and caching fields with the same meaning on both APIs.
_SAME = ("temperature", "top_p", "user", "parallel_tool_calls", "prompt_cache_key", "prompt_cache_retention")
_CALLS = frozenset({"function_call", "custom_tool_call"})
_encode = msgspec.json.Encoder().encode


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text") or p.get("refusal") or "" for p in parts if p.get("type") != "input_image")


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Plain text when the parts are all text (what every chat template takes), else chat parts."""
    if all(p.get("type") != "input_image" for p in parts):
        return _text(parts)
    out: list[dict[str, Any]] = []
    for p in parts:
        if p.get("type") == "input_image":
            image = {"url": p.get("image_url")}
            if p.get("detail"):
                image["detail"] = p["detail"]
            out.append({"type": "image_url", "image_url": image})
        else:
            out.append({"type": "text", "text": p.get("text") or p.get("refusal") or ""})
    return out


def _output(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "".join(p.get("text", "") for p in value if isinstance(p, dict))


def _call(item: dict[str, Any], tools: ChatTools) -> dict[str, Any]:
    """A function or custom tool call from the history as a chat tool call."""
    if item["type"] == "custom_tool_call":
        arguments = _encode({"input": item["input"]}).decode()
    else:
        arguments = item["arguments"]
    name = tools.flat(item["name"], item.get("namespace"))
    return {"id": item["call_id"], "type": "function", "function": {"name": name, "arguments": arguments}}


def _messages(
    items: list[dict[str, Any]], instructions: str | None, tools: ChatTools
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    calls: set[str] = set()
    for i, item in enumerate(items):
        kind = item["type"]
        if kind == "message":
            # Many chat templates know no `developer` role: it means what `system` means there.
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _content(item["content"])})
        elif kind in _CALLS:
            call = _call(item, tools)
            calls.add(item["call_id"])
            last = messages[-1] if messages else None
            # Parallel calls of one turn are one assistant message with several tool_calls.
            if (
                last is not None
                and last["role"] == "assistant"
                and (items[i - 1]["type"] in _CALLS or items[i - 1]["type"] == "message")
            ):
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if item["call_id"] not in calls:
                raise InvalidRequest(
                    f"No tool call with call_id '{item['call_id']}' precedes this output.",
                    param=f"input.{i}.call_id",
                    code="unknown_call_id",
                )
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _output(item["output"])}
            )
        elif kind == "compaction":  # the gateway's own (a native backend's never reach chat)
            messages.append(summary_message(item))
        # reasoning: dropped, a chat model has none to continue from
    return messages


def _format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise InvalidRequest(
        f"Unknown text format '{fmt['type']}'.", param="text.format.type", code="invalid_value"
    )


def chat_body(
    req: ResponsesRequest, items: list[dict[str, Any]], model: str, tools: ChatTools | None = None
) -> dict[str, Any]:
    """The chat completion body for the same request (`items`: the whole conversation; `tools`: the
    request's tools translated, when the caller has them already)."""
    tools = tools or ChatTools(req.tools)
    body: dict[str, Any] = {"model": model, "messages": _messages(items, req.instructions, tools)}
    if tools.chat:
        body["tools"] = tools.chat
    choice = tools.choice(req.tool_choice)
    # Built-in tools are left out: with none of its tools left, the request has no choice to make.
    if choice is not None and (tools.chat or not req.tools):
        body["tool_choice"] = choice
    fmt = _format(req.text)
    if fmt is not None:
        body["response_format"] = fmt
    if req.max_output_tokens is not None:
        body["max_tokens"] = req.max_output_tokens
    for key in _SAME:
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the Responses stream ends with its usage
    return body
