"""OpenAI wire format: the request models the gateway validates, and the parse step that names bad fields.

Validation only guards what the gateway and its backends rely on; the body forwarded upstream is the
client's own JSON (with `model` rewritten), so vendor extras and fields newer than this module pass
through untouched (`extra="allow"`). Fields follow OpenAI's order.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.errors import InvalidRequest

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "EmbeddingRequest",
    "FeedbackRequest",
    "OpenAIRequest",
    "Wire",
    "parse_json",
    "parse_request",
    "validate",
]


class Wire(BaseModel):
    # strict: "5" is not a number and "yes" is not a boolean, as OpenAI answers.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class ContentPart(Wire):
    type: str = Field(min_length=1)


class ChatMessage(Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(Wire):
    include_usage: bool | None = None


class FunctionDef(Wire):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(Wire):
    type: Literal["function"]
    function: FunctionDef


class ResponseFormat(Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _Sampling(Wire):
    """Fields common to chat and text completions, with OpenAI's bounds."""

    model: str = Field(min_length=1, max_length=256)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    max_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=128)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    suffix: str | None = None


class EmbeddingRequest(Wire):
    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


OpenAIRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest

_decoder = msgspec.json.Decoder()


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
_W = TypeVar("_W", bound=Wire)


def _is_type_tag(part: int | str) -> bool:
    # Union members add their type name to pydantic's path; clients only know the JSON path.
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part or "-" in part or part[:1].isupper())


def _param(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if not _is_type_tag(p)) or "body"


def parse_json(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400 that says why not."""
    try:
        raw = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}", code="invalid_json") from exc
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.", code="invalid_json") from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return raw


def parse_request(body: bytes, model: type[_W]) -> tuple[_W, dict[str, Any]]:
    """Decode and validate a request body; returns the model and the raw dict forwarded upstream."""
    raw = parse_json(body)
    return validate(raw, model), raw


def validate(raw: dict[str, Any], model: type[_W]) -> _W:
    """A decoded body against its wire model; a 400 naming the first bad field otherwise."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        param = _param(first["loc"])
        more = exc.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise InvalidRequest(
            f"Invalid value for '{param}': {first['msg']}{suffix}", param=param, code="invalid_value"
        ) from exc


class FeedbackRequest(Wire):
    """POST /v1/feedback: a client's judgement of one of its answers (the gateway's extension)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1, max_length=256)
    score: float | None = Field(None, ge=-1, le=1)
    label: Literal["good", "bad"] | None = None
    comment: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _judged(self) -> FeedbackRequest:
        if self.score is None and self.label is None:
            raise ValueError("give a `score` (-1 to 1) or a `label` (good or bad)")
        return self
