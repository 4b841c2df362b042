"""Message objects as the Messages API returns them, built from what a chat backend answered."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import msgspec

__all__ = ["arguments", "message_of_chat", "new_id", "stop_reason", "tool_id", "usage_of_chat"]

_decode = msgspec.json.Decoder().decode
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def new_id(prefix: str = "msg") -> str:
    """The gateway's own ids (msg_, toolu_), whatever the backend that answered."""
    return f"{prefix}_{secrets.token_hex(12)}"


def tool_id(raw: Any) -> str:
    """A chat tool call's id as a tool_use id: kept when Anthropic's clients accept it (they send it
    back in `tool_result`, and it goes upstream again as the chat id), else made one of the same
    call every time, so that the round trip still matches."""
    if isinstance(raw, str) and _ID.match(raw):
        return raw
    if isinstance(raw, str) and raw:
        return "toolu_" + hashlib.sha256(raw.encode()).hexdigest()[:24]
    return new_id("toolu")


def arguments(raw: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as a tool_use `input` object ({} when it is none)."""
    if isinstance(raw, dict):
        return raw
    try:
        value = _decode(raw) if isinstance(raw, str | bytes) and raw else {}
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def stop_reason(choice: dict[str, Any], stop_sequences: list[str] | None) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) of a chat choice. A stop sequence is named when the backend says
    which one matched (vLLM's `stop_reason`); others end a match as `end_turn`."""
    finish = choice.get("finish_reason")
    matched = choice.get("stop_reason")
    if finish == "stop" and isinstance(matched, str) and stop_sequences and matched in stop_sequences:
        return "stop_sequence", matched
    return _STOP.get(str(finish), "end_turn"), None


def usage_of_chat(usage: Any) -> dict[str, int]:
    """Anthropic's usage from chat's: input tokens less those read from the backend's prompt cache
    (Anthropic counts those apart, as cache_read_input_tokens); no backend reports cache writes."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": completion,
    }


def message_of_chat(
    chat: dict[str, Any], rid: str, model: str, *, thinking: bool, stop_sequences: list[str] | None
) -> dict[str, Any]:
    """A chat completion's first choice as a Message: thinking (when the backend reasoned and the
    request shows thinking), text, then tool_use blocks."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if thinking and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tool_id(call.get("id")),
                "name": fn.get("name") or "",
                "input": arguments(fn.get("arguments")),
            }
        )
    reason, sequence = stop_reason(choice, stop_sequences)
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": str(chat.get("model") or model),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of_chat(chat.get("usage")),
    }
