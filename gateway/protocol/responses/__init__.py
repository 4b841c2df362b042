"""The OpenAI Responses API: its request, its translation to and from chat, its objects and events."""

from gateway.protocol.responses.native import NativeTap
from gateway.protocol.responses.objects import echo, new_id
from gateway.protocol.responses.request import ResponsesRequest, hosted_tools, input_items, native_only
from gateway.protocol.responses.stream import Translation, frame
from gateway.protocol.responses.to_chat import chat_body

__all__ = [
    "NativeTap",
    "ResponsesRequest",
    "Translation",
    "chat_body",
    "echo",
    "frame",
    "hosted_tools",
    "input_items",
    "native_only",
    "new_id",
]
