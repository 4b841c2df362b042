"""A chat or completions stream whose usage the gateway asked for and the client did not.

The gateway bills and logs a stream by the upstream's own count, so an HTTP backend asks for it
(`stream_options.include_usage`, the spec's `stream_usage`) even when the client did not. The client
must then see the stream it asked for: the usage event (no choices, a `usage`) is taken out, and so is
the `"usage": null` that OpenAI's API puts on every other event once usage is asked. The relay reads
its usage from the bytes as they came (dispatch/relay.py), before this feed.

Lines are what is judged, so a line split over two reads waits for its end here; reads that end a line,
as upstreams write them, pass through with two byte searches and no copy.
"""

from __future__ import annotations

import re

import msgspec

from gateway.protocol.sse import PREFIX
from gateway.protocol.usage import USAGE_MARK

__all__ = ["HiddenUsage"]

_NULL = re.compile(rb',\s*"usage"\s*:\s*null')


class _Event(msgspec.Struct):
    choices: list[object] | None = None
    usage: dict[str, object] | None = None


_decode = msgspec.json.Decoder(_Event).decode


def _usage_only(line: bytes) -> bool:
    if not line.startswith(PREFIX) or USAGE_MARK not in line:
        return False
    try:
        event = _decode(line[len(PREFIX) :])
    except msgspec.DecodeError:
        return False
    return event.usage is not None and not event.choices


def _without_usage(lines: bytes) -> tuple[bytes, bool]:
    """The lines less the usage events; and whether the last line dropped awaits its blank line."""
    out: list[bytes] = []
    skip_blank = False
    for line in lines.splitlines(keepends=True):
        if skip_blank and not line.strip():
            skip_blank = False
            continue  # the blank line that ended the dropped event
        skip_blank = False
        if _usage_only(line):
            skip_blank = True
            continue
        out.append(line)
    return b"".join(out), skip_blank


class HiddenUsage:
    """One stream's filter. protocol/ids.py's IdStream calls it for a read that needs it: one with a
    line about usage, an unended line, or a read after one; the rest, most reads, pass it by."""

    __slots__ = ("blank", "held")

    def __init__(self) -> None:
        self.held = b""  # an unended line, waiting for its end
        self.blank = False  # the event dropped last ended a read: its blank line comes next

    def __call__(self, chunk: bytes) -> bytes:
        if self.held:
            chunk, self.held = self.held + chunk, b""
        if not chunk.endswith(b"\n"):
            cut = chunk.rfind(b"\n") + 1
            chunk, self.held = chunk[:cut], chunk[cut:]
        if self.blank and chunk:
            self.blank = False
            chunk = (
                chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk
            )
        if USAGE_MARK in chunk:
            chunk, self.blank = _without_usage(chunk)
        if b'"usage"' in chunk:
            chunk = _NULL.sub(b"", chunk)
        return chunk

    def flush(self) -> bytes:
        """What an upstream that ended without a newline left held: passed on as it is."""
        held, self.held = self.held, b""
        return held
