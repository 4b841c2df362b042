"""Server-sent events as OpenAI frames them: `data: <json>` events, ending with `data: [DONE]`.

The one place the gateway frames SSE (the fake upstream in gateway/testing keeps its own, so that it
stays an independent check of this one).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.errors import StreamInterrupted

__all__ = ["DONE", "DONE_MARK", "PREFIX", "ChatEvents", "error_event", "event", "events_in", "json_event"]

PREFIX = b"data: "
DONE_MARK = b"[DONE]"
DONE = PREFIX + DONE_MARK + b"\n\n"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def event(data: bytes) -> bytes:
    return PREFIX + data + b"\n\n"


def json_event(obj: Any) -> bytes:
    return PREFIX + _encode(obj) + b"\n\n"


def error_event(envelope: dict[str, Any]) -> bytes:
    """How a chat stream that already started reports a failure: an error event, then [DONE]."""
    return json_event(envelope) + DONE


def events_in(chunk: bytes) -> int:
    return chunk.count(PREFIX)


class ChatEvents:
    """A chat stream's events, from its SSE bytes in any split (what a translation to another API
    reads): each `data:` line's JSON object, None for `[DONE]`. A line that is not JSON ends the
    stream: StreamInterrupted (upstream_protocol)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[dict[str, Any] | None]:
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()  # an event line split over two reads waits for its end
        out: list[dict[str, Any] | None] = []
        for line in lines:
            if not line.startswith(PREFIX):
                continue
            payload = line[len(PREFIX) :].strip()
            if payload == DONE_MARK:
                out.append(None)
                continue
            try:
                out.append(_decode(payload))
            except msgspec.DecodeError:
                raise StreamInterrupted(
                    "The backend sent an event that is not JSON.", code="upstream_protocol"
                ) from None
        return out
