"""The one notion of a session, whatever API the request speaks: which conversation a request belongs
to, for the decision log and the trace (and, later, for keeping a conversation on one backend).

The first of: Claude Code's `X-Claude-Code-Session-Id` header; the session in the Messages API's
`metadata.user_id` (Claude Code sends a JSON string, `{"device_id", "account_uuid", "session_id"}`);
an `x-session-id` header; Codex's `session-id` header; the OpenAI APIs' `prompt_cache_key` (Codex
sends its session there too). Kept only when it is a plain id of
at most 128 characters: it is the client's string and goes into logs.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import msgspec

__all__ = ["Headers", "session_of"]

_SAFE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_decode = msgspec.json.Decoder().decode


class Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) and _SAFE.match(value) else None


def _of_user_id(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user, str) or not user.startswith("{"):
        return None
    try:
        decoded = _decode(user)
    except msgspec.DecodeError:
        return None
    return _plain(decoded.get("session_id")) if isinstance(decoded, dict) else None


def session_of(headers: Headers, body: dict[str, Any]) -> str | None:
    return (
        _plain(headers.get("x-claude-code-session-id"))
        or _of_user_id(body)
        or _plain(headers.get("x-session-id"))
        or _plain(headers.get("session-id"))
        or _plain(body.get("prompt_cache_key"))
    )
