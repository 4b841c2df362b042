"""The gateway's OpenAPI document, built from the wire models in protocol.py.

The handlers read raw bodies (so unknown fields pass through untouched), which leaves a framework
nothing to describe; this builds the document from the same pydantic models that validate requests,
so it cannot drift from what is enforced. Served at GET /openapi.json; schemathesis fuzzes it in CI.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from gateway.protocol import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from gateway.protocol.anthropic import CountTokensRequest, MessagesRequest
from gateway.protocol.openai import FeedbackRequest
from gateway.protocol.responses import ResponsesRequest

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
# Every endpoint takes the key either way: OpenAI's clients send a bearer token, Anthropic's x-api-key.
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def _error_responses(*statuses: int, schema: str = "Error") -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}}
    what = "Anthropic's error envelope" if schema == "AnthropicError" else "OpenAI's error envelope"
    return {str(s): {"description": what, "content": body} for s in statuses}


def _anthropic_post(model: str, summary: str, stream: bool) -> dict[str, Any]:
    """A Messages API operation: Anthropic's errors (overloaded is 529), any query string."""
    op = _post(model, summary, stream)
    post = op["post"]
    post["parameters"] = [{"name": "beta", "in": "query", "required": False, "schema": {"type": "string"}}]
    post["responses"] = {
        "200": post["responses"]["200"],
        **_error_responses(400, 401, 403, 404, 413, 422, 429, 502, 503, 504, 529, schema="AnthropicError"),
    }
    return op


def _post(model: str, summary: str, stream: bool) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if stream:
        ok["text/event-stream"] = {"schema": {"type": "string"}}
    return {
        "post": {
            "summary": summary,
            "security": _AUTH,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
            },
            "responses": {
                "200": {"description": "the backend's answer, passed through", "content": ok},
                **_error_responses(400, 401, 403, 404, 413, 422, 429, 502, 503, 504),
            },
        }
    }


def _get(summary: str, media: str = "application/json", auth: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": summary, "content": {media: {"schema": {}}}}},
    }
    if auth:
        op["security"] = _AUTH
        op["responses"].update(_error_responses(401))
    return {"get": op}


def _socket() -> dict[str, Any]:
    """GET /v1/responses: the WebSocket mode (server/ws_responses.py); without an upgrade, a 426."""
    return {
        "get": {
            "summary": "Open a Responses WebSocket (Upgrade: websocket): response.create in, events out",
            "security": _AUTH,
            "responses": {
                "101": {"description": "switching to the WebSocket protocol"},
                **_error_responses(401, 426, 429, 503),
            },
        }
    }


def _models() -> dict[str, Any]:
    op = _get(
        "Models and route aliases (Anthropic's shape with anthropic-version; Codex's catalog with "
        "client_version)",
        auth=True,
    )
    op["get"]["parameters"] = [{"name": "client_version", "in": "query", "schema": {"type": "string"}}]
    return op


_ID = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _stored(summary: str, method: str = "get", extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An operation on a stored response (GET, DELETE, its input items, cancel)."""
    ok = {"200": {"description": summary, "content": {"application/json": {"schema": {"type": "object"}}}}}
    return {
        method: {
            "summary": summary,
            "security": _AUTH,
            "parameters": [*_ID, *(extra or [])],
            "responses": {**ok, **_error_responses(400, 401, 404, 503)},
        }
    }


_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
    {"name": "after", "in": "query", "schema": {"type": "string"}},
]


def openapi_document(models: list[str] | None = None) -> dict[str, Any]:
    """The document; `models` (the routes' names) become examples of `model`, so generated requests
    reach routing and backends rather than stopping at 404."""
    _, defs = models_json_schema(
        [
            (ChatCompletionRequest, "validation"),
            (CompletionRequest, "validation"),
            (EmbeddingRequest, "validation"),
            (ResponsesRequest, "validation"),
            (MessagesRequest, "validation"),
            (CountTokensRequest, "validation"),
            (FeedbackRequest, "validation"),
        ],
        ref_template=_REF,
    )
    schemas = {**defs["$defs"], "Error": _ERROR, "AnthropicError": _ANTHROPIC_ERROR}
    if models:
        for name in (
            "ChatCompletionRequest",
            "CompletionRequest",
            "EmbeddingRequest",
            "ResponsesRequest",
            "MessagesRequest",
            "CountTokensRequest",
        ):
            schemas[name]["properties"]["model"]["examples"] = models
    return {
        "openapi": "3.1.0",
        "info": {"title": "LLM routing gateway", "version": "1"},
        "paths": {
            "/v1/chat/completions": _post("ChatCompletionRequest", "Chat completion", stream=True),
            "/v1/completions": _post("CompletionRequest", "Text completion", stream=True),
            "/v1/embeddings": _post("EmbeddingRequest", "Embeddings", stream=False),
            "/v1/route/explain": _post("ChatCompletionRequest", "Routing decision only", stream=False),
            "/v1/responses": {
                **_post("ResponsesRequest", "Create a response (Responses API)", stream=True),
                **_socket(),
            },
            "/v1/responses/input_tokens": _post(
                "ResponsesRequest", "Count a response's input tokens (nothing generated)", stream=False
            ),
            "/v1/responses/compact": _post("ResponsesRequest", "Compact a conversation", stream=False),
            "/v1/responses/{response_id}": {
                **_stored("A stored response"),
                **_stored("Delete a stored response", "delete"),
            },
            "/v1/responses/{response_id}/input_items": _stored(
                "A stored response's input items", extra=_PAGING
            ),
            "/v1/responses/{response_id}/cancel": _stored("Cancel (no background mode: always 400)", "post"),
            "/v1/messages": _anthropic_post(
                "MessagesRequest", "Create a message (Anthropic Messages API)", True
            ),
            "/v1/messages/count_tokens": _anthropic_post(
                "CountTokensRequest", "Count a message's input tokens", stream=False
            ),
            "/v1/feedback": _post("FeedbackRequest", "Rate one of your answers (by its id)", stream=False),
            "/v1/models": _models(),
            "/healthz": _get("Liveness"),
            "/readyz": _get("Readiness"),
            "/metrics": _get("Prometheus metrics", media="text/plain"),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
