"""Server-sent events as OpenAI frames them: `data: <json>` events, ending with `data: [DONE]`.

The one place the gateway frames SSE (the fake upstream in gateway/testing keeps its own, so that it
stays an independent check of this one).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DONE", "DONE_MARK", "PREFIX", "error_event", "event", "events_in", "json_event"]

PREFIX = b"data: "
DONE_MARK = b"[DONE]"
DONE = PREFIX + DONE_MARK + b"\n\n"
_encode = msgspec.json.Encoder().encode


def event(data: bytes) -> bytes:
    return PREFIX + data + b"\n\n"


def json_event(obj: Any) -> bytes:
    return PREFIX + _encode(obj) + b"\n\n"


def error_event(envelope: dict[str, Any]) -> bytes:
    """How a chat stream that already started reports a failure: an error event, then [DONE]."""
    return json_event(envelope) + DONE


def events_in(chunk: bytes) -> int:
    return chunk.count(PREFIX)
