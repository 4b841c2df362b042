"""One message in the making, turned from what a chat backend sends into the Messages API's shape: a
whole Message from a chat completion, or the event stream Anthropic's clients expect from a chat
stream.

Every event is framed `event: <type>` + `data: <json>` (Claude Code takes a stream without `event:`
lines for a broken one and asks again without streaming). The sequence is Anthropic's:
`message_start` (usage so far: the gateway's estimate of the input), `ping`, then per content block
`content_block_start`, its deltas (`thinking_delta`, `text_delta`, `input_json_delta`),
`content_block_stop`, and at the end `message_delta` (stop_reason, the backend's usage) and
`message_stop`. Blocks follow one another: one is stopped before the next starts. A failure after the
first event ends the stream with an `error` event (Anthropic's), never a silent close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gateway.errors import StreamInterrupted
from gateway.protocol.anthropic.message import message_of_chat, stop_reason, tool_id, usage_of_chat
from gateway.protocol.sse import ChatEvents

__all__ = ["MessageTranslation", "frame"]

_encode = msgspec.json.Encoder().encode
# The event sent once per token, framed around its two changing fields: the bytes frame() gives.
_TEXT_START = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_MID = b',"delta":{"type":"text_delta","text":'
_TEXT_END = b"}}\n\n"


def frame(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + _encode(event) + b"\n\n"


class MessageTranslation:
    def __init__(
        self,
        rid: str,
        model: str,
        *,
        input_tokens: Callable[[], int],
        thinking: bool,
        stop_sequences: list[str] | None,
    ) -> None:
        self.rid = rid
        self.model = model
        # message_start's usage: the estimate (asked for only by a stream), until the backend counts
        self._input_tokens = input_tokens
        self.thinking = thinking  # the request shows thinking: a backend's reasoning becomes blocks
        self.stop_sequences = stop_sequences
        self.final: dict[str, Any] | None = None  # the whole Message, once there is one
        self._started = False
        self._events = ChatEvents()
        self._index = -1  # the content block open (or last opened)
        self._open: str | None = None  # its kind: thinking, text, tool_use
        self._calls: dict[int, int] = {}  # chat tool-call index -> its block's index
        self._call: int | None = None  # the chat tool-call index of the open tool_use block
        self._choice: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self._deltas = 0  # about one token each: the output count when the backend sent no usage
        self._done = False

    # ---- whole answers ------------------------------------------------------------------------
    def of_chat(self, chat: dict[str, Any]) -> dict[str, Any]:
        self.final = message_of_chat(
            chat, self.rid, self.model, thinking=self.thinking, stop_sequences=self.stop_sequences
        )
        return self.final

    # ---- streams ------------------------------------------------------------------------------
    def started(self) -> bytes:
        """Nothing yet: message_start names the model that answers, known from its first chunk."""
        return b""

    def _start(self) -> bytes:
        self._started = True
        usage = {
            "input_tokens": self._input_tokens(),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        }
        message: dict[str, Any] = {
            "id": self.rid,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return frame({"type": "message_start", "message": message}) + frame({"type": "ping"})

    def feed(self, chunk: bytes) -> bytes:
        """Chat SSE bytes in (any split), Messages events out."""
        out = []
        for event in self._events.feed(chunk):
            if self._done:
                continue
            out.append(self._finished() if event is None else self._chunk(event))
        return b"".join(out)

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        out = []
        if not self._started:
            if chunk.get("model"):
                self.model = str(chunk["model"])
            out.append(self._start())
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if self.thinking and isinstance(reasoning, str) and reasoning:
                out.append(self._thinking(reasoning))
            if delta.get("content"):
                out.append(self._text(str(delta["content"])))
            for call in delta.get("tool_calls") or []:
                out.append(self._tool_delta(call))
            if choice.get("finish_reason"):
                self._choice = choice
        return b"".join(out)

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._stop_block()
        self._index += 1
        self._open = kind
        return out + frame({"type": "content_block_start", "index": self._index, "content_block": block})

    def _stop_block(self) -> bytes:
        if self._open is None:
            return b""
        if self._open == "thinking":  # a thinking block ends with its signature (none: not Anthropic's)
            signature = {"type": "signature_delta", "signature": ""}
            out = frame({"type": "content_block_delta", "index": self._index, "delta": signature})
        else:
            out = b""
        self._open = None
        self._call = None
        return out + frame({"type": "content_block_stop", "index": self._index})

    def _thinking(self, text: str) -> bytes:
        out = b""
        if self._open != "thinking":
            out = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self._deltas += 1
        delta = {"type": "thinking_delta", "thinking": text}
        return out + frame({"type": "content_block_delta", "index": self._index, "delta": delta})

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        self._deltas += 1
        return out + _TEXT_START + b"%d" % self._index + _TEXT_MID + _encode(text) + _TEXT_END

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        index = int(call.get("index", 0))
        fn = call.get("function") or {}
        out = b""
        if self._call != index:
            if index in self._calls:  # a call resumed after another began: Anthropic's blocks cannot
                raise StreamInterrupted(
                    "The backend interleaved two tool calls' arguments.", code="upstream_protocol"
                )
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": tool_id(call.get("id")),
                "name": fn.get("name") or "",
                "input": {},
            }
            out = self._open_block("tool_use", block)
            self._calls[index] = self._index
            self._call = index
        args = fn.get("arguments") or ""
        if not args:
            return out
        self._deltas += 1
        delta = {"type": "input_json_delta", "partial_json": args}
        return out + frame({"type": "content_block_delta", "index": self._index, "delta": delta})

    def _finished(self) -> bytes:
        self._done = True
        out = [] if self._started else [self._start()]
        out.append(self._stop_block())
        reason, sequence = stop_reason(self._choice, self.stop_sequences)
        if self._usage is not None:
            usage = usage_of_chat(self._usage)
        else:  # the backend counted nothing: the input as estimated, a token per delta
            usage = usage_of_chat({"prompt_tokens": self._input_tokens(), "completion_tokens": self._deltas})
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out.append(frame({"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(frame({"type": "message_stop"}))
        return b"".join(out)

    def failed(self, envelope: dict[str, Any]) -> bytes:
        """The event that ends a stream which broke after it started (Anthropic's error event)."""
        return frame(envelope)
