"""Questions whose answer the question itself determines, answered without a model.

A small model's draft can be checked against the answer when the question states everything needed
to compute it: "Is 91 a prime number?", "Which is larger, 0.5 or 0.45?", "How many r's are in
'strawberry'?", "Spell 'listen' backwards.", "Sort 7, 2, 9 from smallest to largest.", "What comes
next: 3, 6, 9, 12?", "What day is 3 days after Friday?", a lettered question asking for the largest
of numeric options. Arithmetic the question states ("What is 17 + 26?") is recompute.py's.

`solve(question, options)` reads the question's last sentences and returns a `Solution` (or None:
most questions state nothing computable, and a question read wrongly would mark a good draft
wrong, so every form is strict). `judge(solution, draft, answer)` says whether the draft gives that
answer: True, False, or None where the draft names no answer of the kind. Pure string work on the
question's last QUESTION_CHARS characters and the draft's first DRAFT_CHARS: a few microseconds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from gateway.classify.recompute import question_value

__all__ = ["Solution", "judge", "solve"]

QUESTION_CHARS = 300
DRAFT_CHARS = 200
_NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|-?\d+(?:\.\d+)?"
_NUM_RE = re.compile(_NUM)
_EXPR = r"[-\d.,+*/x\u00d7\u00f7^() ]+?"
_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
_COUNT = rf"(\d+|{'|'.join(_SMALL)})"
_WORD = r"[\"'\u201c\u2018]?([A-Za-z][A-Za-z-]*)[\"'\u201d\u2019]?"
_QUOTED = r"[\"\u201c\u2018']([^\"\u201d\u2019]{1,80}?)[\"\u201d\u2019']"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(
    "january february march april may june july august september october november december".split()
)
_MORE = frozenset(("larger", "bigger", "greater", "higher", "more", "largest", "biggest", "greatest"))
_MORE |= {"highest", "most", "maximum"}
_LESS = frozenset(("smaller", "less", "lower", "fewer", "smallest", "lowest", "least", "fewest", "minimum"))
_VOWELS = frozenset("aeiou")


@dataclass(frozen=True, slots=True)
class Solution:
    """The answer a question determines, in the form a draft is compared by."""

    kind: str  # "yesno", "number", "word", "char", "pick" (one of `candidates`), "list", "letter"
    answer: str  # "yes"/"no", a number as text, a word, the items in order joined by spaces, a letter
    value: float | None = None  # for "number"
    cased: bool = False  # a "word" compared with its case (upper/lower-case questions)
    candidates: tuple[str, ...] = ()  # for "pick" and "list": what the draft may name, lowercase
    given: tuple[str, ...] = ()  # candidates the question names itself (a draft may echo them)


_SPLIT = re.compile(r"[!?\n]\s*|\.\s+")  # "3.5" stays whole: a sentence's full stop has a space
_OPTION_LINE = re.compile(r"(?m)^[ \t]*\(?[A-J][).:].*$")


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


_LIST = re.compile(rf"(?:{_NUM})(?:\s*(?:,\s*(?:or\s+|and\s+)?|or\s+|and\s+)(?:{_NUM}))+")


def _number_list(seg: str) -> list[float] | None:
    """The numbers of the segment when they are all one list ("3, 8 and 5", "0.5 or 0.45")."""
    nums = _NUM_RE.findall(seg)
    if len(nums) < 2:
        return None
    m = _LIST.search(seg)
    if m is None or len(_NUM_RE.findall(m.group())) != len(nums):
        return None
    return [float(n.replace(",", "")) for n in nums]


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _value(expr: str) -> float | None:
    """A number, or an expression's value ("3 x 4", "(2 + 3) * 4")."""
    expr = expr.strip()
    n = _number(expr)
    if n is not None:
        return n
    return question_value(f"What is {expr}?")


