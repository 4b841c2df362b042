"""Anthropic's client tools as function tools: the tools Anthropic defines and the client runs
(`bash_*`, `text_editor_*`, `computer_*`, `memory_*`). The API gives the model their schemas itself;
a chat backend needs them spelled out, so they are given here as Anthropic documents them. The
model's calls come back as ordinary `tool_use` blocks with the tool's name, as from Anthropic.
"""

from __future__ import annotations

from typing import Any

from gateway.protocol.tools import family

__all__ = ["client_tool"]

_STR = {"type": "string"}
_INT = {"type": "integer"}
_RANGE = {"type": "array", "items": _INT, "description": "[start, end] lines; end -1 for the end"}

_SCHEMAS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "bash": (
        "Run a command in a persistent bash shell; `restart` restarts the shell.",
        {"command": {**_STR, "description": "The command to run"}, "restart": {"type": "boolean"}},
        [],
    ),
    "text_editor": (
        "View, create and edit files: view a file or directory, create a file, replace an exact "
        "string (`old_str` with `new_str`), insert text after a line.",
        {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {**_STR, "description": "Absolute path of the file or directory"},
            "file_text": _STR,
            "old_str": _STR,
            "new_str": _STR,
            "insert_line": _INT,
            "insert_text": _STR,
            "view_range": _RANGE,
        },
        ["command", "path"],
    ),
    "memory": (
        "A memory directory (/memories) that persists across conversations: view, create, edit, "
        "delete and rename its files.",
        {
            "command": {
                "type": "string",
                "enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
            },
            "path": _STR,
            "file_text": _STR,
            "old_str": _STR,
            "new_str": _STR,
            "insert_line": _INT,
            "insert_text": _STR,
            "old_path": _STR,
            "new_path": _STR,
            "view_range": _RANGE,
        },
        ["command"],
    ),
    "computer": (
        "Use the computer's mouse and keyboard and see its screen: screenshot, click, type, key, "
        "scroll, move the mouse.",
        {
            "action": {
                "type": "string",
                "enum": [
                    "screenshot",
                    "left_click",
                    "right_click",
                    "middle_click",
                    "double_click",
                    "triple_click",
                    "left_click_drag",
                    "mouse_move",
                    "type",
                    "key",
                    "scroll",
                    "hold_key",
                    "wait",
                    "cursor_position",
                ],
            },
            "coordinate": {"type": "array", "items": _INT, "description": "[x, y] in pixels"},
            "text": _STR,
            "scroll_direction": {"type": "string", "enum": ["up", "down", "left", "right"]},
            "scroll_amount": _INT,
            "duration": {"type": "number"},
        },
        ["action"],
    ),
}


def client_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """The chat `function` of an Anthropic client tool definition (its `type` is e.g. bash_20250124)."""
    kind = family(str(tool["type"]))
    description, properties, required = _SCHEMAS[kind]
    if kind == "computer" and tool.get("display_width_px") and tool.get("display_height_px"):
        description += f" The display is {tool['display_width_px']}x{tool['display_height_px']} pixels."
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"name": tool["name"], "description": description, "parameters": schema}
