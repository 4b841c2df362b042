"""A Message from a backend that speaks the Messages API natively (`kind: anthropic`), made the
gateway's own: the message id the client sees is the gateway's (what the decision log and feedback
name), in the JSON object and in a stream's `message_start`. Everything else passes through
untouched: thinking and its signatures, server tools' blocks, citations, the API's own usage."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocol.anthropic.stream import frame

__all__ = ["MessageTap"]

_decode = msgspec.json.Decoder().decode


class MessageTap:
    def __init__(self, rid: str) -> None:
        self.rid = rid
        self._buffer = b""
        self._claimed = False  # message_start seen and its id replaced: the rest passes as it comes

    def of_reply(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "id": self.rid}

    def feed(self, chunk: bytes) -> bytes:
        """Native SSE bytes in (any split), the same events out with the gateway's id."""
        if self._claimed:
            return chunk
        events = (self._buffer + chunk).split(b"\n\n")
        self._buffer = events.pop()  # an event not yet whole waits
        out = []
        for i, raw in enumerate(events):
            line = next((ln for ln in raw.split(b"\n") if ln.startswith(b"data: ")), b"")
            if b'"message_start"' not in line:
                out.append(raw + b"\n\n")
                continue
            event = _decode(line[6:])
            event["message"] = {**event.get("message", {}), "id": self.rid}
            out.append(frame(event))
            self._claimed = True
            rest = b"".join(e + b"\n\n" for e in events[i + 1 :]) + self._buffer
            self._buffer = b""
            return b"".join(out) + rest
        return b"".join(out)
