"""Request view → named request features and the bounded text slice the scorer embeds; no I/O, ~2 µs
(the text cues, read when asked for: ~40 µs more).

The text features look at the tail of the last user message: in few-shot and chat prompts the question
being asked sits at the end, and a bounded slice keeps the cost flat however long the prompt is. The
slice the scorer embeds adds the head of the system prompt (what the assistant is asked to be).
"""

from __future__ import annotations

import math
import re
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


class Features:
    """A request's features. The text cues (code, math, reasoning, non_english) are read from the last
    user message's tail when first asked for: they are most of profiling's cost (a regex pass and a
    set of words), and the shipped scorer reads none of them, so a request routed by it never pays."""

    __slots__ = (
        "_cues",
        "_tail",
        "images",
        "json_schema",
        "output_tokens",
        "prompt_tokens",
        "system",
        "tools",
        "turns",
    )

    def __init__(
        self,
        *,
        prompt_tokens: int,  # estimate over every message: ~4 characters a token, OpenAI's rule of thumb
        turns: int,  # user messages
        system: bool,
        tools: bool,
        json_schema: bool,
        output_tokens: int | None,  # what the request asks for at most (max_tokens and kin)
        images: int,
        tail: str,  # the last user message's last TAIL_CHARS characters
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.turns = turns
        self.system = system
        self.tools = tools
        self.json_schema = json_schema
        self.output_tokens = output_tokens
        self.images = images
        self._tail = tail
        self._cues: tuple[bool, bool, bool, bool] | None = None

    def _text_cues(self) -> tuple[bool, bool, bool, bool]:
        cues = self._cues
        if cues is None:
            tail = self._tail
            low = tail.lower()
            vocab = set(_WORD.findall(low))
            cues = self._cues = (
                "```" in tail or not _CODE.isdisjoint(vocab),
                not _MATH.isdisjoint(vocab) or _ARITH.search(tail) is not None,
                not _REASON.isdisjoint(vocab) or "step by step" in low or "step-by-step" in low,
                # UTF-8 grows by a byte or more per non-ASCII character: a C-speed count of them.
                len(tail.encode()) - len(tail) > 0.3 * max(len(tail), 1),
            )
        return cues

    @property
    def code(self) -> bool:
        return self._text_cues()[0]

    @property
    def math(self) -> bool:
        return self._text_cues()[1]

    @property
    def reasoning(self) -> bool:
        return self._text_cues()[2]

    @property
    def non_english(self) -> bool:
        """A large share of non-ASCII letters in the tail."""
        return self._text_cues()[3]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Features) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the dataclass it was

    def __repr__(self) -> str:
        return f"Features({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"

    @property
    def log_prompt_tokens(self) -> float:
        """The length prior the scorer starts from."""
        return math.log(self.prompt_tokens)


# In the order the decision log and `explain` have always shown them.
_FIELDS = (
    "prompt_tokens",
    "turns",
    "system",
    "code",
    "math",
    "reasoning",
    "tools",
    "json_schema",
    "output_tokens",
    "non_english",
    "images",
)


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
    return Features(
        prompt_tokens=chars // 4 + 1,
        turns=turns,
        system=system,
        tools=view.tools,
        json_schema=view.json_schema,
        output_tokens=view.output_tokens,
        images=images,
        tail=last_user[-TAIL_CHARS:],
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
