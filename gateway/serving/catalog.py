"""Model metadata in Codex's own catalog format, from routes.yaml: what `GET /v1/models` answers when
Codex asks (`?client_version=...`, sent when its provider sets `model_catalog_url`).

Codex reads a model's metadata only from such a catalog (`{"models": [...]}`, about ten required
fields, the OpenAI list format refused); without one it warns "Model metadata for `auto` not found"
and guesses. Each route is one entry, its slug the route's name:

- `context_window`: the route's `metadata.context_window`, else the largest window among the backends
  the route can reach (each backend's `context_window`, llama.cpp's `n_ctx`): the router sends a long
  prompt only to a backend that holds it (routing/context.py);
- `auto_compact_token_limit`: the window less `max_output_tokens` (`metadata.max_output_tokens`, else
  an eighth of the window), so Codex compacts its history while the answer still has room;
- `base_instructions`: the route's `metadata.instructions`, else a short coding-agent prompt (Codex
  puts it first in every conversation; its catalog has no default);
- `apply_patch_tool_type: freeform`: Codex then offers its file-editing tool, a custom tool that
  the gateway translates for chat backends (protocol/responses/tools.py); no `supports_search_tool`,
  so its multi-agent tools come as a namespace up front, not behind `tool_search` (which a chat model
  cannot use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.rules import BackendSpec, Route, RouteTable

__all__ = ["INSTRUCTIONS", "codex_catalog", "route_window"]

_NO_BACKEND_WINDOW = 128_000  # a route with no backend left to name (cannot be served anyway)

INSTRUCTIONS = """You are a coding agent running in the Codex CLI, a terminal-based coding assistant, \
served through an LLM routing gateway. Be precise, safe and helpful.

- Work in the user's workspace with the tools you are given: run commands with `exec_command`, edit \
files with `apply_patch` (a patch between `*** Begin Patch` and `*** End Patch`, with `*** Add File: \
path`, `*** Update File: path` or `*** Delete File: path` sections, `+`/`-`/space-prefixed lines and \
`@@` context headers).
- Keep going until the task is done; do not guess: read files and run commands to find out.
- Prefer small, focused changes that follow the code's existing style; fix root causes; run the \
relevant tests when there are some.
- Before a group of tool calls, say in one short sentence what you are about to do.
- Finish with a brief summary of what you changed and how you checked it."""


def _backends(table: RouteTable, route: Route) -> list[BackendSpec]:
    """Every backend that may answer the route: its tier's (and fallbacks'), or any tier's (a policy)."""
    tiers = table.spec.tiers
    if route.policy is not None:
        names = list(tiers)
    else:
        names = [route.tier, *(route.spec.fallback or [] if route.spec is not None else [])]
    found = [b for name in names if name in tiers for b in tiers[name].backends]
    if route.model is not None:  # a route by a backend's own model name
        found = [b for b in found if b.model == route.model] or found
    return found


def route_window(table: RouteTable, route: Route) -> tuple[int, int]:
    """The route's context window and the room an answer needs in it."""
    meta = route.spec.metadata if route.spec is not None else None
    window = meta.context_window if meta is not None and meta.context_window else None
    if window is None:
        window = max((b.window for b in _backends(table, route)), default=_NO_BACKEND_WINDOW)
    room = meta.max_output_tokens if meta is not None and meta.max_output_tokens else None
    return window, min(room or max(256, window // 8), window // 2)


def _entry(table: RouteTable, route: Route, priority: int) -> dict[str, Any]:
    meta = route.spec.metadata if route.spec is not None else None
    window, room = route_window(table, route)
    levels = [{"effort": e, "description": f"{e} reasoning effort"} for e in ("low", "medium", "high")]
    return {
        "slug": route.name,
        "display_name": (meta.display_name if meta is not None else None) or route.name,
        "description": f"Route '{route.name}' of the LLM routing gateway",
        "supported_reasoning_levels": levels,
        "shell_type": "shell_command",
        "visibility": "list" if route.spec is not None else "hide",
        "supported_in_api": True,
        "priority": priority,
        "support_verbosity": False,
        "truncation_policy": {"mode": "tokens", "limit": 10_000},
        "experimental_supported_tools": [],
        "apply_patch_tool_type": "freeform",
        "base_instructions": (meta.instructions if meta is not None else None) or INSTRUCTIONS,
        "context_window": window,
        "auto_compact_token_limit": window - room,
        "max_output_tokens": room,
    }


def codex_catalog(table: RouteTable) -> dict[str, Any]:
    """Codex's catalog: one entry per route (routes.yaml's first; backends' own model names hidden)."""
    routes = sorted(table.routes.values(), key=lambda r: r.spec is None)
    return {"models": [_entry(table, r, i + 1) for i, r in enumerate(routes)]}
