"""The one tool rule, for every API: what a backend that speaks only chat does with hosted tools.

A *hosted* (server) tool is one the provider runs, not the client: the Responses API's `web_search`,
`file_search`, `code_interpreter`, `computer_use_preview`, `mcp`, `image_generation`, ... (every
tool type but `function`), and Anthropic's server tools (`web_search_*`, `web_fetch_*`,
`code_execution_*`, `tool_search_tool_*`, MCP servers). A chat backend cannot run any of them, so:

- a request that merely *offers* one (lists it in `tools`) goes to a chat backend without it: the
  tool is dropped, and the drop is named in the `x-gateway-dropped-tools` header, counted in
  `gateway_dropped_tools_total{route,tool}` and written to the decision log;
- a request that *requires* one (`tool_choice` names it) is refused with a 400 unless the route has a
  backend that speaks the API natively (a Responses backend with `responses: true`);
- a route with such a native backend still prefers it for a request that offers hosted tools.

Each API's protocol module classifies its own tools; the serving module puts the offered hosted
types on the call (`Call.hosted`) beside the chat form without them (`Call.chat`) and what is
required in `Call.needs`; the candidate walk decides per backend (dispatch/walk.py). Tool types are
the client's strings: `tool_label` bounds them for metric labels, `shown` for headers and logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["HOSTED_FAMILIES", "dropped_header", "family", "hosted_types", "shown", "tool_label"]

# The hosted tool families the gateway names in metrics (a type's date suffix removed, as Anthropic
# versions its tools: web_search_20250305 → web_search); any other type is counted as `other`.
HOSTED_FAMILIES = frozenset(
    {
        # the Responses API's built-in tools
        "web_search",
        "web_search_preview",
        "file_search",
        "code_interpreter",
        "computer_use",
        "computer_use_preview",
        "image_generation",
        "local_shell",
        "shell",
        "apply_patch",
        "custom",
        "mcp",
        "namespace",
        "tool_search",
        # Anthropic's server tools
        "web_fetch",
        "code_execution",
        "tool_search_tool_regex",
        "tool_search_tool_bm25",
        "mcp_toolset",
    }
)
_DATED = re.compile(r"^(.+?)_\d{8}$")
_SAFE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def family(tool_type: str) -> str:
    """A tool type without its version date: `web_search_20250305` → `web_search`."""
    m = _DATED.match(tool_type)
    return m.group(1) if m else tool_type


def tool_label(tool_type: str) -> str:
    """A bounded metric label for a hosted tool type: its family when known, else `other`."""
    name = family(tool_type)
    return name if name in HOSTED_FAMILIES else "other"


def shown(tool_type: str) -> str:
    """The type as a header or log line may carry it: the client's string when it is a plain name."""
    return tool_type if _SAFE.match(tool_type) else "other"


def hosted_types(types: Iterable[str]) -> tuple[str, ...]:
    """Offered hosted tool types, each once, in the order the request lists them, safe to show."""
    return tuple(dict.fromkeys(shown(t) for t in types))


def dropped_header(types: Iterable[str]) -> str:
    return ",".join(types)
