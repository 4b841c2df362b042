"""Response objects as the Responses API returns them, built from what a chat backend answered."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from gateway.protocol.responses.tools import ChatTools, custom_input

if TYPE_CHECKING:
    pass

__all__ = ["call_item", "new_id", "output_of_chat", "response_object", "usage_of_chat"]

_NO_TOOLS = ChatTools(None)


def new_id(prefix: str) -> str:
    """The gateway's own ids (resp_, msg_, fc_), whatever the backend that answered."""
    return f"{prefix}_{secrets.token_hex(24)}"


def usage_of_chat(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def message_item(text: str, status: str = "completed", item_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_item(call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def call_item(
    call_id: str, flat: str, arguments: str, tools: ChatTools, status: str = "completed"
) -> dict[str, Any]:
    """A chat model's call of `flat` as the item the client offered: a function_call (with its
    namespace, when it has one) or a custom_tool_call with the text input."""
    origin = tools.origin(flat)
    if origin.kind == "custom":
        item = {
            "type": "custom_tool_call",
            "id": new_id("ctc"),
            "call_id": call_id,
            "name": origin.name,
            "input": custom_input(arguments) if arguments else "",
            "status": status,
        }
    else:
        item = function_item(call_id, origin.name, arguments, status)
    if origin.namespace is not None:
        item["namespace"] = origin.namespace
    return item


def output_of_chat(
    chat: dict[str, Any], tools: ChatTools = _NO_TOOLS
) -> tuple[list[dict[str, Any]], str | None]:
    """A chat completion's first choice as output items, and its finish reason."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    items: list[dict[str, Any]] = []
    if message.get("content"):
        items.append(message_item(str(message["content"])))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        items.append(
            call_item(call.get("id") or new_id("call"), fn.get("name", ""), fn.get("arguments", ""), tools)
        )
    return items, choice.get("finish_reason")


def response_object(
    rid: str,
    echoed: dict[str, Any],
    *,
    model: str,
    created_at: float,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {
        "id": rid,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "usage": usage,
        **echoed,
    }
