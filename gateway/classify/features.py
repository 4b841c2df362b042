"""Request → features, from the request alone: no model call, no I/O, tens of microseconds.

The text features look at the tail of the last user message: in few-shot and chat prompts the question
being asked sits at the end, and a bounded slice keeps the cost flat however long the prompt is.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.protocol import RequestView

__all__ = ["TAIL_CHARS", "Features", "dense_vector", "extract", "words"]

TAIL_CHARS = 512  # about the last 128 tokens
_WORD = re.compile(r"[a-z0-9_]+|[^\sa-z0-9_]")
_ARITH = re.compile(r"\d\s*[-+*/^=<>]\s*\d")
# Cue words, matched against the tokens already split for the scorer: one pass over the text, not
# one case-insensitive regex each (which cost 5x the whole extraction).
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
    "tradeoffs step-by-step".split()
)


@dataclass(frozen=True, slots=True)
class Features:
    prompt_tokens: int  # estimate: ~4 characters a token, as OpenAI's rule of thumb
    turns: int  # user messages
    system: bool
    code: bool
    math: bool
    reasoning: bool
    tools: bool
    json_schema: bool
    max_tokens: int | None
    non_english: bool  # a large share of non-ASCII letters
    images: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def extract(view: RequestView) -> tuple[Features, list[str]]:
    """Features of a request, and the tokens the scorer reads."""
    chars, turns, system, images, last_user = 0, 0, False, False, ""
    for m in view.messages:
        chars += len(m.text)
        images = images or m.images > 0
        role = m.role
        if role == "user":
            turns += 1
            last_user = m.text
        elif role in ("system", "developer"):
            system = True
    tail = last_user[-TAIL_CHARS:]
    toks = _WORD.findall(tail.lower())
    vocab = set(toks)
    feats = Features(
        prompt_tokens=chars // 4 + 1,
        turns=turns,
        system=system,
        code="```" in tail or not _CODE.isdisjoint(vocab),
        math=not _MATH.isdisjoint(vocab) or _ARITH.search(tail) is not None,
        reasoning=not _REASON.isdisjoint(vocab) or "step by step" in tail,
        tools=view.tools,
        json_schema=view.json_schema,
        max_tokens=view.output_tokens,
        # UTF-8 grows by a byte or more per non-ASCII character: a C-speed count of them.
        non_english=len(tail.encode()) - len(tail) > 0.3 * max(len(tail), 1),
        images=images,
    )
    return feats, words(toks)


def words(toks: list[str]) -> list[str]:
    """Unigrams and bigrams of the text slice: the scorer's sparse vocabulary."""
    return toks + [a + " " + b for a, b in itertools.pairwise(toks)]


def dense_vector(f: Features) -> dict[str, float]:
    """Named numeric features, scaled to about [0, 1]."""
    return {
        "log_prompt_tokens": math.log1p(f.prompt_tokens) / 10.0,
        "turns": min(f.turns, 10) / 10.0,
        "system": float(f.system),
        "code": float(f.code),
        "math": float(f.math),
        "reasoning": float(f.reasoning),
        "tools": float(f.tools),
        "json_schema": float(f.json_schema),
        "log_max_tokens": math.log1p(f.max_tokens or 0) / 10.0,
        "non_english": float(f.non_english),
        "images": float(f.images),
    }
