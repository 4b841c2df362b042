"""What classify reads from a request: a structural type, so classify never imports the protocol module.

The gateway's per-endpoint request view (protocol) satisfies `PromptView` as it is. `BodyView` is a
minimal stand-in built from a chat or text-completion body, for training and offline tools that hold
JSON bodies (the shared benchmark files, an operator's labelled traffic, `gateway route`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["BodyMessage", "BodyView", "PromptMessage", "PromptView", "view_of_body"]


class PromptMessage(Protocol):
    @property
    def role(self) -> str: ...  # system, developer, user, assistant, tool

    @property
    def text(self) -> str: ...

    @property
    def images(self) -> int: ...


class PromptView(Protocol):
    @property
    def messages(self) -> Sequence[PromptMessage]: ...

    @property
    def output_tokens(self) -> int | None: ...

    @property
    def tools(self) -> bool: ...

    @property
    def json_schema(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class BodyMessage:
    role: str
    text: str
    images: int = 0


@dataclass(frozen=True, slots=True)
class BodyView:
    messages: tuple[BodyMessage, ...]
    output_tokens: int | None = None
    tools: bool = False
    json_schema: bool = False


_IMAGE_PARTS = frozenset(("image_url", "input_image", "image"))


def _message(m: Any) -> BodyMessage | None:
    if not isinstance(m, dict):
        return None
    role, content = m.get("role"), m.get("content")
    role = role if isinstance(role, str) else "user"
    if isinstance(content, str):
        return BodyMessage(role, content)
    if isinstance(content, list):
        parts, images = [], 0
        for p in content:
            if isinstance(p, dict):
                if p.get("type") == "text" and isinstance(p.get("text"), str):
                    parts.append(p["text"])
                elif p.get("type") in _IMAGE_PARTS:
                    images += 1
        return BodyMessage(role, "\n".join(parts), images)
    return BodyMessage(role, "")


def view_of_body(body: dict[str, Any]) -> BodyView:
    """A chat body (`messages`) or a text-completion body (`prompt`) as a view; junk fields read as empty."""
    raw = body.get("messages")
    if isinstance(raw, list):
        messages = tuple(m for m in map(_message, raw) if m is not None)
    else:
        prompt = body.get("prompt")
        messages = (BodyMessage("user", prompt if isinstance(prompt, str) else ""),)
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens")
    fmt = body.get("response_format")
    return BodyView(
        messages=messages,
        output_tokens=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        tools=bool(body.get("tools") or body.get("functions")),
        json_schema=isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"),
    )
