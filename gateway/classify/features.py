"""Request view → named request features and the bounded text slice the scorer embeds; no I/O, ~10 µs.

The text features look at the tail of the last user message: in few-shot and chat prompts the question
being asked sits at the end, and a bounded slice keeps the cost flat however long the prompt is. The
slice the scorer embeds adds the head of the system prompt (what the assistant is asked to be).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.classify.view import PromptView

__all__ = ["SYSTEM_HEAD_CHARS", "TAIL_CHARS", "Features", "profile", "prompt_slice"]

TAIL_CHARS = 512  # about the last 128 tokens of the last user message
SYSTEM_HEAD_CHARS = 128  # and the first ~32 tokens of the system prompt
_WORD = re.compile(r"[a-z0-9_]+")
_ARITH = re.compile(r"\d\s*[-+*/^=<>]\s*\d")
# Cue words, matched against one split of the tail into words: one pass over the text, not one
# case-insensitive regex each (which cost 5x the whole extraction).
_CODE = frozenset(
    "def class function return import include lambda python javascript typescript java sql rust golang "
    "bash regex code program script compile bug stack exception".split()
)
_MATH = frozenset(
    "solve equation integral derivative probability calculate compute prove theorem sqrt frac sum "
    "matrix math".split()
)
_REASON = frozenset(
    "explain why analyze analyse compare evaluate justify reason reasoning plan design tradeoff "
    "tradeoffs".split()
)
_SYSTEM_ROLES = frozenset(("system", "developer"))


@dataclass(frozen=True, slots=True)
class Features:
    prompt_tokens: int  # estimate over every message: ~4 characters a token, OpenAI's rule of thumb
    turns: int  # user messages
    system: bool
    code: bool
    math: bool
    reasoning: bool
    tools: bool
    json_schema: bool
    output_tokens: int | None  # what the request asks for at most (max_tokens and kin)
    non_english: bool  # a large share of non-ASCII letters in the tail
    images: int

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies every value, 5x the cost for a flat record.
        return {k: getattr(self, k) for k in _FIELDS}

    @property
    def log_prompt_tokens(self) -> float:
        """The length prior the scorer starts from."""
        return math.log(self.prompt_tokens)


_FIELDS = tuple(f.name for f in fields(Features))


def _last_user(view: PromptView) -> str:
    last = ""
    for m in view.messages:
        if m.role == "user":
            last = m.text
    return last


def profile(view: PromptView) -> Features:
    """The request's features; cheap enough to run on every routed request."""
    chars, turns, system, images, last_user = 0, 0, False, 0, ""
    for m in view.messages:
        text = m.text
        chars += len(text)
        images += m.images
        role = m.role
        if role == "user":
            turns += 1
            last_user = text
        elif role in _SYSTEM_ROLES:
            system = True
    tail = last_user[-TAIL_CHARS:]
    low = tail.lower()
    vocab = set(_WORD.findall(low))
    return Features(
        prompt_tokens=chars // 4 + 1,
        turns=turns,
        system=system,
        code="```" in tail or not _CODE.isdisjoint(vocab),
        math=not _MATH.isdisjoint(vocab) or _ARITH.search(tail) is not None,
        reasoning=not _REASON.isdisjoint(vocab) or "step by step" in low or "step-by-step" in low,
        tools=view.tools,
        json_schema=view.json_schema,
        output_tokens=view.output_tokens,
        # UTF-8 grows by a byte or more per non-ASCII character: a C-speed count of them.
        non_english=len(tail.encode()) - len(tail) > 0.3 * max(len(tail), 1),
        images=images,
    )


def prompt_slice(view: PromptView) -> str:
    """What the scorer embeds: the system prompt's head and the last user message's tail, bounded."""
    head = ""
    for m in view.messages:
        if m.role in _SYSTEM_ROLES:
            head = m.text[:SYSTEM_HEAD_CHARS]
            break
    tail = _last_user(view)[-TAIL_CHARS:]
    return f"{head}\n{tail}" if head else tail
