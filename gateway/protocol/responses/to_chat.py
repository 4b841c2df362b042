"""A Responses request as a chat completion request, for backends that speak only chat.

Instructions become the first system message; message items become chat messages; function calls
become an assistant message's tool_calls and their outputs tool messages; reasoning items and
`include` are dropped (a chat model has neither); `text.format` becomes `response_format`;
`max_output_tokens` becomes `max_tokens`. `reasoning` is not sent: chat backends do not take it, and
built-in tools are left out (protocol/tools.py: the tool rule).
"""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest
from gateway.protocol.responses.request import ResponsesRequest, function_tools

__all__ = ["chat_body"]

# Sampling and identity fields with the same meaning on both APIs.
_SAME = ("temperature", "top_p", "user", "parallel_tool_calls")


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


def _messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
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
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            calls.add(item["call_id"])
            last = messages[-1] if messages else None
            # Parallel calls of one turn are one assistant message with several tool_calls.
            if (
                last is not None
                and last["role"] == "assistant"
                and items[i - 1]["type"] in ("function_call", "message")
            ):
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if item["call_id"] not in calls:
                raise InvalidRequest(
                    f"No function_call with call_id '{item['call_id']}' precedes this output.",
                    param=f"input.{i}.call_id",
                    code="unknown_call_id",
                )
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": _output(item["output"])}
            )
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


def _tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def chat_body(req: ResponsesRequest, items: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """The chat completion body for the same request (`items`: the whole conversation)."""
    body: dict[str, Any] = {"model": model, "messages": _messages(items, req.instructions)}
    tools = function_tools(req.tools)
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {k: t[k] for k in ("name", "description", "parameters", "strict") if k in t},
            }
            for t in tools
        ]
    choice = _tool_choice(req.tool_choice)
    # Built-in tools are left out: with none of its tools left, the request has no choice to make.
    if choice is not None and (tools or not req.tools):
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
