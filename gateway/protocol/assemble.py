"""A chat or text completion stream put back together as the plain answer the same request would have
had: what a backend does when it sends a plain request upstream as a stream (backends/openai_compat.py,
`stream_plain`), so that each chunk read is news that the server works while the client waits for the
whole answer.

The rules are those of the OpenAI SDK's stream accumulator: text fields of a delta are concatenated
(content, refusal, reasoning), a tool call is built up by its `index` (its name and arguments
concatenated, its id and type the first given), logprob lists are joined, and a choice's
`finish_reason` (and vLLM's `stop_reason`) is the last one sent. The answer's id, model, created and
other top-level fields are the first chunk's, `usage` the usage event's (include_usage): a server that
sends none in streams gives an answer without usage, and the caller says so.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["STREAMABLE_REFUSED", "Assembled"]

_TEXT = ("content", "refusal", "reasoning_content", "reasoning")
# The choice fields a chunk may carry besides its delta/text, kept as the last non-null one sent.
_LAST = ("finish_reason", "stop_reason")
_LOGPROB_LISTS = ("content", "refusal", "tokens", "token_logprobs", "top_logprobs", "text_offset")

# Request fields whose plain answer a stream does not carry the same way (the prompt echoed or its
# logprobs, server-side best-of): such requests stay plain.
STREAMABLE_REFUSED = ("echo", "best_of", "prompt_logprobs", "use_beam_search")


class _Choice:
    __slots__ = ("fields", "index", "logprobs", "message", "text", "texts", "tools")

    def __init__(self, index: int) -> None:
        self.index = index
        self.message: dict[str, Any] = {}  # chat: non-text delta fields (role, and any a server adds)
        self.texts: dict[str, list[str]] = {}  # chat: text delta fields, in pieces
        self.text: list[str] = []  # completions
        self.tools: dict[int, dict[str, Any]] = {}  # tool calls by their index
        self.logprobs: dict[str, Any] | None = None
        self.fields: dict[str, Any] = {}

    def add_delta(self, delta: dict[str, Any]) -> None:
        for key, value in delta.items():
            if key in _TEXT:
                if isinstance(value, str):
                    self.texts.setdefault(key, []).append(value)
                else:
                    self.texts.setdefault(key, [])
            elif key == "tool_calls":
                for call in value or ():
                    if isinstance(call, dict):
                        self._add_tool(call)
            elif key == "function_call" and isinstance(value, dict):
                held = self.message.setdefault("function_call", {})
                for part in ("name", "arguments"):
                    if isinstance(value.get(part), str):
                        held[part] = held.get(part, "") + value[part]
            elif value is not None or key not in self.message:
                self.message[key] = value

    def _add_tool(self, call: dict[str, Any]) -> None:
        index = call.get("index")
        position = index if isinstance(index, int) else len(self.tools)
        held = self.tools.setdefault(position, {})
        for key, value in call.items():
            if key == "index":
                continue
            if key == "function" and isinstance(value, dict):
                fn = held.setdefault("function", {})
                for part, piece in value.items():
                    if isinstance(piece, str) and isinstance(fn.get(part), str):
                        fn[part] += piece
                    elif piece is not None or part not in fn:
                        fn[part] = piece
            elif held.get(key) is None:
                held[key] = value

    def add_logprobs(self, logprobs: Any) -> None:
        if not isinstance(logprobs, dict):
            return
        if self.logprobs is None:
            self.logprobs = {}
        for key, value in logprobs.items():
            if key in _LOGPROB_LISTS and isinstance(value, list):
                have = self.logprobs.get(key)
                if isinstance(have, list):
                    have.extend(value)  # in place: a long answer sends one entry a chunk
                else:
                    self.logprobs[key] = list(value)
            elif value is not None or key not in self.logprobs:
                self.logprobs[key] = value

    def chat(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.message.get("role") or "assistant"}
        for key, pieces in self.texts.items():
            message[key] = "".join(pieces) if pieces else None
        message.setdefault("content", None)
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
            if message["content"] == "":
                message["content"] = None  # as a plain answer with tool calls has it
        message |= {k: v for k, v in self.message.items() if k != "role"}
        return {"index": self.index, "message": message, "logprobs": self.logprobs, **self._last()}

    def completion(self) -> dict[str, Any]:
        return {"index": self.index, "text": "".join(self.text), "logprobs": self.logprobs, **self._last()}

    def _last(self) -> dict[str, Any]:
        return {"finish_reason": None, **self.fields}


class Assembled:
    """Feed it a stream's decoded events in order; `answer()` is the plain answer they make up."""

    def __init__(self, endpoint: Literal["chat", "completions"]) -> None:
        self.endpoint = endpoint
        self._top: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, event: dict[str, Any]) -> None:
        for key, value in event.items():
            if key == "usage":
                if value is not None:
                    self.usage = value
            elif key not in ("choices", "object") and self._top.get(key) is None:
                self._top[key] = value  # the first chunk's, unless it left it null
        for raw in event.get("choices") or ():
            if not isinstance(raw, dict):
                continue
            index = raw.get("index")
            index = index if isinstance(index, int) else 0
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice(index)
            if self.endpoint == "chat":
                delta = raw.get("delta")
                if isinstance(delta, dict):
                    choice.add_delta(delta)
            elif isinstance(raw.get("text"), str):
                choice.text.append(raw["text"])
            choice.add_logprobs(raw.get("logprobs"))
            for key in _LAST:
                if raw.get(key) is not None or (key in raw and key not in choice.fields):
                    choice.fields[key] = raw[key]

    def answer(self) -> dict[str, Any]:
        chat = self.endpoint == "chat"
        top = {"id": self._top.get("id"), "object": "chat.completion" if chat else "text_completion"}
        top |= {"created": self._top.get("created"), "model": self._top.get("model")}
        top |= {k: v for k, v in self._top.items() if k not in top}
        choices = [self._choices[i] for i in sorted(self._choices)]
        top["choices"] = [c.chat() if chat else c.completion() for c in choices]
        if self.usage is not None:
            top["usage"] = self.usage
        return top
