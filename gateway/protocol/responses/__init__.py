"""The OpenAI Responses API: its request, its translation to and from chat, its objects and events."""

from gateway.protocol.responses.compaction import COMPACT_PROMPT, Compacting, compacted, native_items
from gateway.protocol.responses.native import NativeTap
from gateway.protocol.responses.objects import new_id, response_object, usage_of_chat
from gateway.protocol.responses.request import ResponsesRequest, echo, hosted_tools, input_items, native_only
from gateway.protocol.responses.stream import Translation, frame
from gateway.protocol.responses.to_chat import chat_body
from gateway.protocol.responses.tools import ChatTools

__all__ = [
    "COMPACT_PROMPT",
    "ChatTools",
    "Compacting",
    "NativeTap",
    "ResponsesRequest",
    "Translation",
    "chat_body",
    "compacted",
    "echo",
    "frame",
    "hosted_tools",
    "input_items",
    "native_items",
    "native_only",
    "new_id",
    "response_object",
    "usage_of_chat",
]
