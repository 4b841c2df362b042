"""What classify reads from a request: a structural type, so scorers take any view of a prompt.

The gateway's per-endpoint request view (gateway.protocol.RequestView) satisfies `PromptView` as it
is; `view_of_body` builds one from a chat or text-completion body, for training and offline tools that
hold JSON bodies (the shared benchmark files, an operator's labelled traffic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gateway.protocol import RequestView, chat_view, completion_view

__all__ = ["PromptMessage", "PromptView", "view_of_body"]


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


def view_of_body(body: dict[str, Any]) -> RequestView:
    """A chat body (`messages`) or a text-completion body (`prompt`), as the gateway's own request view
    reads it; junk fields read as empty."""
    full = {"model": "offline", **body}
    if isinstance(body.get("messages"), list):
        return chat_view(full, 0)
    return completion_view(full, 0)
