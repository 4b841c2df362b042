"""A Responses API request: its wire model, and its `input` as normalized items.

Items are kept as OpenAI spells them (dicts), normalized so that downstream code sees one shape: a
string input becomes one user message, every message has a `type` and a list of content parts.
Built-in (hosted) tools the request offers are collected by `hosted_tools`: a chat backend goes
without them (the tool rule, protocol/tools.py). Features only a backend that speaks the Responses API
natively can serve (a `tool_choice` that requires a built-in tool, background mode, file inputs,
items of other tools) are collected as `native_only` rather than refused here: a route may have such
a backend, and which backend answers is decided later.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.errors import InvalidRequest
from gateway.protocol.openai import Wire
from gateway.protocol.responses.compaction import is_own, summary_of
from gateway.protocol.tools import hosted_types

__all__ = ["CHAT_TOOLS", "ResponsesRequest", "echo", "hosted_tools", "input_items", "native_only"]

# Item types a chat backend can be given (reasoning is dropped for it); the rest are other tools' items.
_TRANSLATABLE = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "reasoning",
    }
)
# Tool types a chat backend can be given, translated (tools.py); the rest run at the provider.
CHAT_TOOLS = frozenset({"function", "custom", "namespace"})
_NATIVE_ITEMS = frozenset(
    {
        "file_search_call",
        "web_search_call",
        "computer_call",
        "computer_call_output",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "tool_search_call",
        "tool_search_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "item_reference",
        "compaction",
        "compaction_trigger",  # Codex's remote compaction, when its provider is named "OpenAI"
    }
)
_ROLES = frozenset({"user", "system", "developer", "assistant"})
_PARTS = frozenset({"input_text", "output_text", "input_image", "refusal", "input_file", "input_audio"})


class ResponsesRequest(Wire):
    """What the gateway validates; every other field passes through to native backends."""

    model: str = Field(min_length=1, max_length=256)
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=256)
    store: bool | None = None
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    user: str | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    background: bool | None = None
    prompt_cache_key: str | None = Field(None, max_length=1024)
    prompt_cache_retention: str | None = Field(None, max_length=64)


def _bad(message: str, param: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise _bad("A message's content must be a string or a list of parts.", param)
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in _PARTS:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise _bad(f"Unknown content part type '{kind}'.", f"{param}.{j}.type", "unknown_part_type")
        if part["type"] in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _bad("A text part needs a string `text`.", f"{param}.{j}.text")
    return content


def input_items(value: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The request's input as items, validated (param paths name the offending field)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    items = []
    for i, raw in enumerate(value):
        where = f"input.{i}"
        kind = raw.get("type", "message" if "role" in raw else None)
        if kind == "message":
            if raw.get("role") not in _ROLES:
                raise _bad(f"Unknown role '{raw.get('role')}'.", f"{where}.role")
            items.append(
                {**raw, "type": "message", "content": _parts(raw.get("content"), f"{where}.content")}
            )
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(raw.get(key), str):
                    raise _bad(f"A function_call item needs a string `{key}`.", f"{where}.{key}")
            items.append(raw)
        elif kind == "custom_tool_call":
            for key in ("call_id", "name", "input"):
                if not isinstance(raw.get(key), str):
                    raise _bad(f"A custom_tool_call item needs a string `{key}`.", f"{where}.{key}")
            items.append(raw)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not isinstance(raw.get("call_id"), str):
                raise _bad(f"A {kind} item needs a string `call_id`.", f"{where}.call_id")
            if not isinstance(raw.get("output"), str | list):
                raise _bad(f"A {kind}'s `output` must be a string or parts.", f"{where}.output")
            items.append(raw)
        elif kind == "compaction" and is_own(raw):
            summary_of(raw, where)  # the gateway's own: readable here, or a clear 400
            items.append(raw)
        elif kind in _TRANSLATABLE or kind in _NATIVE_ITEMS:
            items.append(raw)
        else:
            raise _bad(f"Unknown input item type '{kind}'.", f"{where}.type", "unknown_item_type")
    return items


def hosted_tools(req: ResponsesRequest) -> tuple[str, ...]:
    """The built-in (hosted) tools the request offers, by type: every tool a chat model cannot be given
    (function, custom and namespace tools are translated: tools.py). `tool_search` is one: a chat model
    has no deferred tools to search, so it goes without it like any hosted tool."""
    return hosted_types(str(t.get("type")) for t in req.tools or [] if t.get("type") not in CHAT_TOOLS)


def native_only(req: ResponsesRequest, items: list[dict[str, Any]]) -> list[str]:
    """What of this request only a backend speaking the Responses API natively can serve, by name.

    Built-in tools merely offered are not in it (a chat backend goes without them: `hosted_tools`);
    a `tool_choice` that requires one is."""
    found = []
    if req.background:
        found.append("background mode")
    choice = req.tool_choice
    if isinstance(choice, dict) and choice.get("type") not in ("function", "custom", None):
        found.append(f"tool_choice '{choice.get('type')}'")
    elif choice == "required" and req.tools and all(t.get("type") not in CHAT_TOOLS for t in req.tools):
        found.append("tool_choice 'required' with built-in tools only")
    for i, item in enumerate(items):
        kind = item.get("type")
        if kind in _NATIVE_ITEMS and not is_own(item):
            found.append(f"'{kind}' items (input.{i})")
        elif kind == "message":
            kinds = {p.get("type") for p in item["content"]}
            for part in ("input_file", "input_audio"):
                if part in kinds:
                    found.append(f"'{part}' parts (input.{i})")
            if any(p.get("type") == "input_image" and not p.get("image_url") for p in item["content"]):
                found.append(f"images by file_id (input.{i})")
    return found


def echo(req: ResponsesRequest, raw: dict[str, Any]) -> dict[str, Any]:
    """The request fields every Response object repeats back."""
    return {
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "metadata": req.metadata or {},
        "parallel_tool_calls": req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        "previous_response_id": req.previous_response_id,
        "reasoning": req.reasoning or {"effort": None, "summary": None},
        "store": req.store is not False,
        "temperature": req.temperature,
        "text": req.text or {"format": {"type": "text"}},
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": raw.get("tools") or [],
        "top_p": req.top_p,
        "truncation": raw.get("truncation") or "disabled",
        "user": req.user,
    }
