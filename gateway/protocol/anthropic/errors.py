"""The gateway's errors in Anthropic's envelope, `{"type": "error", "error": {"type", "message"}}`, with
the statuses Anthropic's clients map to their exception classes.

| gateway | status sent | error.type |
|---|---|---|
| 400 (bad request, context too long, refused feature) | 400 | invalid_request_error |
| 401 | 401 | authentication_error |
| 403 | 403 | permission_error |
| 404 (unknown model, path, id) | 404 | not_found_error |
| 405 wrong method | 405 | invalid_request_error |
| 413 body too large | 413 | request_too_large |
| 422 latency budget unmeetable | 422 | invalid_request_error |
| 429 tenant limits | 429 | rate_limit_error |
| 500 | 500 | api_error |
| 502 the upstream failed | 502 | api_error |
| 503 overloaded (full queue, upstream 429/503) | 529 | overloaded_error |
| 503 a store the gateway needs is down | 503 | api_error |
| 504 | 504 | timeout_error |

`Retry-After` goes with 429 and 529 as with the gateway's own 429 and 503.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError, ServiceUnavailable, UpstreamUnavailable

__all__ = ["ERROR_STATUS", "OVERLOADED", "envelope", "status_of"]

OVERLOADED = 529  # Anthropic's status for "overloaded, try again later"
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    499: "invalid_request_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    OVERLOADED: "overloaded_error",
}

# The other way, for an upstream that speaks the API (backends/anthropic.py): the HTTP status each
# error type comes with, for an `error` event in a stream, which has none.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": OVERLOADED,
}


def status_of(err: GatewayError) -> int:
    if isinstance(err, UpstreamUnavailable) and not isinstance(err, ServiceUnavailable):
        return OVERLOADED
    return err.status


def envelope(err: GatewayError) -> dict[str, Any]:
    kind = _TYPES.get(status_of(err), "api_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}