def _text(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _count(word: str) -> int | None:
    return int(word) if word.isdigit() else _SMALL.index(word) if word in _SMALL else None


def _prime(n: float) -> bool | None:
    if not n.is_integer() or n > 10**7:
        return None
    k = int(n)
    return k >= 2 and all(k % d for d in range(2, math.isqrt(k) + 1))


_YN_IS = re.compile(
    rf"^(?:is it true that |true or false\W+|yes or no\W+)?(?:is |are )?({_EXPR})\s+(?:is |are )?"
    r"(?:(an? )?(even|odd|prime|positive|negative)(?: number)?|a (?:perfect )?square(?: number)?"
    rf"|(greater|larger|bigger|more|higher|less|smaller|fewer|lower) than ({_EXPR})"
    rf"|(?:evenly )?divisible by ({_NUM})|a multiple of ({_NUM})|a factor of ({_NUM})"
    rf"|(?:equal to|the same as|=|equals?) ({_EXPR}))$"
)
_YN_DOES = re.compile(rf"^does ({_EXPR}) (?:equal|make|give) ({_EXPR})$")


def _statement(seg: str) -> bool | None:
    """The truth of a statement or yes/no question about numbers, or None when it is not one."""
    m = _YN_DOES.match(seg)
    if m is not None:
        a, b = _value(m.group(1)), _value(m.group(2))
        return None if a is None or b is None else math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    m = _YN_IS.match(seg)
    if m is None or not (seg.startswith(("is ", "are ", "is it true", "true or false", "yes or no"))):
        return None
    a = _value(m.group(1))
    if a is None:
        return None
    prop, cmp_word = m.group(3), m.group(4)
    if prop == "even" or prop == "odd":
        return None if not a.is_integer() else (int(a) % 2 == 0) == (prop == "even")
    if prop == "prime":
        return _prime(a)
    if prop == "positive":
        return a > 0
    if prop == "negative":
        return a < 0
    if cmp_word is not None:
        b = _value(m.group(5))
        return None if b is None else (a > b if cmp_word in _MORE else a < b)
    for group, test in ((6, "div"), (7, "div"), (8, "factor")):
        if m.group(group) is not None:
            b = _number(m.group(group))
            if b is None or b == 0 or not a.is_integer() or not b.is_integer():
                return None
            return a % b == 0 if test == "div" else (b % a == 0 if a else None)
    if m.group(9) is not None:
        b = _value(m.group(9))
        return None if b is None else math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if "square" in seg:
        return a >= 0 and a.is_integer() and math.isqrt(int(a)) ** 2 == int(a)
    return None


_PICK = re.compile(r"\b(?:which|what)\b")
_SUPER = re.compile(
    r"\b(larger|bigger|greater|higher|more|largest|biggest|greatest|highest|maximum|"
    r"smaller|less|lower|fewer|smallest|lowest|least|fewest|minimum)\b"
)


def _pick(seg: str, options: dict[str, str]) -> Solution | None:
    """Which of the numbers the question lists (or of its numeric options) is the largest or the
    smallest."""
    if ("which" not in seg and "what" not in seg) or _PICK.search(seg) is None:
        return None
    words = _SUPER.findall(seg)
    if len(words) != 1:
        return None
    more = words[0] in _MORE
    if options:
        read = {k: _number(v.strip().rstrip(".")) for k, v in options.items()}
        values = {k: v for k, v in read.items() if v is not None}
        if len(values) != len(read):
            return None
        best = (max if more else min)(values, key=values.__getitem__)
        if sum(v == values[best] for v in values.values()) > 1:
            return None
        return Solution("letter", best)
    values_ = _number_list(seg)
    if values_ is None:
        return None
    best_v = max(values_) if more else min(values_)
    if values_.count(best_v) > 1:
        return None
    cands = tuple(_text(v) for v in values_)
    return Solution("pick", _text(best_v), candidates=cands, given=cands)


_LETTERS = re.compile(
    r"^how many (letters|characters|vowels|consonants) (?:are )?(?:there )?(?:in|does) "
    rf"(?:the word )?{_WORD}(?: have| contain)?$"
)
_LETTER = r"[\"'\u201c\u2018]?([a-z])[\"'\u201d\u2019]?"
_TIMES = re.compile(
    rf"^how many times does (?:the letter )?{_LETTER} (?:appear|occur|show up) in (?:the word )?{_WORD}$"
    rf"|^how many {_LETTER}(?:'s|s)? (?:are )?(?:there )?in (?:the word )?{_WORD}$"
)
_WORDS_IN = re.compile(
    rf"^how many words (?:are )?(?:there )?in (?:the|this) (?:sentence|phrase)\W*{_QUOTED}"
)


def _counting(seg: str, raw: str) -> Solution | None:
    m = _LETTERS.match(seg)
    if m is not None:
        word = m.group(2).replace("-", "")
        what = m.group(1)
        n = (
            sum(c in _VOWELS for c in word)
            if what == "vowels"
            else sum(c not in _VOWELS for c in word)
            if what == "consonants"
            else len(word)
        )
        return Solution("number", str(n), float(n))
    m = _TIMES.match(seg)
    if m is not None:
        letter, word = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        n = word.count(letter)
        return Solution("number", str(n), float(n))
    m = _WORDS_IN.search(raw.lower())
    if m is not None:
        n = len(m.group(1).split())
        return Solution("number", str(n), float(n))
    return None


_BACKWARDS = re.compile(
    rf"^(?:spell|write|say) (?:the word )?{_WORD} (?:backwards?|in reverse)$"
    rf"|^reverse (?:the (?:word|string|letters(?: of)?|order of the letters(?: in)?) )?(?:the word )?{_WORD}$"
    rf"|^what is {_WORD} (?:spelled|written) backwards?$"
)
_CASE = re.compile(
    rf"^(?:write|convert|change|put|spell|type|rewrite) (?:the word )?{_WORD} (?:in|to|into|using|with) "
    r"(?:all )?(upper ?case|capital letters|all caps|caps|capitals|lower ?case|small letters)(?: letters)?$"
)


def _transform(seg: str, raw: str) -> Solution | None:
    m = _BACKWARDS.match(seg)
    if m is not None:
        word = next(g for g in m.groups() if g)
        return Solution("word", word[::-1]) if len(word) >= 3 else None
    m = _CASE.match(seg)
    if m is not None:
        start = raw.lower().find(m.group(1))  # the word as the question wrote it
        word = raw[start : start + len(m.group(1))] if start >= 0 else m.group(1)
        upper = m.group(2).replace(" ", "") not in ("lowercase", "smallletters")
        target = word.upper() if upper else word.lower()
        return Solution("word", target, cased=True) if len(word) >= 2 and target != word else None
    return None


_SORT = re.compile(
    r"\b(?:sort|order|arrange|rank|put|list|write)\b.*?\b(ascending|descending|increasing|decreasing|"
    r"smallest to (?:the )?(?:largest|biggest|greatest)|(?:largest|biggest|greatest) to (?:the )?smallest|"
    r"lowest to (?:the )?highest|highest to (?:the )?lowest|least to (?:the )?greatest|"
    r"greatest to (?:the )?least|alphabetical(?:ly)?)\b"
)


def _sort(seg: str, raw: str) -> Solution | None:
    if " to " not in seg and "ending" not in seg and "creasing" not in seg and "alphabetical" not in seg:
        return None
    m = _SORT.search(seg)
    if m is None:
        return None
    how = m.group(1)
    down = how in ("descending", "decreasing") or how.startswith(
        ("largest", "biggest", "greatest to", "highest")
    )
    if how.startswith("alphabetical"):
        colon = raw.rfind(":")
        if colon < 0:
            return None
        items = [w.strip().strip(".?!\"'").lower() for w in re.split(r",|\band\b", raw[colon + 1 :])]
        items = [w for w in items if w]
        if len(items) < 2 or len(set(items)) != len(items) or not all(w.isalpha() for w in items):
            return None
        return Solution("list", " ".join(sorted(items)), candidates=tuple(items), given=tuple(items))
    values = _number_list(seg)
    if values is None or len(set(values)) != len(values):
        return None
    items = [_text(v) for v in sorted(values, reverse=down)]
    cands = tuple(_text(v) for v in values)
    return Solution("list", " ".join(items), candidates=cands, given=cands)


_NEXT = re.compile(r"\b(?:next|comes after|follows|continue|missing)\b")
_RUN = re.compile(rf"(?:(?:{_NUM})\s*,\s*){{2,}}(?:{_NUM})")


def _sequence(seg: str) -> Solution | None:
    if seg.count(",") < 2 or _NEXT.search(seg) is None:
        return None
    runs = _RUN.findall(seg)
    if len(runs) != 1:
        return None
    xs = [float(x) for x in re.split(r"\s*,\s*", runs[0])]
    if len(xs) < 3:
        return None
    steps = [b - a for a, b in itertools.pairwise(xs)]
    second = {b - a for a, b in itertools.pairwise(steps)}
    if len(set(steps)) == 1:
        nxt = xs[-1] + steps[0]
    elif len(xs) >= 4 and len(second) == 1:  # 10, 9, 7, 4: the steps themselves step evenly
        nxt = xs[-1] + steps[-1] + second.pop()
    elif (
        all(a != 0 for a in xs)
        and len({b / a for a, b in itertools.pairwise(xs)}) == 1
        and ((r := xs[1] / xs[0]).is_integer() or (1 / r).is_integer())
    ):
        nxt = xs[-1] * r
    else:
        return None
    return Solution("number", _text(nxt), nxt)


_DAY = "|".join(DAYS)
_MONTH = "|".join(MONTHS)
_CAL_NEXT = re.compile(
    r"^(?:what|which) (day|month)(?: of the (?:week|year))? (?:comes |is |was |will it be )?"
    rf"(?:right |directly |immediately |just )?(after|before) ({_DAY}|{_MONTH})$"
)
_CAL_N = re.compile(rf"\b{_COUNT} (days?|months?) (after|before|from) ({_DAY}|{_MONTH})\b")
_CAL_TODAY = re.compile(
    rf"^if (?:today|this month) is ({_DAY}|{_MONTH}),? what (?:day|month) "
    r"(?:will it be|is it|was it|will be|was) "
    rf"(?:in |after )?{_COUNT} (days?|months?)( ago| earlier| before)?(?: from (?:now|today))?(?: later)?$"
)


def _calendar(seg: str, raw: str) -> Solution | None:
    step = None
    m = _CAL_NEXT.match(seg)
    if m is not None:
        kind, way, start = m.group(1), m.group(2), m.group(3)
        step = (kind, start, 1 if way == "after" else -1)
    elif (m := _CAL_TODAY.match(seg)) is not None:
        n = _count(m.group(2))
        if n is not None:
            step = (m.group(3).rstrip("s"), m.group(1), -n if m.group(4) else n)
    elif seg.startswith(("what", "which")) and (m := _CAL_N.search(seg)) is not None:
        n = _count(m.group(1))
        if n is not None:
            step = (m.group(2).rstrip("s"), m.group(4), -n if m.group(3) == "before" else n)
    if step is None:
        return None
    kind, start, n = step
    names = DAYS if kind == "day" else MONTHS
    if start not in names:
        return None
    answer = names[(names.index(start) + n) % len(names)]
    return Solution("pick", answer, candidates=names, given=(start,))


_ORDINAL = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "last": -1,
}
_NTH = r"(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|\d+)(?:st|nd|rd|th)?"
_POSITION = re.compile(
    rf"^(?:what is |what's |name |which is |tell me )?the {_NTH} letter (?:of|in) "
    rf"(?:the (?:english |latin )?(alphabet)|(?:the word )?{_WORD})$"
)


