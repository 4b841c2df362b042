"""What a question determines, and whether a draft gives it.

`Solution` is the answer a question determines (solve.py finds it); `judge(solution, draft,
answer)` reads the draft's first DRAFT_CHARS characters and says whether it gives that answer:
True, False, or None where it names no answer of the kind. The number forms both sides read are
here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["NUM", "NUM_RE", "Solution", "as_text", "judge", "number"]

DRAFT_CHARS = 200
NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|-?\d+(?:\.\d+)?"
NUM_RE = re.compile(NUM)


@dataclass(frozen=True, slots=True)
class Solution:
    """The answer a question determines, in the form a draft is compared by."""

    kind: str  # "yesno", "number", "word", "char", "pick" (one of `candidates`), "list", "letter"
    answer: str  # "yes"/"no", a number as text, a word, the items in order joined by spaces, a letter
    value: float | None = None  # for "number"
    cased: bool = False  # a "word" compared with its case (upper/lower-case questions)
    candidates: tuple[str, ...] = ()  # for "pick" and "list": what the draft may name, lowercase
    given: tuple[str, ...] = ()  # candidates the question names itself (a draft may echo them)


def number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def as_text(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


_LEAD = re.compile(
    r"(?i)^\W*(?:(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|result)\s*(?:is)?\s*[:=]?\s*)?[\W_]*"
)
_TOKEN = re.compile(r"[A-Za-z]+|-?\d+(?:[.,]\d+)*")


def _tokens(text: str) -> list[str]:
    return [t.replace(",", "") if t[0].isdigit() or t[0] == "-" else t for t in _TOKEN.findall(text)]


def _norm(tok: str) -> str:
    if tok[0].isdigit() or tok[0] == "-":
        n = number(tok)
        return tok if n is None else as_text(n)
    return tok.lower()


def judge(solution: Solution, draft: str, answer: str | None) -> bool | None:
    """Whether the draft gives the solution's answer; None where it names none of that kind.

    `answer` is checks.final_answer's reading of the draft (a yes/no, an option letter); numbers are
    compared by the caller through Expectation.value.
    """
    kind = solution.kind
    if kind in ("yesno", "letter"):
        return None if answer is None else answer == solution.answer
    if kind == "number":
        return None
    if kind == "char":
        return _judge_char(solution.answer, draft[:DRAFT_CHARS])
    head = _LEAD.sub("", draft[:DRAFT_CHARS].strip(), count=1)
    toks = _tokens(head)
    if not toks:
        return None
    if kind == "word":
        said = toks[:12] if solution.cased else [t.lower() for t in toks[:12]]
        return (solution.answer if solution.cased else solution.answer.lower()) in said
    named = [t for t in (_norm(t) for t in toks) if t in solution.candidates]
    if kind == "list":
        items = solution.answer.split()
        if len(named) < len(items):
            return False if named else None
        return named[-len(items) :] == items
    # pick: the draft's first word when it is a candidate, else the one candidate it names that the
    # question did not ("3 days after Friday is Monday"); a draft naming several others says nothing.
    if not named:
        return None
    if _norm(toks[0]) in solution.candidates:
        return _norm(toks[0]) == solution.answer
    fresh = [t for t in dict.fromkeys(named) if t not in solution.given]
    if len(fresh) == 1:
        return fresh[0] == solution.answer
    if not fresh and len(set(named)) == 1:
        return named[0] == solution.answer
    return None


_QUOTED_CHAR = re.compile(r"[\"'\u201c\u2018]([A-Za-z])[\"'\u201d\u2019]")
_LONE_CHAR = re.compile(r"(?<![A-Za-z'])([A-Za-z])(?![A-Za-z'])")


def _judge_char(answer: str, head: str) -> bool | None:
    """A letter named in quotes, else the first lone letter that is not the article "a" or "I"."""
    m = _QUOTED_CHAR.search(head)
    if m is None:
        m = next((c for c in _LONE_CHAR.finditer(head) if c.group(1) not in "aAI"), None)
        if m is None:
            return None
    return m.group(1).lower() == answer
