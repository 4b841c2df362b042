"""How many tokens a prompt is: counted exactly where a backend can (the embedded model tokenizes it),
estimated from the request everywhere else, without a tokenizer and without I/O.

The estimate reads what the model will read: the text of every message (tool calls' names and
arguments included), a few tokens per message for the chat template's framing, a fixed count per
image, and the tools' JSON. Measured against SmolLM2's own tokenizer and chat template on the 3,464
prompts of ../shared/data (`loadtests/token_estimate.py`; tools counted as their JSON tokenized, as
templates that render tools do): for prompts of 256 tokens or more, within -3 % / +5 % of the exact
count (5th / 95th percentile, median -1 %); shorter ones within -25 / +9 tokens (a template's own
framing, such as SmolLM2's default system prompt, is most of them). Tool JSON is estimated high
(3.5 characters a token where SmolLM2 takes 3.8): Claude Code's requests, two-thirds tool JSON, come
out 10 % high (13,659 against 12,376 for its first turn). Other tokenizers differ from SmolLM2's by
their own ±10-20 %: the margin a context window keeps (routing/context.py) covers that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = [
    "CHARS_PER_TOKEN",
    "IMAGE_TOKENS",
    "JSON_CHARS_PER_TOKEN",
    "MESSAGE_TOKENS",
    "TokenCount",
    "chat_prompt_tokens",
    "text_tokens",
]

# Characters of prose, code and tool JSON per token (SmolLM2's 49k BPE vocabulary, fitted to the
# 60th percentile of the measured ratios so the estimate leans high: loadtests/token_estimate.py).
CHARS_PER_TOKEN = 3.6
JSON_CHARS_PER_TOKEN = 3.5
MESSAGE_TOKENS = 5  # the chat template's framing of one message (<|im_start|>role\n ... <|im_end|>\n)
IMAGE_TOKENS = 768  # vision encoders take 256 to ~1,600 tokens an image; a middle figure
_PRIMER = 3  # the generation prompt (<|im_start|>assistant\n)
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A prompt's tokens for one backend: `exact` when its own tokenizer counted them."""

    tokens: int
    exact: bool


def text_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _content(content: Any) -> tuple[int, int]:
    """(characters of text, images) of a chat message's content."""
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    chars += len(text)
                elif part.get("type") in _IMAGE_PARTS:
                    images += 1
    return chars, images


def chat_prompt_tokens(messages: Any, tools: Any = None) -> int:
    """The estimated prompt of a chat completion request (its `messages` and `tools`)."""
    chars = images = count = 0
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, dict):
            continue
        count += 1
        c, i = _content(m.get("content"))
        chars += c
        images += i
        for call in m.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                chars += len(str(fn.get("name") or "")) + len(str(fn.get("arguments") or ""))
    tool_chars = len(_encode(tools)) if tools else 0
    return (
        text_tokens(chars)
        + count * MESSAGE_TOKENS
        + images * IMAGE_TOKENS
        + math.ceil(tool_chars / JSON_CHARS_PER_TOKEN)
        + _PRIMER
    )