def _position(seg: str, raw: str) -> Solution | None:
    """ "What is the third letter of the word 'garden'?", "Name the fifth letter of the alphabet." """
    m = _POSITION.match(seg)
    if m is None:
        return None
    nth = int(m.group(1)) if m.group(1).isdigit() else _ORDINAL[m.group(1)]
    word = "abcdefghijklmnopqrstuvwxyz" if m.group(2) else m.group(3).replace("-", "")
    if nth == 0 or nth > len(word):
        return None
    return Solution("char", word[nth - 1] if nth > 0 else word[-1])


_PART = {
    "half": 0.5,
    "one half": 0.5,
    "a half": 0.5,
    "a third": 1 / 3,
    "one third": 1 / 3,
    "a quarter": 0.25,
    "one quarter": 0.25,
    "a fourth": 0.25,
    "one fourth": 0.25,
    "double": 2.0,
    "twice": 2.0,
    "triple": 3.0,
}
_ASK = r"^(?:what is |what's |find |calculate |compute |work out |give |tell me )?"
_WORDED: list[tuple[re.Pattern[str], Callable[..., float | None]]] = [
    (re.compile(rf"{_ASK}({'|'.join(_PART)}) (?:of )?({_NUM})$"), lambda a, b: _PART[a] * float(b)),
    (re.compile(rf"{_ASK}({_NUM}) (squared|cubed)$"), lambda a, b: float(a) ** (2 if b == "squared" else 3)),
    (re.compile(rf"{_ASK}the square root of ({_NUM})$"), lambda a: _root(float(a))),
    (re.compile(rf"{_ASK}({_NUM}) percent of ({_NUM})$"), lambda a, b: float(a) * float(b) / 100),
    (
        re.compile(rf"{_ASK}the (sum|product) of ({_NUM}) and ({_NUM})$"),
        lambda k, a, b: float(a) + float(b) if k == "sum" else float(a) * float(b),
    ),
    (
        re.compile(rf"{_ASK}the difference between ({_NUM}) and ({_NUM})$"),
        lambda a, b: abs(float(a) - float(b)),
    ),
    (re.compile(rf"^(?:take|subtract) ({_NUM}) (?:away )?from ({_NUM})$"), lambda a, b: float(b) - float(a)),
    (
        re.compile(rf"^add ((?:{_NUM})(?:,? (?:{_NUM}))*,? and (?:{_NUM}))(?: together)?$"),
        lambda a: sum(float(x) for x in _NUM_RE.findall(a)),
    ),
]


