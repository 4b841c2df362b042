"""The Messages API's rules for a request, as its documentation states them: what the fake Anthropic
upstream (testing/fake_anthropic.py) refuses with the API's 400, naming the field. Tests of the
gateway's translation to Messages check its output against them too."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["COUNTED", "Invalid", "check"]

_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# What the token-counting endpoint reads of a request; it refuses the rest (max_tokens, stream, ...).
COUNTED = {"messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management"}
_BLOCKS = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}


class Invalid(Exception):
    """A request the API would refuse: its message names the field."""


def _check_content(content: Any, where: str, role: str) -> None:
    if isinstance(content, str):
        if not content:
            raise Invalid(f"{where}: text content must be non-empty")
        return
    if not isinstance(content, list) or not content:
        raise Invalid(f"{where}: content must be a string or a non-empty list of blocks")
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCKS:
            raise Invalid(f"{where}.{j}.type: unknown block type {kind!r}")
        if kind == "text" and not block.get("text"):
            raise Invalid(f"{where}.{j}: text content blocks must be non-empty")
        if kind == "tool_use" and (role != "assistant" or not _ID.match(str(block.get("id")))):
            raise Invalid(f"{where}.{j}: tool_use needs an assistant turn and an id matching {_ID.pattern}")
        if kind == "tool_use" and not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.{j}.input: must be an object")
        if kind == "tool_result" and role != "user":
            raise Invalid(f"{where}.{j}: tool_result blocks belong in user turns")


def _ids(content: Any, kind: str, key: str) -> list[str]:
    blocks = content if isinstance(content, list) else []
    return [str(b.get(key)) for b in blocks if b.get("type") == kind]


def check(body: dict[str, Any]) -> None:
    """Refuses what the Messages API refuses (the rules tests of the translation meet)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Field required (an integer of at least 1)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise Invalid("system: must be a string or a list of text blocks")
    pending: list[str] = []  # the tool_use ids the last assistant turn asked for
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in ("user", "assistant", "system"):
            raise Invalid(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
        _check_content(content, f"messages.{i}.content", role)
        if role == "system":  # instructions between turns (the API of 2026): text only
            if isinstance(content, list) and any(b.get("type") != "text" for b in content):
                raise Invalid(f"messages.{i}.content: a system message holds text blocks only")
            continue
        results = _ids(content, "tool_result", "tool_use_id")
        if pending:
            if role != "user" or sorted(results) != sorted(pending):
                raise Invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(sorted(set(pending) - set(results)))}"
                )
            kinds = [b.get("type") for b in content]
            if kinds[: len(results)] != ["tool_result"] * len(results):
                raise Invalid(f"messages.{i}.content: tool_result blocks must come first")
        elif results:
            raise Invalid(f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks")
        pending = _ids(content, "tool_use", "id") if role == "assistant" else []
    names = []
    for j, tool in enumerate(body.get("tools") or []):
        if not _TOOL_NAME.match(str(tool.get("name"))):
            raise Invalid(f"tools.{j}.name: must match {_TOOL_NAME.pattern}")
        names.append(tool["name"])
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic's own tools (web search, bash, ...): their schemas are the API's
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{j}.input_schema.type: Field required ('object')")
    choice = body.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice.type: one of auto, any, tool, none")
        if choice.get("type") == "tool" and choice.get("name") not in names:
            raise Invalid("tool_choice.name: not among `tools`")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise Invalid("temperature: must be between 0 and 1")
    stop = body.get("stop_sequences")
    if stop is not None and not (
        isinstance(stop, list) and all(isinstance(s, str) and s.strip() for s in stop)
    ):
        raise Invalid("stop_sequences: a list of non-blank strings")
