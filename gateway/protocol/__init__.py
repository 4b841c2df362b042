"""The OpenAI wire format (request models, usage, SSE framing) and the request view downstream reads."""

from gateway.protocol.call import Call
from gateway.protocol.openai import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIRequest,
    parse_json,
    parse_request,
)
from gateway.protocol.sse import DONE, DONE_MARK
from gateway.protocol.usage import BYTES_PER_TOKEN, Usage, estimated_usage, stream_usage, usage_of
from gateway.protocol.view import (
    Endpoint,
    Message,
    RequestView,
    chat_view,
    completion_view,
    embedding_view,
    messages_view,
    responses_view,
)

__all__ = [
    "BYTES_PER_TOKEN",
    "DONE",
    "DONE_MARK",
    "Call",
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "EmbeddingRequest",
    "Endpoint",
    "Message",
    "OpenAIRequest",
    "RequestView",
    "Usage",
    "chat_view",
    "completion_view",
    "embedding_view",
    "estimated_usage",
    "messages_view",
    "parse_json",
    "parse_request",
    "responses_view",
    "stream_usage",
    "usage_of",
]
