"""Questions about numbers whose answer they determine: yes/no statements ("Is 91 prime?", "True or
false: 7 * 8 = 56"), the largest or smallest of listed numbers or numeric options, numbers sorted (and
words, alphabetically), the next term of a run, arithmetic said in words ("half of 86").

Each reads one lowercase sentence and returns a Solution or None.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

from gateway.classify.recompute import question_value
from gateway.classify.solution import NUM, NUM_RE, Solution, as_text, number

__all__ = ["pick", "sequence", "sort", "statement", "worded"]

_EXPR = r"[-\d.,+*/x\u00d7\u00f7^() ]+?"

_MORE = frozenset(("larger", "bigger", "greater", "higher", "more", "largest", "biggest", "greatest"))
_MORE |= {"highest", "most", "maximum"}

_LIST = re.compile(rf"(?:{NUM})(?:\s*(?:,\s*(?:or\s+|and\s+)?|or\s+|and\s+)(?:{NUM}))+")


def _number_list(seg: str) -> list[float] | None:
    """The numbers of the segment when they are all one list ("3, 8 and 5", "0.5 or 0.45")."""
    nums = NUM_RE.findall(seg)
    if len(nums) < 2:
        return None
    m = _LIST.search(seg)
    if m is None or len(NUM_RE.findall(m.group())) != len(nums):
        return None
    return [float(n.replace(",", "")) for n in nums]


def _value(expr: str) -> float | None:
    """A number, or an expression's value ("3 x 4", "(2 + 3) * 4")."""
    expr = expr.strip()
    n = number(expr)
    if n is not None:
        return n
    return question_value(f"What is {expr}?")


def _prime(n: float) -> bool | None:
    if not n.is_integer() or n > 10**7:
        return None
    k = int(n)
    return k >= 2 and all(k % d for d in range(2, math.isqrt(k) + 1))


_YN_IS = re.compile(
    rf"^(?:is it true that |true or false\W+|yes or no\W+)?(?:is |are )?({_EXPR})\s+(?:is |are )?"
    r"(?:(an? )?(even|odd|prime|positive|negative)(?: number)?|a (?:perfect )?square(?: number)?"
    rf"|(greater|larger|bigger|more|higher|less|smaller|fewer|lower) than ({_EXPR})"
    rf"|(?:evenly )?divisible by ({NUM})|a multiple of ({NUM})|a factor of ({NUM})"
    rf"|(?:equal to|the same as|=|equals?) ({_EXPR}))$"
)
_YN_DOES = re.compile(rf"^does ({_EXPR}) (?:equal|make|give) ({_EXPR})$")


def statement(seg: str) -> bool | None:
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
            b = number(m.group(group))
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


def pick(seg: str, options: dict[str, str]) -> Solution | None:
    """Which of the numbers the question lists (or of its options, each a plain number: solve.py
    checks) is the largest or the smallest."""
    if ("which" not in seg and "what" not in seg) or _PICK.search(seg) is None:
        return None
    words = _SUPER.findall(seg)
    if len(words) != 1:
        return None
    more = words[0] in _MORE
    if options:
        values = {k: float(v.strip().rstrip(".").replace(",", "")) for k, v in options.items()}
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
    cands = tuple(as_text(v) for v in values_)
    return Solution("pick", as_text(best_v), candidates=cands, given=cands)


_SORT = re.compile(
    r"\b(?:sort|order|arrange|rank|put|list|write)\b.*?\b(ascending|descending|increasing|decreasing|"
    r"smallest to (?:the )?(?:largest|biggest|greatest)|(?:largest|biggest|greatest) to (?:the )?smallest|"
    r"lowest to (?:the )?highest|highest to (?:the )?lowest|least to (?:the )?greatest|"
    r"greatest to (?:the )?least|alphabetical(?:ly)?)\b"
)


def sort(seg: str) -> Solution | None:
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
        colon = seg.rfind(":")
        if colon < 0:
            return None
        items = [w.strip().strip(".?!\"'") for w in re.split(r",|\band\b", seg[colon + 1 :])]
        items = [w for w in items if w]
        if len(items) < 2 or len(set(items)) != len(items) or not all(w.isalpha() for w in items):
            return None
        return Solution("list", " ".join(sorted(items)), candidates=tuple(items), given=tuple(items))
    values = _number_list(seg)
    if values is None or len(set(values)) != len(values):
        return None
    items = [as_text(v) for v in sorted(values, reverse=down)]
    cands = tuple(as_text(v) for v in values)
    return Solution("list", " ".join(items), candidates=cands, given=cands)


_NEXT = re.compile(r"\b(?:next|comes after|follows|continue|missing)\b")
_RUN = re.compile(rf"(?:(?:{NUM})\s*,\s*){{2,}}(?:{NUM})")


def sequence(seg: str) -> Solution | None:
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
    return Solution("number", as_text(nxt), nxt)


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
    (re.compile(rf"{_ASK}({'|'.join(_PART)}) (?:of )?({NUM})$"), lambda a, b: _PART[a] * float(b)),
    (re.compile(rf"{_ASK}({NUM}) (squared|cubed)$"), lambda a, b: float(a) ** (2 if b == "squared" else 3)),
    (re.compile(rf"{_ASK}the square root of ({NUM})$"), lambda a: _root(float(a))),
    (re.compile(rf"{_ASK}({NUM}) percent of ({NUM})$"), lambda a, b: float(a) * float(b) / 100),
    (
        re.compile(rf"{_ASK}the (sum|product) of ({NUM}) and ({NUM})$"),
        lambda k, a, b: float(a) + float(b) if k == "sum" else float(a) * float(b),
    ),
    (
        re.compile(rf"{_ASK}the difference between ({NUM}) and ({NUM})$"),
        lambda a, b: abs(float(a) - float(b)),
    ),
    (re.compile(rf"^(?:take|subtract) ({NUM}) (?:away )?from ({NUM})$"), lambda a, b: float(b) - float(a)),
    (
        re.compile(rf"^add ((?:{NUM})(?:,? (?:{NUM}))*,? and (?:{NUM}))(?: together)?$"),
        lambda a: sum(float(x) for x in NUM_RE.findall(a)),
    ),
]


def _root(x: float) -> float | None:
    r = math.isqrt(int(x)) if x >= 0 and x.is_integer() else -1
    return float(r) if r >= 0 and r * r == x else None


def worded(seg: str) -> Solution | None:
    """Arithmetic said in words: "half of 86", "15 squared", "the sum of 250 and 750"."""
    for pattern, f in _WORDED:
        m = pattern.match(seg)
        if m is not None:
            groups = [g.replace(",", "") if g and g[0].isdigit() else g for g in m.groups()]
            try:
                v = f(*groups)
            except OverflowError:  # "10...0 cubed" past a float: nothing a draft could state
                return None
            return None if v is None or not math.isfinite(v) else Solution("number", as_text(v), v)
    return None
