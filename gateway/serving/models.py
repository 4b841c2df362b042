"""GET /v1/models: the routes a client may name, in OpenAI's shape, or in Anthropic's when the request
speaks Anthropic's API (it carries `anthropic-version`, as Claude Code's model discovery does).

OpenAI's list has every route alias and backend model name, and each pattern route (`claude-*`)
marked `"pattern": true`. Anthropic's has the names only: a pattern is not a model a client can
pick, and the names it matches reach it anyway. Anthropic's list pages by `limit` (1 to 1,000,
default 20), `after_id` and `before_id`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from gateway.errors import InvalidRequest
from gateway.serving.results import JSONResult

if TYPE_CHECKING:
    from gateway.rules import RouteTable

__all__ = ["anthropic_models", "openai_models"]

_encode = msgspec.json.Encoder().encode
_EPOCH = "1970-01-01T00:00:00Z"  # routes have no creation date; Anthropic's shape needs one


def openai_models(table: RouteTable) -> JSONResult:
    data: list[dict[str, Any]] = [
        {"id": name, "object": "model", "created": 0, "owned_by": "gateway", "tier": route.tier}
        for name, route in table.routes.items()
    ]
    data += [
        {
            "id": r.name,
            "object": "model",
            "created": 0,
            "owned_by": "gateway",
            "tier": r.tier,
            "pattern": True,
        }
        for _, r in table.patterns
    ]
    return JSONResult(_encode({"object": "list", "data": data}))


def _limit(raw: str | None) -> int:
    try:
        limit = int(raw) if raw is not None else 20
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise InvalidRequest("`limit` must be a number from 1 to 1000.", param="limit")
    return limit


def anthropic_models(
    table: RouteTable, *, limit: str | None, after_id: str | None, before_id: str | None
) -> JSONResult:
    names = list(table.routes)
    count = _limit(limit)
    if after_id is not None:
        names = names[names.index(after_id) + 1 :] if after_id in names else []
        page = names[:count]
        more = len(names) > count
    elif before_id is not None:
        names = names[: names.index(before_id)] if before_id in names else []
        page = names[-count:]
        more = len(names) > count
    else:
        page, more = names[:count], len(names) > count
    data = [{"type": "model", "id": n, "display_name": n, "created_at": _EPOCH} for n in page]
    body = {
        "data": data,
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }
    return JSONResult(_encode(body))
