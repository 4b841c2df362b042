"""The Anthropic Messages API: its request, its translation to chat, its messages, events and errors."""

from gateway.protocol.anthropic.errors import OVERLOADED, envelope, status_of
from gateway.protocol.anthropic.message import new_id
from gateway.protocol.anthropic.request import CountTokensRequest, MessagesRequest, check
from gateway.protocol.anthropic.stream import MessageTranslation, frame
from gateway.protocol.anthropic.to_chat import ChatForm, chat_body

__all__ = [
    "OVERLOADED",
    "ChatForm",
    "CountTokensRequest",
    "MessageTranslation",
    "MessagesRequest",
    "chat_body",
    "check",
    "envelope",
    "frame",
    "new_id",
    "status_of",
]
