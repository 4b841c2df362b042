"""A Messages request as a chat completion request, for backends that speak only chat.

`system` (a string or text blocks) and the `system` messages inside `messages` become one leading
system message; user turns keep their text and images (base64 as data URLs, or URLs), text documents
and search results become text; `tool_result` blocks become `tool` messages (images they carry follow
in a user message), `tool_use` blocks an assistant message's `tool_calls` (ids kept); thinking blocks
are dropped (a chat model cannot continue signed thinking). Custom tools become function tools
(deferred ones only once a `tool_reference` loads them), Anthropic's client tools (bash, text editor,
computer, memory) function tools with their published schemas, and server tools are hosted tools the
chat backend goes without (the tool rule, protocol/tools.py). docs/anthropic.md lists every field.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gateway.errors import InvalidRequest
from gateway.protocol.anthropic.request import CountTokensRequest, MessagesRequest, tool_kind
from gateway.protocol.anthropic.tools import client_tool
from gateway.protocol.tools import hosted_types

__all__ = ["BILLING_PREFIX", "ChatForm", "chat_body"]

_encode = msgspec.json.Encoder().encode
# Claude Code's first system block: a per-prompt fingerprint for Anthropic's billing. Harmless to
# drop, and dropping it keeps the prompt's prefix the same from one request to the next, which is
# what backends' prefix caches match on.
BILLING_PREFIX = "x-anthropic-billing-header:"


@dataclass(slots=True)
class ChatForm:
    body: dict[str, Any]
    hosted: tuple[str, ...] = ()  # server tools offered (dropped)
    needs: list[str] = field(default_factory=list)  # what only a native backend could serve


def _refuse(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="unsupported_feature")


def _text_of(blocks: Any) -> str:
    if isinstance(blocks, str):
        return blocks
    return "\n\n".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")


def _image(block: dict[str, Any], param: str) -> dict[str, Any]:
    source = block["source"]
    if source["type"] == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif source["type"] == "url":
        url = source["url"]
    else:
        raise _refuse(
            f"Images by '{source['type']}' (an Anthropic file) cannot be sent to a chat backend.", param
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: dict[str, Any], param: str) -> str:
    source = block["source"]
    kind, media = source.get("type"), source.get("media_type")
    if kind == "text" and isinstance(source.get("data"), str):
        text = source["data"]
    elif kind == "content" and isinstance(source.get("content"), str | list):
        text = _text_of(source["content"])
    elif kind == "base64" and media == "text/plain":
        try:
            text = base64.b64decode(source["data"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest("A text/plain document's `data` is not base64 UTF-8.", param=param) from None
    else:
        raise _refuse(
            f"Documents of type '{media or kind}' (PDFs, files) need a backend that reads them; chat "
            "backends take text documents only.",
            param,
        )
    title = block.get("title")
    return f"{title}\n\n{text}" if isinstance(title, str) and title else text


def _search_result(block: dict[str, Any]) -> str:
    head = " — ".join(str(block[k]) for k in ("title", "source") if block.get(k))
    return "\n\n".join(p for p in (head, _text_of(block.get("content") or [])) if p)


@dataclass(slots=True)
class _Turns:
    """The chat messages being built, and the deferred tools the conversation loaded."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)

    def user(self, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if all(p["type"] == "text" for p in parts):
            self.messages.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            self.messages.append({"role": "user", "content": parts})


def _tool_result(block: dict[str, Any], where: str, turns: _Turns) -> list[dict[str, Any]]:
    """The tool message for a tool_result, and the images it returned (they follow as a user turn)."""
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for j, inner in enumerate(content if isinstance(content, list) else []):
        kind = inner.get("type")
        if kind == "text":
            texts.append(inner["text"])
        elif kind == "image":
            images.append(_image(inner, f"{where}.content.{j}"))
        elif kind == "document":
            texts.append(_document(inner, f"{where}.content.{j}"))
        elif kind == "search_result":
            texts.append(_search_result(inner))
        elif kind == "tool_reference" and isinstance(inner.get("tool_name"), str):
            turns.loaded.add(inner["tool_name"])
            texts.append(f"Tool '{inner['tool_name']}' loaded.")
    text = content if isinstance(content, str) else "\n\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"  # chat has no error flag: the text says it
    turns.messages.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
    if images:
        note = {"type": "text", "text": f"(the image(s) the tool call {block['tool_use_id']} returned)"}
        return [note, *images]
    return []


def _user(content: Any, where: str, turns: _Turns) -> None:
    if isinstance(content, str):
        turns.user([{"type": "text", "text": content}] if content else [])
        return
    parts: list[dict[str, Any]] = []
    returned: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at, kind = f"{where}.{j}", block["type"]
        if kind == "tool_result":
            returned += _tool_result(block, at, turns)
        elif kind == "text":
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "document":
            parts.append({"type": "text", "text": _document(block, at)})
        elif kind == "search_result":
            parts.append({"type": "text", "text": _search_result(block)})
        elif kind not in ("thinking", "redacted_thinking"):
            raise _refuse(
                f"'{kind}' blocks come from server tools, which chat backends do not run.", f"{at}.type"
            )
    turns.user(returned + parts)


def _assistant(content: Any, where: str, turns: _Turns) -> None:
    if isinstance(content, str):
        turns.messages.append({"role": "assistant", "content": content})
        return
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = _encode(block["input"]).decode()
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": arguments},
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            raise _refuse(
                f"'{kind}' blocks come from server tools, which chat backends do not run.",
                f"{where}.{j}.type",
            )
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    turns.messages.append(message)


def _system(req: MessagesRequest | CountTokensRequest) -> str:
    """The top-level system prompt and every system message of the conversation, in order."""
    parts: list[str] = []
    if isinstance(req.system, str):
        parts.append(req.system)
    elif req.system:
        parts += [b["text"] for b in req.system if not b["text"].startswith(BILLING_PREFIX)]
    for m in req.messages:
        if m.get("role") == "system":
            parts.append(_text_of(m.get("content") or []))
    return "\n\n".join(p for p in parts if p)


def _tools(req: MessagesRequest | CountTokensRequest, loaded: set[str], form: ChatForm) -> dict[str, str]:
    """The chat form's function tools; returns each tool's name → kind (custom, client, server)."""
    kinds: dict[str, str] = {}
    functions: list[dict[str, Any]] = []
    hosted: list[str] = []
    for tool in req.tools or []:
        kind, name = tool_kind(tool), tool["name"]
        kinds[name] = kind
        if kind == "server":
            hosted.append(str(tool.get("type")))
        elif kind == "client":
            functions.append({"type": "function", "function": client_tool(tool)})
        elif not tool.get("defer_loading") or name in loaded:
            fn = {"name": name, "parameters": tool["input_schema"]}
            if isinstance(tool.get("description"), str):
                fn["description"] = tool["description"]
            functions.append({"type": "function", "function": fn})
    if req.mcp_servers:
        hosted.append("mcp")  # the MCP connector: the provider calls those servers
    form.hosted = hosted_types(hosted)
    if functions:
        form.body["tools"] = functions
    return kinds


def _tool_choice(req: MessagesRequest | CountTokensRequest, kinds: dict[str, str], form: ChatForm) -> None:
    choice, body = req.tool_choice, form.body
    if choice is None:
        return
    kind = choice["type"]
    if kind == "tool":
        name = choice["name"]
        if kinds.get(name) == "server":
            form.needs.append(f"tool_choice naming the server tool '{name}'")
            return
        if name not in kinds:
            raise InvalidRequest(
                f"`tool_choice` names '{name}', which is not among `tools`.", param="tool_choice.name"
            )
    if "tools" not in body:
        if kind == "any" or kind == "tool":
            form.needs.append(f"tool_choice '{kind}' with server tools only")
        return
    if kind == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use") is True:
        body["parallel_tool_calls"] = False


def _format(req: MessagesRequest | CountTokensRequest) -> dict[str, Any] | None:
    raw = req.output_config.get("format") if isinstance(req.output_config, dict) else None
    extra = req.model_extra or {}
    raw = raw or extra.get("output_format")  # the structured-outputs beta's older spelling
    if not isinstance(raw, dict) or raw.get("type") != "json_schema":
        return None
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": raw.get("schema") or {}}}


def chat_body(req: MessagesRequest | CountTokensRequest) -> ChatForm:
    """The chat completion request for the same conversation, and what it goes without."""
    turns = _Turns()
    system = _system(req)
    if system:
        turns.messages.append({"role": "system", "content": system})
    for i, message in enumerate(req.messages):
        role, where = message["role"], f"messages.{i}.content"
        if role == "user":
            _user(message["content"], where, turns)
        elif role == "assistant":
            _assistant(message["content"], where, turns)
    form = ChatForm({"model": req.model, "messages": turns.messages})
    choice = req.tool_choice or {}
    if choice.get("type") == "tool":  # a deferred tool the request requires is loaded for it
        turns.loaded.add(str(choice.get("name")))
    kinds = _tools(req, turns.loaded, form)
    _tool_choice(req, kinds, form)
    fmt = _format(req)
    if fmt is not None:
        form.body["response_format"] = fmt
    if isinstance(req, MessagesRequest):
        body = form.body
        body["max_tokens"] = req.max_tokens
        if req.stop_sequences:
            body["stop"] = req.stop_sequences
        for key in ("temperature", "top_p"):
            value = getattr(req, key)
            if value is not None:
                body[key] = value
        if req.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}  # message_delta carries the usage
    return form
