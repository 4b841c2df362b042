"""The gateway's own response ids, and putting them on an upstream's answer.

Clients see ids the gateway issued, not the upstream's: feedback and the decision log join on them,
and they cannot tell which backend answered. An id is a per-process random prefix and a counter:
unique across replicas, and free to make on every request (no entropy read per id).
"""

from __future__ import annotations

import itertools
import secrets

import msgspec

from gateway.protocol.hidden_usage import HiddenUsage
from gateway.protocol.sse import PREFIX

__all__ = ["IdStream", "ResponseIds", "claim"]

_PREFIXES = {
    "chat": "chatcmpl-",
    "completions": "cmpl-",
    "responses": "resp_",
    "compact": "resp_",
    "messages": "msg_",
}


class _Id(msgspec.Struct):
    id: str | None = None


_id_decoder = msgspec.json.Decoder(_Id)


class ResponseIds:
    def __init__(self) -> None:
        self._base = secrets.token_hex(6)
        self._next = itertools.count(1).__next__

    def new(self, endpoint: str) -> str:
        return f"{_PREFIXES.get(endpoint, 'gw-')}gw{self._base}{self._next():x}"


def _theirs(data: bytes) -> bytes | None:
    try:
        found = _id_decoder.decode(data).id
    except msgspec.DecodeError:
        return None
    return msgspec.json.encode(found) if found else None


def claim(body: bytes, ours: str) -> bytes:
    """A JSON answer with the gateway's id in place of the upstream's (the top-level one, by value)."""
    theirs = _theirs(body)
    return body if theirs is None else body.replace(theirs, msgspec.json.encode(ours), 1)


class IdStream:
    """The same for a chat or completions stream: every event carries the upstream's id. With
    `hidden`, the usage the gateway asked for on its own is taken out first (hidden_usage.py): the
    two share this one call per read, which the relay makes for every read of every stream."""

    __slots__ = ("_hidden", "_ours", "_theirs")

    def __init__(self, ours: str, hidden: HiddenUsage | None = None) -> None:
        self._ours = msgspec.json.encode(ours)
        self._theirs: bytes | None = None
        self._hidden = hidden

    def __call__(self, chunk: bytes) -> bytes:
        hidden = self._hidden
        # Inline, not a method: the reads that need the filter (a line about usage, an unended line,
        # a read after one) are few, and the rest should cost two byte searches and no call.
        if hidden is not None and (
            hidden.held or hidden.blank or b'"usage"' in chunk or not chunk.endswith(b"\n")
        ):
            chunk = hidden(chunk)
        theirs = self._theirs
        if theirs is None:
            return self._first(chunk)
        return chunk.replace(theirs, self._ours) if theirs else chunk

    def flush(self) -> bytes:
        """The end of the stream: what the filter held (an upstream's unended last line), with our
        id, the filter done with."""
        hidden, self._hidden = self._hidden, None
        return self(hidden.flush()) if hidden is not None and hidden.held else b""

    def _first(self, chunk: bytes) -> bytes:
        start = chunk.find(PREFIX)
        end = chunk.find(b"\n", start)
        if start < 0 or end < 0:
            return chunk
        self._theirs = theirs = _theirs(chunk[start + len(PREFIX) : end]) or b""
        return chunk.replace(theirs, self._ours) if theirs else chunk