def _root(x: float) -> float | None:
    r = math.isqrt(int(x)) if x >= 0 and x.is_integer() else -1
    return float(r) if r >= 0 and r * r == x else None


def _worded(seg: str) -> Solution | None:
    """Arithmetic said in words: "half of 86", "15 squared", "the sum of 250 and 750"."""
    for pattern, f in _WORDED:
        m = pattern.match(seg)
        if m is not None:
            groups = [g.replace(",", "") if g and g[0].isdigit() else g for g in m.groups()]
            try:
                v = f(*groups)
            except OverflowError:  # "10...0 cubed" past a float: nothing a draft could state
                return None
            return None if v is None or not math.isfinite(v) else Solution("number", _text(v), v)
    return None


def solve(question: str, options: dict[str, str] | None = None) -> Solution | None:
    """The answer the question determines, or None (see the module's docstring)."""
    tail = question[-QUESTION_CHARS:]
    if options:
        if not all(_NUM_RE.fullmatch(v.strip().rstrip(".")) for v in options.values()):
            return None  # only numeric options can be the largest or the smallest
        for _, seg in _segments(_OPTION_LINE.sub("", tail)):
            if (s := _pick(seg, options)) is not None:
                return s
        return None
    # Cheap gates first: most questions hold no digit and none of the few words the forms start from.
    for raw, seg in _segments(tail):
        digits = _DIGIT.search(seg) is not None
        if digits and (truth := _statement(seg)) is not None:
            return Solution("yesno", "yes" if truth else "no")
        if seg.startswith("how many") and (s := _counting(seg, raw)) is not None:
            return s
        if " letter " in seg and (s := _position(seg, raw)) is not None:
            return s
        if digits and (s := _worded(seg)) is not None:
            return s
        if _WORDY.search(seg) is not None:
            for find in (_transform, _sort, _calendar):
                if (s := find(seg, raw)) is not None:
                    return s
        if digits and ((s := _sort(seg, raw)) or (s := _pick(seg, {})) or (s := _sequence(seg))):
            return s
    return None


_DIGIT = re.compile(r"\d")
_WORDY = re.compile(r"backward|revers|case\b|capital|caps\b|alphabetical|day\b|days\b|month")


_LEAD = re.compile(
    r"(?i)^\W*(?:(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|result)\s*(?:is)?\s*[:=]?\s*)?[\W_]*"
)
_TOKEN = re.compile(r"[A-Za-z]+|-?\d+(?:[.,]\d+)*")


def _tokens(text: str) -> list[str]:
    return [t.replace(",", "") if t[0].isdigit() or t[0] == "-" else t for t in _TOKEN.findall(text)]


def _norm(tok: str) -> str:
    if tok[0].isdigit() or tok[0] == "-":
        n = _number(tok)
        return tok if n is None else _text(n)
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
