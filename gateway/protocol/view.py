"""One request view per endpoint: what everything downstream reads of a request.

Classify, the planner, billing and the backends read the view, never the body's endpoint-specific
shape: a new endpoint fills one view (a builder below) and routing, cascades and accounting work for
it unchanged. The text of the messages is extracted lazily, only when something asks for it (an
`auto` route scoring difficulty), so pinned routes never pay for it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gateway.frozen import fast_init
from gateway.protocol.tokens import IMAGE_TOKENS, MESSAGE_TOKENS, chat_prompt_tokens, text_tokens

__all__ = [
    "Endpoint",
    "Message",
    "RequestView",
    "chat_view",
    "completion_view",
    "embedding_view",
    "messages_view",
    "responses_view",
    "text_of",
]

# `compact`: the Responses API's compaction (POST /v1/responses/compact), its own path upstream.
Endpoint = Literal["chat", "completions", "embeddings", "responses", "compact", "messages"]

_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


@fast_init
@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system, developer, user, assistant, tool
    text: str
    images: int = 0


def text_of(content: Any) -> tuple[str, int]:
    """A message's text (its text parts joined by newlines) and how many images it carries."""
    if isinstance(content, str):
        return content, 0
    if isinstance(content, list):
        parts, images = [], 0
        for p in content:
            if isinstance(p, dict):
                kind = p.get("type")
                if kind in _TEXT_PARTS and isinstance(p.get("text"), str):
                    parts.append(p["text"])
                elif kind in _IMAGE_PARTS:
                    images += 1
        return "\n".join(parts), images
    return "", 0


class RequestView:
    """A validated request, endpoint-neutral. Built once by the handler; read-only after that."""

    __slots__ = (
        "_count",
        "_extract",
        "_messages",
        "_prompt_tokens",
        "body_bytes",
        "endpoint",
        "include_usage",
        "json_schema",
        "model",
        "n",
        "output_tokens",
        "stream",
        "tools",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        model: str,
        messages: Callable[[], tuple[Message, ...]],
        *,
        output_tokens: int | None = None,
        stream: bool = False,
        include_usage: bool = False,
        tools: bool = False,
        json_schema: bool = False,
        n: int = 1,
        body_bytes: int = 0,
        prompt_tokens: Callable[[], int] | None = None,
    ) -> None:
        self.endpoint: Endpoint = endpoint
        self.model = model
        self._extract = messages
        self._messages: tuple[Message, ...] | None = None
        self._count = prompt_tokens
        self._prompt_tokens: int | None = None
        self.output_tokens = output_tokens  # what the client capped the answer at, if it did
        self.stream = stream
        self.include_usage = include_usage
        self.tools = tools  # the request offers tools (function calling)
        self.json_schema = json_schema  # the answer must be JSON (json_object or json_schema)
        self.n = n  # choices asked for
        self.body_bytes = body_bytes

    @property
    def messages(self) -> tuple[Message, ...]:
        found = self._messages
        if found is None:
            found = self._messages = self._extract()
        return found

    def with_output_tokens(self, n: int) -> RequestView:
        """The same request asking for at most `n` tokens of answer (its window's room: dispatch)."""
        view = copy.copy(self)
        view.output_tokens = n
        return view

    @property
    def prompt_tokens(self) -> int:
        """The prompt's tokens, estimated (protocol/tokens.py), once, when something asks: the context
        windows of large requests, and token counts for backends without a tokenizer at hand."""
        found = self._prompt_tokens
        if found is None:
            found = self._prompt_tokens = self._count() if self._count is not None else self._estimate()
        return found

    def _estimate(self) -> int:
        messages = self.messages
        chars = sum(len(m.text) for m in messages)
        images = sum(m.images for m in messages)
        return text_tokens(chars) + len(messages) * MESSAGE_TOKENS + images * IMAGE_TOKENS

    @property
    def structured(self) -> bool:
        """Tools, a JSON answer or several choices: shapes a draft-and-verify cascade cannot judge."""
        return self.tools or self.json_schema or self.n > 1

    def __repr__(self) -> str:  # never the prompt
        return f"RequestView({self.endpoint}, model={self.model!r}, stream={self.stream})"


def _chat_messages(raw: list[Any]) -> Callable[[], tuple[Message, ...]]:
    def extract() -> tuple[Message, ...]:
        out = []
        for m in raw:
            if isinstance(m, dict):
                text, images = text_of(m.get("content"))
                out.append(Message(str(m.get("role", "user")), text, images))
        return tuple(out)

    return extract


