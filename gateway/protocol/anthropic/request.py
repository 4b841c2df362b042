"""An Anthropic Messages API request: its wire model, and its messages and tools checked block by block.

Validation guards what the translation relies on and names the offending field as Anthropic does
(`messages.1.content.0.type`); every other field is allowed through (`extra="allow"`) and its fate
decided by the translation (to_chat.py), as docs/anthropic.md lists. Besides `user` and
`assistant`, a message may have the role `system` (Claude Code sends one after the first user turn,
with a message-level `output_config`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.errors import InvalidRequest
from gateway.protocol.openai import Wire
from gateway.protocol.tools import family

__all__ = ["CLIENT_TOOLS", "SERVER_TOOLS", "CountTokensRequest", "MessagesRequest", "check", "tool_kind"]

_ROLES = frozenset({"user", "assistant", "system"})
# Blocks a chat backend can be given (translated), and those of server tools (refused for it).
_BLOCKS = frozenset(
    {"text", "image", "document", "search_result", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)
_SERVER_BLOCKS = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
# Anthropic-defined tools the client runs (the model knows their schema): translated to function tools.
CLIENT_TOOLS = ("bash", "text_editor", "computer", "memory")
# Anthropic's server tools (the provider runs them): hosted, dropped for a chat backend.
SERVER_TOOLS = (
    "web_search",
    "web_fetch",
    "code_execution",
    "tool_search_tool_regex",
    "tool_search_tool_bm25",
)


def tool_kind(tool: dict[str, Any]) -> str:
    """`custom` (the client's own, with an input_schema), `client` (Anthropic-defined, run by the
    client: bash, text editor, computer use, memory) or `server` (run by the provider)."""
    kind = tool.get("type")
    if kind in (None, "custom"):
        return "custom"
    return "client" if family(str(kind)) in CLIENT_TOOLS else "server"


class _Common(Wire):
    model: str = Field(min_length=1, max_length=256)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    mcp_servers: list[dict[str, Any]] | None = None


class MessagesRequest(_Common):
    """POST /v1/messages: what the gateway validates; the rest passes to the translation."""

    max_tokens: int = Field(ge=1)
    metadata: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)


class CountTokensRequest(_Common):
    """POST /v1/messages/count_tokens: a request without the answer's parameters."""


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _text(block: dict[str, Any], where: str) -> None:
    if not isinstance(block.get("text"), str):
        raise _bad("A text block needs a string `text`.", f"{where}.text")


def _source(block: dict[str, Any], where: str) -> None:
    source = block.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("type"), str):
        raise _bad(f"An {block['type']} block needs a `source` object with a `type`.", f"{where}.source")
    kind = source["type"]
    if kind == "base64" and not (
        isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str)
    ):
        raise _bad("A base64 source needs string `media_type` and `data`.", f"{where}.source")
    if kind == "url" and not isinstance(source.get("url"), str):
        raise _bad("A url source needs a string `url`.", f"{where}.source.url")


def _blocks(content: Any, where: str, allowed: frozenset[str]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad("`content` must be a string or a list of content blocks.", where)
    for j, block in enumerate(content):
        at = f"{where}.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed:
            raise _bad(f"Unknown content block type '{kind}'.", f"{at}.type")
        assert isinstance(block, dict)
        if kind == "text":
            _text(block, at)
        elif kind in ("image", "document"):
            _source(block, at)
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise _bad("A tool_use block needs a string `id` and `name`.", at)
            if not isinstance(block.get("input"), dict):
                raise _bad("A tool_use block's `input` must be an object.", f"{at}.input")
        elif kind == "tool_result":
            if not isinstance(block.get("tool_use_id"), str):
                raise _bad("A tool_result block needs a string `tool_use_id`.", f"{at}.tool_use_id")
            if "content" in block and block["content"] is not None:
                inner = _BLOCKS | {"tool_reference"}
                _blocks(block["content"], f"{at}.content", inner - {"tool_use", "tool_result"})


def check(req: MessagesRequest | CountTokensRequest) -> None:
    """Every message's role and blocks, and every tool's shape; a 400 naming the field otherwise."""
    for i, message in enumerate(req.messages):
        where = f"messages.{i}"
        if message.get("role") not in _ROLES:
            raise _bad("`role` must be 'user', 'assistant' or 'system'.", f"{where}.role")
        if "content" not in message:
            raise _bad("A message needs `content`.", f"{where}.content")
        _blocks(message["content"], f"{where}.content", _BLOCKS | _SERVER_BLOCKS | {"tool_reference"})
    if isinstance(req.system, list):
        for j, block in enumerate(req.system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _bad("`system` blocks must be text blocks.", f"system.{j}.type")
            _text(block, f"system.{j}")
    for i, tool in enumerate(req.tools or []):
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _bad("A tool needs a `name`.", f"tools.{i}.name")
        if tool_kind(tool) == "custom":
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type", "object") != "object":
                raise _bad("A tool's `input_schema` must be a JSON schema object.", f"tools.{i}.input_schema")
    choice = req.tool_choice
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _bad("`tool_choice.type` must be 'auto', 'any', 'tool' or 'none'.", "tool_choice.type")
    if choice is not None and choice.get("type") == "tool" and not isinstance(choice.get("name"), str):
        raise _bad("`tool_choice` of type 'tool' needs the tool's `name`.", "tool_choice.name")
