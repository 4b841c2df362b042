"""The gateway's own response ids, and putting them on an upstream's answer.

Clients see ids the gateway issued, not the upstream's: feedback and the decision log join on them,
and they cannot tell which backend answered. An id is a per-process random prefix and a counter:
unique across replicas, and free to make on every request (no entropy read per id).
"""

from __future__ import annotations

import itertools
import secrets

import msgspec

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
    """The same for a chat or completions stream: every event carries the upstream's id."""

    __slots__ = ("_ours", "_theirs")

    def __init__(self, ours: str) -> None:
        self._ours = msgspec.json.encode(ours)
        self._theirs: bytes | None = None

    def __call__(self, chunk: bytes) -> bytes:
        if self._theirs is None:
            start = chunk.find(PREFIX)
            end = chunk.find(b"\n", start)
            if start < 0 or end < 0:
                return chunk
            self._theirs = _theirs(chunk[start + len(PREFIX) : end]) or b""
        return chunk.replace(self._theirs, self._ours) if self._theirs else chunk
