"""Questions whose answer the question itself determines, answered without a model.

A small model's draft can be checked against the answer when the question states everything needed
to compute it: "Is 91 a prime number?", "Which is larger, 0.5 or 0.45?", "How many r's are in
'strawberry'?", "Spell 'listen' backwards.", "Sort 7, 2, 9 from smallest to largest.", "What comes
next: 3, 6, 9, 12?", "What day is 3 days after Friday?", a lettered question asking for the largest
of numeric options. Arithmetic the question states ("What is 17 + 26?") is recompute.py's.

`solve(question, options)` reads the question's last sentences and returns a `Solution` (or None:
most questions state nothing computable, and a question read wrongly would mark a good draft
wrong, so every form is strict); the forms are in solve_numbers.py and solve_words.py. `judge`
(solution.py) says whether a draft gives that answer. Pure string work on the question's last
QUESTION_CHARS characters: a few microseconds, most questions stopped by the cheap gates.
"""

from __future__ import annotations

import re

from gateway.classify import solve_numbers, solve_words
from gateway.classify.solution import NUM_RE, Solution

__all__ = ["solve"]

QUESTION_CHARS = 300
_SPLIT = re.compile(r"[!?\n]\s*|\.\s+")  # "3.5" stays whole: a sentence's full stop has a space
_OPTION_LINE = re.compile(r"(?m)^[ \t]*\(?[A-J][).:].*$")
_DIGIT = re.compile(r"\d")
_WORDY = re.compile(r"backward|revers|case\b|capital|caps\b|alphabetical|day\b|days\b|month")


def _segments(tail: str) -> list[tuple[str, str]]:
    """The last three sentences, last first: (as written, lowercase), without their end punctuation."""
    out = []
    for part in reversed(_SPLIT.split(tail)):
        raw = part.strip().rstrip(".").strip()
        if raw:
            out.append((raw, raw.lower()))
            if len(out) == 3:
                break
    return out


def solve(question: str, options: dict[str, str] | None = None) -> Solution | None:
    """The answer the question determines, or None (see the module's docstring)."""
    tail = question[-QUESTION_CHARS:]
    if options:
        if not all(NUM_RE.fullmatch(v.strip().rstrip(".")) for v in options.values()):
            return None  # only numeric options can be the largest or the smallest
        for _, seg in _segments(_OPTION_LINE.sub("", tail)):
            if (s := solve_numbers.pick(seg, options)) is not None:
                return s
        return None
    # Cheap gates first: most questions hold no digit and none of the few words the forms start from.
    for raw, seg in _segments(tail):
        digits = _DIGIT.search(seg) is not None
        if digits and (truth := solve_numbers.statement(seg)) is not None:
            return Solution("yesno", "yes" if truth else "no")
        if seg.startswith("how many") and (s := solve_words.counting(seg)) is not None:
            return s
        if " letter " in seg and (s := solve_words.position(seg)) is not None:
            return s
        if digits and (s := solve_numbers.worded(seg)) is not None:
            return s
        if _WORDY.search(seg) is not None and (
            (s := solve_words.transform(seg, raw))
            or (s := solve_numbers.sort(seg))
            or (s := solve_words.calendar(seg))
        ):
            return s
        if digits and (
            (s := solve_numbers.sort(seg))
            or (s := solve_numbers.pick(seg, {}))
            or (s := solve_numbers.sequence(seg))
        ):
            return s
    return None
