"""A Responses request's tools as a chat backend can be given them, and the model's calls on the way back.

Chat has one kind of tool, a function with a flat name; the Responses API has more. Each kind's fate:

- `function`: passed as it is.
- `namespace` (a group of tools under one name, e.g. Codex's `multi_agent_v1`): flattened, each inner
  tool a chat function named `<namespace>__<name>`, the namespace's description before its own. The
  model's call comes back as the client offered it: a `function_call` whose `name` is the inner tool's
  and whose `namespace` is the group's, as the API defines (a dotted or joined name is refused by
  Codex: "unsupported call").
- `custom` (free-form input, e.g. Codex's `apply_patch` defined by a Lark grammar): translated, not
  dropped: it is how such a client edits files, and a chat model can produce the same text as the
  string argument `input` of a function (the grammar, when there is one, goes in its description).
  The call comes back as a `custom_tool_call` with that `input`, and its output goes back as a tool
  message.
- Anything else (hosted tools such as `web_search`, `tool_search`, MCP, ...): a chat model cannot be
  given it; `ChatTools.other` lists them for the tool rule to drop or refuse.

Flat names must be unique and valid chat function names (`^[A-Za-z0-9_-]{1,64}$`); a joined name that is
not gets a short digest instead, so the way back is a lookup in this request's own table, never a split.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from gateway.errors import InvalidRequest

__all__ = ["ChatTools", "Origin", "custom_input"]

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEP = "__"
_CUSTOM_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input, as free text."}},
    "required": ["input"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class Origin:
    """What a flat chat tool name stands for in the client's terms."""

    kind: Literal["function", "custom"]
    name: str
    namespace: str | None = None


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _flat(name: str, namespace: str | None) -> str:
    if namespace is None:
        return name
    joined = f"{namespace}{_SEP}{name}"
    if _VALID.match(joined):
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:50]
    return f"{stem}{_SEP}{digest}"


def custom_input(arguments: str) -> str:
    """A custom tool's input from the chat call's arguments: `{"input": ...}` as asked, or what the
    model wrote when it did not follow the schema (a bare JSON string, or plain text)."""
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        found: str = value["input"]
        return found
    return value if isinstance(value, str) else arguments


def _description(tool: dict[str, Any], group: str | None) -> str | None:
    text = tool.get("description")
    fmt = tool.get("format")
    if tool.get("type") == "custom" and isinstance(fmt, dict) and fmt.get("type") == "grammar":
        grammar = f"The input must follow this {fmt.get('syntax', '')} grammar:\n{fmt.get('definition', '')}"
        text = f"{text}\n\n{grammar}" if text else grammar
    if group:
        text = f"{group}\n\n{text}" if text else group
    return text if isinstance(text, str) else None


class ChatTools:
    """One request's tools, translated once: what chat gets, what it cannot, and the way back."""

    __slots__ = ("_flat", "_origins", "chat", "other")

    def __init__(self, tools: list[dict[str, Any]] | None) -> None:
        self.chat: list[dict[str, Any]] = []
        self.other: list[dict[str, Any]] = []  # tools no chat model can be given (the tool rule's)
        self._origins: dict[str, Origin] = {}
        self._flat: dict[tuple[str, str | None], str] = {}
        for i, tool in enumerate(tools or []):
            kind = tool.get("type")
            if kind in ("function", "custom"):
                self._add(tool, None, None, f"tools.{i}")
            elif kind == "namespace":
                self._namespace(tool, f"tools.{i}")
            else:
                self.other.append(tool)

    def _namespace(self, tool: dict[str, Any], param: str) -> None:
        name, inner = tool.get("name"), tool.get("tools")
        if not isinstance(name, str) or not name:
            raise _bad("A namespace tool needs a `name`.", f"{param}.name")
        if not isinstance(inner, list):
            raise _bad("A namespace tool needs a list of `tools`.", f"{param}.tools")
        group = tool.get("description") if isinstance(tool.get("description"), str) else None
        for j, t in enumerate(inner):
            if not isinstance(t, dict) or t.get("type") not in ("function", "custom"):
                raise _bad("A namespace holds function and custom tools only.", f"{param}.tools.{j}.type")
            self._add(t, name, group, f"{param}.tools.{j}")

    def _add(self, tool: dict[str, Any], namespace: str | None, group: str | None, param: str) -> None:
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"A {tool['type']} tool needs a `name`.", f"{param}.name")
        if tool["type"] == "function":
            params = tool.get("parameters")
            if params is not None and (
                not isinstance(params, dict) or params.get("type", "object") != "object"
            ):
                raise _bad(
                    "A function tool's `parameters` must be a JSON schema object.", f"{param}.parameters"
                )
        flat = _flat(name, namespace)
        if flat in self._origins:  # a namespaced name that clashes with another tool's: made unique
            flat = _flat(name, f"{namespace}#{len(self._origins)}")
        self._origins[flat] = Origin(tool["type"], name, namespace)
        self._flat[(name, namespace)] = flat
        fn: dict[str, Any] = {"name": flat}
        description = _description(tool, group)
        if description:
            fn["description"] = description
        if tool["type"] == "custom":
            fn["parameters"] = _CUSTOM_PARAMETERS
        else:
            fn.update({k: tool[k] for k in ("parameters", "strict") if k in tool})
        self.chat.append({"type": "function", "function": fn})

    def flat(self, name: str, namespace: str | None = None) -> str:
        """The chat name of a tool the client named (a call in the history, a tool_choice)."""
        return self._flat.get((name, namespace)) or _flat(name, namespace)

    def origin(self, flat: str) -> Origin:
        """What the model's call of `flat` is to the client (a name it did not offer: a function)."""
        return self._origins.get(flat) or Origin("function", flat)

    def choice(self, choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        """tool_choice in chat's terms: a named function or custom tool becomes its chat function."""
        if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
            flat = self.flat(str(choice.get("name")), choice.get("namespace"))
            return {"type": "function", "function": {"name": flat}}
        return choice
