"""The gateway's one exception tree, rendered as OpenAI's error envelope at the edge.

    GatewayError                     500 api_error (never raised bare)
    ├── ConfigError                  not HTTP: routes.yaml / settings are wrong (file:line: field: why)
    ├── ClientError                  400 invalid_request_error: the caller can fix it
    │   ├── InvalidRequest           400, names the offending field in `param`
    │   │   └── ContextTooLong       400: no candidate's context window holds the prompt
    │   ├── Unauthorized             401 authentication_error: no or unknown API key
    │   ├── Forbidden                403 permission_error: the key's tenant may not do this
    │   ├── ModelNotFound            404 model_not_found
    │   ├── NotFound                 404 (unknown path)
    │   ├── MethodNotAllowed         405
    │   ├── PayloadTooLarge          413
    │   ├── UpgradeRequired          426: WebSocket mode is off; use HTTP
    │   ├── BudgetUnmeetable         422: no capable tier is expected to meet the latency budget
    │   ├── RateLimited              429 rate_limit_exceeded: a tenant's request, token or spend limit
    │   ├── ClientClosedRequest      499: the caller left; its work was cancelled (nobody reads this)
    │   └── UpstreamRejected         400: the backend refused the request itself
    │       └── ContextOverflow      400: a backend's window could not hold it (a larger one may)
    ├── ServiceUnavailable           503: a store the gateway needs (shared tenant limits) is down
    └── UpstreamError                502 upstream_error: a backend failed us, retryable by default
        ├── UpstreamStatusError      502: upstream 5xx, or it refused our credentials
        ├── UpstreamUnavailable      503: overloaded (full queue, upstream 429) or nothing to try
        ├── UpstreamTimeout          504
        └── StreamInterrupted        the stream broke after its first byte: no status, an SSE error event

`retryable` tells dispatch and the retry layer whether trying again, or another candidate, may help.
Messages never carry prompts, completions or secrets: they are shown to clients and written to logs.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BudgetUnmeetable",
    "ClientClosedRequest",
    "ClientError",
    "ConfigError",
    "ContextOverflow",
    "ContextTooLong",
    "Forbidden",
    "GatewayError",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "StreamInterrupted",
    "Unauthorized",
    "UpgradeRequired",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamSilent",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class ConfigError(GatewayError):
    """Raised at load time; carries every problem found so an operator fixes them in one pass."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ClientError(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    pass


class ContextTooLong(InvalidRequest):
    """No candidate's context window can hold the prompt and the route's minimum answer: refused before
    any backend is called. The message is Anthropic's (`prompt is too long: N tokens > M maximum`),
    which clients such as Claude Code read to compact their context."""

    def __init__(self, tokens: int, maximum: int) -> None:
        super().__init__(
            f"prompt is too long: {tokens} tokens > {maximum} maximum",
            param="messages",
            code="context_length_exceeded",
        )
        self.tokens = tokens
        self.maximum = maximum


class Unauthorized(ClientError):
    status = 401
    error_type = "authentication_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_api_key", headers={"www-authenticate": "Bearer"})


class Forbidden(ClientError):
    status = 403
    error_type = "permission_error"


class RateLimited(ClientError):
    status = 429
    error_type = "rate_limit_exceeded"

    def __init__(self, message: str, *, code: str, retry_after_s: float) -> None:
        super().__init__(message, code=code, headers={"retry-after": str(max(1, round(retry_after_s)))})


class ModelNotFound(ClientError):
    status = 404

    def __init__(self, model: str) -> None:
        # The model name is the client's own input; echoing it is what OpenAI does and leaks nothing.
        super().__init__(
            f"The model '{model}' does not exist on this gateway; GET /v1/models lists the available ones.",
            param="model",
            code="model_not_found",
        )


class NotFound(ClientError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ClientError):
    status = 405


class PayloadTooLarge(ClientError):
    status = 413

    @classmethod
    def body(cls) -> PayloadTooLarge:
        """A request body over GATEWAY_MAX_BODY_BYTES, however it was found to be."""
        return cls("The request body is larger than this gateway accepts.", code="body_too_large")


class UpgradeRequired(ClientError):
    status = 426


class BudgetUnmeetable(ClientError):
    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message, code="latency_budget_unmeetable")


class ClientClosedRequest(ClientError):
    status = 499


class UpstreamRejected(ClientError):
    """A 4xx from the backend about the request itself: another backend would refuse it too."""


class ContextOverflow(UpstreamRejected):
    """A backend said the request does not fit its context window (the estimate it was routed by fell
    short): not retried there, but the walk moves on to a candidate with a larger window."""


class ServiceUnavailable(GatewayError):
    status = 503
    error_type = "service_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="service_unavailable", headers={"retry-after": "1"})


class UpstreamError(GatewayError):
    status = 502
    error_type = "upstream_error"
    retryable = True


class UpstreamStatusError(UpstreamError):
    def __init__(self, message: str, *, upstream_status: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.upstream_status = upstream_status


class UpstreamUnavailable(UpstreamError):
    status = 503
    error_type = "service_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout"


class UpstreamSilent(UpstreamTimeout):
    """The upstream sent nothing for as long as the gateway takes for a hang (dispatch/modes.py): the
    next candidate takes the request, and its breaker ejects it at once (resilience/guard.py)."""


class StreamInterrupted(UpstreamError):
    """The upstream failed after the first streamed byte; the client gets an error event, not a status."""
