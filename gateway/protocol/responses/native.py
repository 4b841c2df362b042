"""A Responses answer from a backend that speaks the API natively, made the gateway's own.

The backend was sent the whole conversation with `store: false` and without the gateway's ids, so
what it returns names its own response id: the id, `previous_response_id` and `store` the client
sees are put back, in the JSON object and in every lifecycle event of a stream (the SDK checks that
they agree). Everything else passes through untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocol.responses.stream import frame

__all__ = ["NativeTap"]

_decode = msgspec.json.Decoder().decode
_FINAL = ("response.completed", "response.incomplete", "response.failed")


class NativeTap:
    def __init__(self, rid: str, own: dict[str, Any]) -> None:
        self.rid = rid
        self._own = own  # previous_response_id and store as the client sent them
        self.final: dict[str, Any] | None = None
        self._buffer = b""

    def _claim(self, response: dict[str, Any]) -> dict[str, Any]:
        return {**response, "id": self.rid, **self._own}

    def of_reply(self, data: dict[str, Any]) -> dict[str, Any]:
        self.final = self._claim(data)
        return self.final

    def feed(self, chunk: bytes) -> bytes:
        """Native SSE bytes in (any split), the same events out with the gateway's ids."""
        data = self._buffer + chunk
        events = data.split(b"\n\n")
        self._buffer = events.pop()
        return b"".join(self._event(e) for e in events if e.strip())

    def _event(self, raw: bytes) -> bytes:
        line = next((ln for ln in raw.split(b"\n") if ln.startswith(b"data: ")), None)
        if line is None or (b'"response"' not in line):
            return raw + b"\n\n"
        event = _decode(line[6:])
        response = event.get("response")
        if not isinstance(response, dict):
            return raw + b"\n\n"
        event["response"] = self._claim(response)
        if event.get("type") in _FINAL:
            self.final = event["response"]
        return frame(event)
