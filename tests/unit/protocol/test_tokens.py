"""The token estimate (protocol/tokens.py), by tables: what it reads of a request and what it adds up.
Its error against a real tokenizer is measured by loadtests/token_estimate.py, not here."""

from __future__ import annotations

import math

from gateway.protocol import chat_view, completion_view, responses_view
from gateway.protocol.tokens import (
    CHARS_PER_TOKEN,
    IMAGE_TOKENS,
    JSON_CHARS_PER_TOKEN,
    MESSAGE_TOKENS,
    chat_prompt_tokens,
    text_tokens,
)

PRIMER = 3


def test_text_messages_count_their_characters_and_their_framing() -> None:
    messages = [{"role": "system", "content": "x" * 36}, {"role": "user", "content": "y" * 72}]
    assert chat_prompt_tokens(messages) == math.ceil(108 / CHARS_PER_TOKEN) + 2 * MESSAGE_TOKENS + PRIMER


def test_parts_images_tool_calls_and_tools_all_count() -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "a" * 36}, {"type": "image_url", "image_url": {}}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "b" * 35}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "c" * 36},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    tool_json = len('[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]')
    expected = (
        text_tokens(36 + 36 + 36)
        + 3 * MESSAGE_TOKENS
        + IMAGE_TOKENS
        + math.ceil(tool_json / JSON_CHARS_PER_TOKEN)
        + PRIMER
    )
    assert chat_prompt_tokens(messages, tools) == expected


def test_malformed_shapes_count_as_nothing_rather_than_fail() -> None:
    assert chat_prompt_tokens("not a list") == PRIMER
    assert chat_prompt_tokens([5, {"role": "user", "content": 7}]) == MESSAGE_TOKENS + PRIMER


def test_every_view_estimates_its_prompt_once() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello there"}], "tools": []}
    view = chat_view(body, 100)
    assert view.prompt_tokens == chat_prompt_tokens(body["messages"])
    body["messages"].append({"role": "user", "content": "x" * 1000})
    assert view.prompt_tokens == chat_prompt_tokens(body["messages"][:1])  # computed once
    assert completion_view({"model": "m", "prompt": "x" * 36}, 50).prompt_tokens == 10 + MESSAGE_TOKENS
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 36}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "y" * 35},
        {"type": "function_call_output", "call_id": "c", "output": "z" * 36},
    ]
    raw = {"model": "m", "instructions": "i" * 36, "tools": [{"type": "function", "name": "f"}]}
    responses = responses_view(raw, items, 300)
    tools = math.ceil(len('[{"type":"function","name":"f"}]') / JSON_CHARS_PER_TOKEN)
    expected = text_tokens(108) + 3 * MESSAGE_TOKENS + text_tokens(36) + tools + PRIMER
    assert responses.prompt_tokens == expected