def _prompt_messages(prompt: Any) -> Callable[[], tuple[Message, ...]]:
    def extract() -> tuple[Message, ...]:
        if isinstance(prompt, str):
            return (Message("user", prompt),)
        if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
            return (Message("user", "\n".join(prompt)),)
        return (Message("user", ""),)  # token ids: no text to read

    return extract


def _limit(raw: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _include_usage(raw: dict[str, Any]) -> bool:
    options = raw.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _json_format(fmt: Any) -> bool:
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def chat_view(raw: dict[str, Any], body_bytes: int) -> RequestView:
    """The view of a validated chat completion request (`raw` is the client's JSON)."""
    return RequestView(
        "chat",
        raw["model"],
        _chat_messages(raw["messages"]),
        output_tokens=_limit(raw, "max_completion_tokens", "max_tokens"),
        stream=raw.get("stream") is True,
        include_usage=_include_usage(raw),
        tools=bool(raw.get("tools") or raw.get("functions")),
        json_schema=_json_format(raw.get("response_format")),
        n=_limit(raw, "n") or 1,
        body_bytes=body_bytes,
        prompt_tokens=lambda: chat_prompt_tokens(raw["messages"], raw.get("tools") or raw.get("functions")),
    )


def completion_view(raw: dict[str, Any], body_bytes: int) -> RequestView:
    return RequestView(
        "completions",
        raw["model"],
        _prompt_messages(raw.get("prompt")),
        output_tokens=_limit(raw, "max_tokens"),
        stream=raw.get("stream") is True,
        include_usage=_include_usage(raw),
        n=_limit(raw, "n") or 1,
        body_bytes=body_bytes,
    )


def _item_messages(items: list[dict[str, Any]], instructions: Any) -> Callable[[], tuple[Message, ...]]:
    def extract() -> tuple[Message, ...]:
        out = [Message("system", instructions)] if isinstance(instructions, str) and instructions else []
        for item in items:
            kind = item.get("type")
            if kind == "message":
                text, images = text_of(item.get("content"))
                out.append(Message(str(item.get("role", "user")), text, images))
            elif kind == "function_call_output":
                text, _ = text_of(item.get("output"))
                out.append(Message("tool", text))
        return tuple(out)

    return extract


def _items_tokens(view: RequestView, items: list[dict[str, Any]], tools: Any) -> int:
    """A Responses conversation's estimate: its messages' text, function calls and tools."""
    calls = sum(
        len(str(i.get("name") or "")) + len(str(i.get("arguments") or ""))
        for i in items
        if i.get("type") == "function_call"
    )
    return view._estimate() + text_tokens(calls) + (chat_prompt_tokens([], tools) if tools else 0)


def responses_view(
    raw: dict[str, Any], items: list[dict[str, Any]], body_bytes: int, endpoint: Endpoint = "responses"
) -> RequestView:
    """A Responses request; `items` is its whole conversation (the stored chain, then its input)."""
    fmt = raw.get("text")
    view = RequestView(
        endpoint,
        raw["model"],
        _item_messages(items, raw.get("instructions")),
        output_tokens=_limit(raw, "max_output_tokens"),
        stream=raw.get("stream") is True,
        tools=bool(raw.get("tools")),
        json_schema=_json_format(fmt.get("format") if isinstance(fmt, dict) else None),
        body_bytes=body_bytes,
    )
    view._count = lambda: _items_tokens(view, items, raw.get("tools"))
    return view


def messages_view(raw: dict[str, Any], chat: dict[str, Any], body_bytes: int) -> RequestView:
    """A Messages request, read through its chat form (`chat`: the system prompt folded in, tool
    results as tool messages), which is what every backend gets of it: classification, the estimate
    and the log read the same text a chat request's would."""
    return RequestView(
        "messages",
        raw["model"],
        _chat_messages(chat["messages"]),
        output_tokens=_limit(raw, "max_tokens"),
        stream=raw.get("stream") is True,
        tools=bool(chat.get("tools")),
        json_schema=_json_format(chat.get("response_format")),
        body_bytes=body_bytes,
        prompt_tokens=lambda: chat_prompt_tokens(chat["messages"], chat.get("tools")),
    )


def embedding_view(raw: dict[str, Any], body_bytes: int) -> RequestView:
    return RequestView("embeddings", raw["model"], _prompt_messages(raw.get("input")), body_bytes=body_bytes)
