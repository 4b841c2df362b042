"""What an Anthropic backend answers, as chat: a Message as a chat completion, Anthropic's stream
events as chat chunks (backends/anthropic.py; the inverse of message.py and stream.py).

Text blocks join into `content`, `tool_use` blocks become `tool_calls` (their input as JSON
arguments), thinking becomes `reasoning_content` (as vLLM names a reasoning model's thinking; its
signature has no place in chat and is dropped). `stop_reason` becomes `finish_reason`, and a matched
stop sequence is named in the choice's `stop_reason`, as vLLM does. Usage: Anthropic counts cached
input apart (`cache_read_input_tokens`, `cache_creation_input_tokens`); chat's `prompt_tokens` is
all of it, with the reads in `prompt_tokens_details.cached_tokens` and the writes, which chat has no
field for, under Anthropic's name.

A stream's chunks follow the chat protocol: the first carries `role`, a tool call's first chunk its
id and name, its arguments follow as they are written, and the last chunk its `finish_reason`,
then a usage chunk, always: the gateway bills the API's count, and takes the chunk out for a client
that did not ask for it (`include_usage`; protocol/hidden_usage.py), as it does for every chat stream
whose usage it asked for on its own. Nothing is sent before the first
block's first content: a stream the API fails before that (an `error` event, say
`overloaded_error`) has sent the client nothing, so another backend may still answer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocol.sse import DONE, json_event

__all__ = ["ChatChunks", "chat_of_message", "chat_usage"]

_encode = msgspec.json.Encoder().encode
_TEXT_TAIL = b'},"logprobs":null,"finish_reason":null}]}\n\n'
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def chat_usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    read, written = (
        int(usage.get(k) or 0) for k in ("cache_read_input_tokens", "cache_creation_input_tokens")
    )
    prompt = int(usage.get("input_tokens") or 0) + read + written
    completion = int(usage.get("output_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
    }
    if written:  # chat has no word for it: Anthropic's, so that the tier's `cache_write_per_mtok` applies
        out["cache_creation_input_tokens"] = written
    return out


def _finish(stop_reason: Any, sequence: Any, choice: dict[str, Any]) -> None:
    choice["finish_reason"] = _FINISH.get(str(stop_reason), "stop")
    if stop_reason == "stop_sequence" and isinstance(sequence, str):
        choice["stop_reason"] = sequence


def chat_of_message(message: dict[str, Any], *, created: int) -> dict[str, Any]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            arguments = _encode(block.get("input") or {}).decode()
            call = {"id": block.get("id"), "type": "function"}
            calls.append({**call, "function": {"name": block.get("name"), "arguments": arguments}})
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        reply["tool_calls"] = calls
    if thoughts:
        reply["reasoning_content"] = "".join(thoughts)
    choice: dict[str, Any] = {"index": 0, "message": reply, "logprobs": None}
    _finish(message.get("stop_reason"), message.get("stop_sequence"), choice)
    return {
        "id": str(message.get("id") or ""),
        "object": "chat.completion",
        "created": created,
        "model": str(message.get("model") or ""),
        "choices": [choice],
        "usage": chat_usage(message.get("usage")),
    }


class ChatChunks:
    """One Anthropic stream's events in, its chat chunks (SSE bytes) out."""

    def __init__(self, *, created: int) -> None:
        self.created = created
        self.done = False  # message_stop seen
        self.sent = False  # a chunk went out
        self._id = ""
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # a tool_use block's index -> its chat tool-call index
        self._choice: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}
        self._head: bytes | None = None  # a text chunk's bytes before its text (_text_head)

    def _text_head(self) -> bytes:
        if self._head is None:
            base = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self._model,
            }
            self._head = b"data: " + _encode(base)[:-1] + b',"choices":[{"index":0,"delta":{"content":'
        return self._head

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        if not self.sent:
            delta = {"role": "assistant", **delta}
            self.sent = True
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._event([choice])

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        base = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self._model,
        }
        return json_event({**base, "choices": choices, **extra})

    def feed(self, event: dict[str, Any]) -> list[bytes]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id, self._model = str(message.get("id") or ""), str(message.get("model") or "")
            self._usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            return self._start(int(event.get("index") or 0), event.get("content_block") or {})
        elif kind == "content_block_delta":
            return self._delta(int(event.get("index") or 0), event.get("delta") or {})
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            _finish(delta.get("stop_reason"), delta.get("stop_sequence"), self._choice)
            self._usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            return self._stop()
        return []  # ping, content_block_stop, and events of kinds newer than this module (an error
        # event is the backend's to raise: backends/anthropic.py)

    def _start(self, index: int, block: dict[str, Any]) -> list[bytes]:
        kind = block.get("type")
        if kind == "tool_use":
            n = self._tools[index] = len(self._tools)
            call = {"index": n, "id": block.get("id"), "type": "function"}
            return [
                self._chunk(
                    {"tool_calls": [{**call, "function": {"name": block.get("name"), "arguments": ""}}]}
                )
            ]
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[bytes]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            if self.sent:  # the event of every token: its frame built once, the text encoded alone
                return [self._text_head() + _encode(delta["text"]) + _TEXT_TAIL]
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and index in self._tools and delta.get("partial_json"):
            call = {"index": self._tools[index], "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _stop(self) -> list[bytes]:
        self.done = True
        if self._choice["finish_reason"] is None:
            self._choice["finish_reason"] = "stop"
        out = [self._chunk({"content": ""})] if not self.sent else []  # an empty answer: its role
        out += [self._event([self._choice]), self._event([], usage=chat_usage(self._usage)), DONE]
        return out
