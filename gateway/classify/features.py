"""Request view → named request features and the bounded text slice the scorer embeds; no I/O, ~2 µs
(the text cues, read when asked for: ~40 µs more).

The text features look at the tail of the last user message: in few-shot and chat prompts the question
being asked sits at the end, and a bounded slice keeps the cost flat however long the prompt is. The
slice the scorer embeds adds the head of the system prompt (what the assistant is asked to be).

Agent turns (a request with an assistant message or tool results: a coding agent resends its
10-30k-token system prompt, tools and the conversation every turn) are read by what changed since the
last assistant message, the delta: the new user message or the tool results the agent reacts to.
Its length is the turn's length (`turn_tokens`, what the scorer's length signal reads), and the slice
is the system prompt's head and the delta's tail, the task's tail (the last user message's) first
when the delta is only tool results. The static prefix (system prompt, tools) then counts once, as
which family the turn lands in, not as every turn's length. A request without an assistant message
or tool results is read as it always was (turn_tokens = prompt_tokens).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gateway.classify.view import PromptMessage, PromptView

__all__ = ["SYSTEM_HEAD_CHARS", "TAIL_CHARS", "TASK_CHARS", "Features", "profile", "prompt_slice"]

TAIL_CHARS = 512  # about the last 128 tokens of the last user message
SYSTEM_HEAD_CHARS = 128  # and the first ~32 tokens of the system prompt
TASK_CHARS = 128  # of the last user message, ahead of tool results in an agent turn's slice
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
        "turn_tokens",
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
        turn_tokens: int | None = None,  # an agent turn's delta (module doc); else prompt_tokens
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.turn_tokens = prompt_tokens if turn_tokens is None else turn_tokens
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
                len(tail.encode("utf-8", "surrogatepass")) - len(tail) > 0.3 * max(len(tail), 1),
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
        """The length prior the scorer starts from: the turn's (the whole prompt's but in agent turns)."""
        return math.log(self.turn_tokens)


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
    "turn_tokens",
)


def profile(view: PromptView) -> Features:
    """The request's features; cheap enough to run on every routed request."""
    chars, turns, system, images, last_user = 0, 0, False, 0, ""
    delta, agent = 0, False  # characters since the last assistant message; an agent turn
    for m in view.messages:
        text = m.text
        n = len(text)
        chars += n
        images += m.images
        role = m.role
        if role == "user":
            turns += 1
            last_user = text
            delta += n
        elif role in _SYSTEM_ROLES:
            system = True
        elif role == "assistant":
            agent = True
            delta = 0
        else:  # tool (or function) results
            agent = True
            delta += n
    return Features(
        prompt_tokens=chars // 4 + 1,
        turns=turns,
        system=system,
        tools=view.tools,
        json_schema=view.json_schema,
        output_tokens=view.output_tokens,
        images=images,
        tail=last_user[-TAIL_CHARS:],
        turn_tokens=delta // 4 + 1 if agent else None,
    )


def _delta_tail(messages: Sequence[PromptMessage], start: int, chars: int) -> str:
    """The last `chars` characters of the non-system messages from `start` on, joined by newlines,
    read from the end (a 100,000-character tool result is not copied whole)."""
    parts: list[str] = []
    held = 0
    for i in range(len(messages) - 1, start - 1, -1):
        m = messages[i]
        if m.role in _SYSTEM_ROLES:
            continue
        text = m.text
        parts.append(text[-(chars - held) :] if chars > held else "")
        held += len(text) + 1
        if held >= chars:
            break
    return "\n".join(reversed(parts))[-chars:] if parts else ""


def prompt_slice(view: PromptView) -> str:
    """What the scorer embeds: the system prompt's head and the last user message's tail, bounded; in
    an agent turn, the head and the delta's tail (the task's tail first when the delta is only tool
    results)."""
    messages = view.messages
    head, last_user, last_assistant, agent, user_after = "", "", -1, False, False
    for i, m in enumerate(messages):
        role = m.role
        if role == "user":
            last_user = m.text
            user_after = True
        elif role in _SYSTEM_ROLES:
            if not head:
                head = m.text[:SYSTEM_HEAD_CHARS]
        elif role == "assistant":
            agent, last_assistant, user_after = True, i, False
        else:
            agent = True
    if not agent:
        tail = last_user[-TAIL_CHARS:]
    elif user_after or not last_user:
        tail = _delta_tail(messages, last_assistant + 1, TAIL_CHARS)
    else:  # tool results only: the task's tail, then the results' tail
        results = _delta_tail(messages, last_assistant + 1, TAIL_CHARS - TASK_CHARS - 1)
        tail = f"{last_user[-TASK_CHARS:]}\n{results}"
    return f"{head}\n{tail}" if head else tail
