"""The last responses of one WebSocket connection, whole: what `previous_response_id` continues there,
even when the client said `store: false`.

Over a socket a client (Codex) sends each turn as the previous response's id and only the new items,
whatever `store` says; the gateway keeps each response's whole conversation (its input, then its
output) for the connection's life, bounded to the last few. Consecutive turns share their items (the
same objects, not copies), so the bound is about one conversation, which max_body_bytes bounds. An
id not found here (or in the store) is answered `previous_response_not_found`, and the client starts
again with its full history, as it does against OpenAI.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["KEPT", "Recent"]

KEPT = 4  # a client chains from its last response; a few more cover a retried or parallel turn


class Recent:
    __slots__ = ("_kept", "_size")

    def __init__(self, size: int = KEPT) -> None:
        self._size = size
        self._kept: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def get(self, rid: str) -> list[dict[str, Any]] | None:
        items = self._kept.get(rid)
        if items is not None:
            self._kept.move_to_end(rid)
        return items

    def put(self, rid: str, items: list[dict[str, Any]]) -> None:
        self._kept[rid] = items
        self._kept.move_to_end(rid)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)
