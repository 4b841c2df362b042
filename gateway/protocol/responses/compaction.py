"""Compaction (`POST /v1/responses/compact`) when a chat backend answers: the gateway writes it.

OpenAI's compaction returns the conversation's user messages followed by one `compaction` item whose
`encrypted_content` only OpenAI can read; the client sends those items back as the next request's
input. A chat model has no such state, so the gateway asks it for a summary and writes the item
itself: `encrypted_content` is `gwc1.` followed by the summary as base64url JSON. It is encoded, not
encrypted (it holds the client's own conversation, which the client has anyway), and it carries
everything needed to read it, so any replica accepts it back with no state of its own. On the way
back in, it becomes a user message with the summary, for a chat backend and a native one alike (a
native backend cannot read the gateway's item); a native backend's own compaction items stay native.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import msgspec

from gateway.errors import InvalidRequest
from gateway.protocol.responses.objects import new_id, usage_of_chat

__all__ = [
    "COMPACT_PROMPT",
    "Compacting",
    "compacted",
    "compaction_item",
    "is_own",
    "native_items",
    "summary_message",
    "summary_of",
]

_PREFIX = "gwc1."
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

COMPACT_PROMPT = (
    "The conversation above is being compacted to free context. Write a summary that lets another model "
    "continue the work without it: the user's goals and constraints, what was decided and done, facts "
    "and tool results that still matter (names, paths, commands, numbers), and what remains to do. "
    "Answer with the summary only."
)
_INTRO = "The earlier conversation was compacted. Its summary:\n\n"


def compaction_item(summary: str) -> dict[str, Any]:
    blob = base64.urlsafe_b64encode(_encode({"summary": summary})).decode()
    return {"type": "compaction", "id": new_id("cmp"), "encrypted_content": _PREFIX + blob}


def is_own(item: dict[str, Any]) -> bool:
    """Is this input item a compaction the gateway wrote (not a native backend's)?"""
    content = item.get("encrypted_content")
    return item.get("type") == "compaction" and isinstance(content, str) and content.startswith(_PREFIX)


def summary_of(item: dict[str, Any], param: str = "input") -> str:
    try:
        data = _decode(base64.urlsafe_b64decode(item["encrypted_content"][len(_PREFIX) :]))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), str):
        raise InvalidRequest(
            "This compaction item is not one the gateway wrote, or it was altered.",
            param=f"{param}.encrypted_content",
            code="invalid_compaction",
        )
    summary: str = data["summary"]
    return summary


def summary_message(item: dict[str, Any]) -> dict[str, Any]:
    """The gateway's compaction item as a chat message."""
    return {"role": "user", "content": _INTRO + summary_of(item)}


def native_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a native backend: the gateway's compaction items as the messages they mean."""
    if not any(is_own(i) for i in items):
        return items
    return [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": _INTRO + summary_of(i)}],
        }
        if is_own(i)
        else i
        for i in items
    ]


def compacted(
    rid: str, items: list[dict[str, Any]], summary: str, usage: dict[str, Any] | None
) -> dict[str, Any]:
    """The compacted conversation as OpenAI returns it: every user message, then one compaction item."""
    users = [
        {k: v for k, v in i.items() if k != "id"}
        for i in items
        if i.get("type") == "message" and i.get("role") == "user"
    ]
    return {
        "id": rid,
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [*users, compaction_item(summary)],
        "usage": usage
        or {
            "input_tokens": 0,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0,
        },
    }


class Compacting:
    """One compaction on its way: the conversation it compacts, and the compacted object it becomes,
    from a native backend's (the gateway's id on it) or a chat model's summary (the gateway's item)."""

    def __init__(self, rid: str, items: list[dict[str, Any]]) -> None:
        self.rid = rid
        self.items = items

    def of_native(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "id": self.rid}

    def of_chat(self, chat: dict[str, Any]) -> dict[str, Any]:
        choice = (chat.get("choices") or [{}])[0]
        summary = str((choice.get("message") or {}).get("content") or "").strip()
        return compacted(self.rid, self.items, summary, usage_of_chat(chat.get("usage")))
