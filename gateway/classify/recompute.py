"""Arithmetic recomputed: what a draft (or a question) computes, checked by computing it again.

A small model's arithmetic slips are visible in its own text: "12 + 5 = 18", "20% of 50 is 15",
"3 km = 300 m", a final answer that is not what its last line computed. This module finds the
computations a text states and recomputes them, with no model and no eval:

- equations: an expression, `=` (or "is", "equals" after an expression), a value; chains
  ("12 + 5 = 17 + 3 = 20"), calculator annotations ("<<12+5=17>>"), `x` and the Unicode times,
  divide and minus signs, `^`, parentheses, thousands separators, a currency sign or one word of
  unit after a number ("5 apples + 3 apples");
- percentages: "20% of 50" is 10;
- unit conversions: "2 km = 2000 m", "3 hours is 180 minutes" (length, mass, volume, time, dozens);
- the question's own computation ("What is 17 + 26?", "What is 20% of 50?", "How many meters are in
  3 kilometers?", "Convert 2 hours to minutes."), for the draft's final answer to be checked against.

Pure string work on bounded slices; a few tens of microseconds a draft.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

__all__ = ["Checked", "close", "final_stated", "question_value", "recompute"]

TEXT_CHARS = 4096
QUESTION_CHARS = 300  # the computation asked for sits in the question's last sentence
TOL = 1e-6  # relative; a stated 0.33 for 1/3 is not a slip, see _close

_UNIT = {  # unit word -> (dimension, factor to the dimension's base)
    **dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), ("m", 1000.0)),
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), ("m", 1.0)),
    **dict.fromkeys(("cm", "centimeter", "centimeters", "centimetre", "centimetres"), ("m", 0.01)),
    **dict.fromkeys(("mm", "millimeter", "millimeters", "millimetre", "millimetres"), ("m", 0.001)),
    **dict.fromkeys(("ft", "foot", "feet"), ("m", 0.3048)),
    **dict.fromkeys(("in", "inch", "inches"), ("m", 0.0254)),
    **dict.fromkeys(("mi", "mile", "miles"), ("m", 1609.344)),
    **dict.fromkeys(("yd", "yard", "yards"), ("m", 0.9144)),
    **dict.fromkeys(("kg", "kilogram", "kilograms"), ("g", 1000.0)),
    **dict.fromkeys(("g", "gram", "grams"), ("g", 1.0)),
    **dict.fromkeys(("mg", "milligram", "milligrams"), ("g", 0.001)),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), ("g", 453.59237)),
    **dict.fromkeys(("l", "liter", "liters", "litre", "litres"), ("l", 1.0)),
    **dict.fromkeys(("ml", "milliliter", "milliliters", "millilitre", "millilitres"), ("l", 0.001)),
    **dict.fromkeys(("s", "sec", "second", "seconds"), ("s", 1.0)),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), ("s", 60.0)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), ("s", 3600.0)),
    **dict.fromkeys(("day", "days"), ("s", 86400.0)),
    **dict.fromkeys(("week", "weeks"), ("s", 604800.0)),
    **dict.fromkeys(("year", "years"), ("mo", 12.0)),
    **dict.fromkeys(("month", "months"), ("mo", 1.0)),
    **dict.fromkeys(("dozen", "dozens"), ("n", 12.0)),
    **dict.fromkeys(("item", "items", "piece", "pieces", "unit", "units"), ("n", 1.0)),
}
# "\u2212" minus, "\u00d7" times, "\u00b7" dot, "\u00f7" divide
_OPS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "x": "*", "\u00d7": "*", "\u00b7": "*", "/": "/"}
_OPS.update({"\u00f7": "/", "^": "^"})
_WORD_OPS = {"x": "*", "plus": "+", "minus": "-", "times": "*", "multiplied": "*", "divided": "/"}
# Numbers (a percent sign after one), symbols, and words, which a dict sorts out (_WORDS): one word
# class in the pattern is far cheaper than a dozen keyword alternatives tried at every letter.
_TOKEN = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|\.\d+)(?:[ ]?(?P<pct>%))?"
    r"|(?P<sym>[-+*/^=()\u00d7\u00f7\u00b7\u2212])|(?P<word>[A-Za-z]+)"
)
_WORDS = {
    "is": "eq",
    "are": "eq",
    "equals": "eq",
    "makes": "eq",
    "gives": "eq",
    "of": "of",
    "x": "op",
    "plus": "op",
    "minus": "op",
    "times": "op",
    "multiplied": "op",  # ... by
    "divided": "op",  # ... by
}
_SYMS = {"=": ("eq", "="), "(": ("lp", "("), ")": ("rp", ")")}
_JOINED = frozenset(("is", "multiplied", "divided"))
_NUMS = frozenset(("num", "pct"))
_STARTS = frozenset(("num", "pct", "lp", "op"))
_GAP = re.compile(r"[ \t$\u20ac\u00a3,]*")  # what may sit between two tokens of one computation
_FINAL = re.compile(
    r"(?i)(?:\b(?:final answer|answer|result)\b\s*(?:is|:|=)\s*:?\s*|####\s*|\\boxed\{\s*)\$?\s*"
    r"(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|-?\d+(?:\.\d+)?)"
)


@dataclass(frozen=True, slots=True)
class Checked:
    """A computation the text states: its result as stated, and whether it recomputes to it."""

    value: float  # the stated result (the last side of the equation)
    right: bool
    end: int  # where it ends in the text


# A side of an equation: its value, whether it computes anything (an operator, a percentage), its
# unit's (dimension, factor) when it is one quantity with a known unit, and its leading number.
Side = tuple[float, bool, tuple[str, float] | None, float]


def close(a: float, b: float) -> bool:
    """Equal, or the stated one rounded: "1/3 = 0.33", "7 / 3 = 2.3" are not slips."""
    if math.isclose(a, b, rel_tol=TOL, abs_tol=1e-9):
        return True
    return b != 0 and abs(b - a) < 0.5 and any(round(a, digits) == b for digits in (0, 1, 2))


Tok = tuple[str, str, str]  # kind (num, pct, op, eq, of, lp, rp), text, the unit word after a number


_END: Tok = ("end", "", "")


def _side(toks: list[Tok], whole: bool) -> Side | None:
    """One side's value; `whole`: every token must be read (else a prefix of them, words after)."""
    first = toks[0]
    if first[0] == "num" and (len(toks) == 1 or (not whole and toks[1][0] not in ("op", "of"))):
        value = float(first[1])  # a lone number, the common case: no parse
        return value, False, _UNIT.get(first[2]), value
    p = _Parser([*toks, _END])
    try:
        value = p.sum()
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    if (whole and p.i != len(toks)) or not math.isfinite(value):
        return None
    unit = _UNIT.get(p.unit) if toks[p.i - 1][0] in _NUMS else None
    lead = float(first[1]) / (100.0 if first[0] == "pct" else 1.0) if first[0] in _NUMS else value
    return value, p.ops > 0, unit, lead


class _Parser:
    """Recursive descent over one side's tokens (ending in _END): sums of products of powers."""

    __slots__ = ("i", "ops", "toks", "unit")

    def __init__(self, toks: list[Tok]) -> None:
        self.toks, self.i, self.ops, self.unit = toks, 0, 0, ""

    def sum(self) -> float:
        value = self.product()
        toks = self.toks
        while (t := toks[self.i])[0] == "op" and (t[1] == "+" or t[1] == "-"):
            self.i += 1
            self.ops += 1
            rhs = self.product()
            value = value + rhs if t[1] == "+" else value - rhs
        return value

    def product(self) -> float:
        value = self.power()
        toks = self.toks
        while (t := toks[self.i])[0] == "op" and (t[1] == "*" or t[1] == "/"):
            self.i += 1
            self.ops += 1
            rhs = self.power()
            value = value * rhs if t[1] == "*" else value / rhs
        return value

    def power(self) -> float:
        value = self.atom()
        t = self.toks[self.i]
        if t[0] == "op" and t[1] == "^":
            self.i += 1
            self.ops += 1
            exp = self.atom()
            if abs(exp) > 12:
                raise ValueError("exponent")
            value = value**exp
        return value

    def atom(self) -> float:
        t = self.toks[self.i]
        kind = t[0]
        self.i += 1
        if kind == "num":
            self.unit = t[2]
            return float(t[1])
        if kind == "lp":
            value = self.sum()
            if self.toks[self.i][0] != "rp":
                raise ValueError("paren")
            self.i += 1
            return value
        if kind == "op" and t[1] == "-":
            return -self.atom()
        if kind == "pct":
            self.unit = t[2]
            if self.toks[self.i][0] == "of":
                self.i += 1
                self.ops += 1
                return float(t[1]) / 100.0 * self.atom()
            return float(t[1]) / 100.0
        raise ValueError("token")


# A clause: punctuation ends it only before a space or the end ("0.10", "1,000", "<<12*8=96>>96" stay).
_CLAUSE = re.compile(r"(?:[^\n.,;:!?]|[.,;:!?](?=\S))+")
_EQ_HINT = re.compile(r"=|\b(?:is|are|equals|makes|gives)\b")
_DIGIT = re.compile(r"\d")


def _runs(text: str, *, equations: bool = True) -> list[list[tuple[str, str, str, int]]]:
    """Maximal runs of tokens that may form a computation (kind, text, unit, end offset in `text`).

    Only clauses (between punctuation followed by a space, and line ends) with a digit and an equals
    sign (or word) are read, and a word between two tokens (other than a number's unit) ends the
    run: prose costs a regex scan, not a parse. `equations=False`: clauses without an equals sign
    too (a question's expression)."""
    runs: list[list[tuple[str, str, str, int]]] = []
    for clause in _CLAUSE.finditer(text):
        line, base = clause.group(), clause.start()
        if _DIGIT.search(line) is None or (equations and _EQ_HINT.search(line) is None):
            continue
        run: list[tuple[str, str, str, int]] = []
        pos = 0
        toks = list(_TOKEN.finditer(line))
        for j, m in enumerate(toks):
            start_, stop_ = m.span()
            if start_ < pos:
                continue  # a word read with the one before it ("divided by", "is equal to")
            if run and start_ > pos and _GAP.fullmatch(line, pos, start_) is None:
                runs.append(run)
                run = []
            pos, end = stop_, base + stop_
            kind = m.lastgroup or "word"  # every alternative is a named group
            if kind == "num" or kind == "pct":
                run.append((kind, m.group("num").replace(",", ""), "", end))
            elif kind == "sym":
                sym = m.group(kind)
                kind, sym = _SYMS.get(sym) or ("op", _OPS.get(sym, sym))
                run.append((kind, sym, "", end))
            else:
                word = m.group(kind).lower()
                kind = _WORDS.get(word, "")
                if word in _JOINED:  # "multiplied by", "divided by", "is equal to"
                    nxt = toks[j + 1].group("word") if j + 1 < len(toks) else None
                    if word == "is":
                        if nxt is not None and nxt.lower() == "equal":
                            to = j + 2 < len(toks) and toks[j + 2].group("word") == "to"
                            last = toks[j + 2] if to else toks[j + 1]
                            pos, end, word = last.end(), base + last.end(), "is equal to"
                    elif nxt is None or nxt.lower() != "by":
                        kind = ""
                    else:
                        pos, end = toks[j + 1].end(), base + toks[j + 1].end()
                if kind == "op":
                    run.append(("op", _WORD_OPS.get(word, "*"), "", end))
                elif kind:
                    run.append((kind, word, "", end))
                elif run and run[-1][0] in _NUMS and not run[-1][2]:
                    k, t, _, e = run[-1]
                    run[-1] = (k, t, word, e)  # a unit ("2 km") or a label ("5 apples")
                elif run:
                    runs.append(run)
                    run = []
        if run:
            runs.append(run)
    return runs


def _sides(run: list[tuple[str, str, str, int]]) -> list[tuple[Side | None, Side | None, str, int]]:
    """A run split at its equals signs: each part read as the left-hand side of the equation after
    it (its longest trailing computation), as the right-hand side of the one before it (its longest
    leading computation), the sign before it, and where its leading computation ends."""
    parts: list[tuple[list[Tok], str, int]] = []
    cur: list[Tok] = []
    sign, end = "", 0
    for kind, tok, unit, stop in run:
        if kind == "eq":
            parts.append((cur, sign, end))
            cur, sign = [], tok
        else:
            cur.append((kind, tok, unit))
            end = stop
    parts.append((cur, sign, end))
    last = len(parts) - 1
    return [
        (_lhs(toks) if i < last else None, _rhs(toks) if i else None, sign, stop)
        for i, (toks, sign, stop) in enumerate(parts)
    ]


def _rhs(toks: list[Tok]) -> Side | None:
    if not toks or toks[0][0] not in _STARTS:
        return None
    return _side(toks, whole=False)


def _lhs(toks: list[Tok]) -> Side | None:
    """The longest tail of `toks` that is a computation."""
    for i, (kind, _, _) in enumerate(toks):
        if kind in _STARTS:
            side = _side(toks[i:] if i else toks, whole=True)
            if side is not None:
                return side
    return None


def recompute(text: str) -> list[Checked]:
    """The computations `text` states, in order, each recomputed."""
    out: list[Checked] = []
    for run in _runs(text[:TEXT_CHARS]):
        if not any(k == "eq" for k, _, _, _ in run):
            continue
        sides = _sides(run)
        for (a, _, _, _), (_, b, sign, end) in itertools.pairwise(sides):
            if a is None or b is None:
                continue
            (va, op_a, ua, _), (vb, op_b, ub, head_b) = a, b
            word = sign not in ("=", "equals", "is equal to")
            if ua is not None and ub is not None:
                if ua[0] != ub[0] or (not op_a and not op_b and ua == ub):
                    continue  # another dimension, or "17 m = 17 m", which states nothing
                out.append(Checked(vb, close(va * ua[1], vb * ub[1]), end))
            elif word and not op_a:
                continue  # "3 boxes is 15": a word for equals only after a computation
            elif ua is not None:
                continue  # "9 km is 9 * 1000": the unit changes on the way
            elif op_b and not close(va, vb) and close(va, head_b):
                out.append(Checked(head_b, True, end))  # "12 + 5 = 17 + 3 = 20": a running total
            elif op_a or op_b:
                out.append(Checked(vb, close(va, vb), end))
    return out


def final_stated(text: str) -> tuple[float, int] | None:
    """An explicit final answer ("the answer is 17", "#### 17", "\\boxed{17}"): the last one, and
    where it starts."""
    low = text[:TEXT_CHARS].lower()
    if "answer" not in low and "result" not in low and "####" not in low and "boxed" not in low:
        return None
    last = None
    for m in _FINAL.finditer(text[:TEXT_CHARS]):
        last = m
    if last is None:
        return None
    return float(last.group(1).replace(",", "")), last.start()


_Q_EXPR = re.compile(
    r"(?i)\b(?:what is|what's|calculate|compute|evaluate|how much is)\s+([^?=\n]{3,80}?)\s*(?:[?=]|$)"
)
_Q_CONVERT = re.compile(
    r"(?i)\bhow many ([a-z]+) (?:are |is )?(?:there )?in (?:a |an |one )?(\d+(?:\.\d+)?)? ?([a-z]+)\b"
    r"|\bconvert (\d+(?:\.\d+)?) ([a-z]+) (?:in)?to ([a-z]+)\b"
)


def question_value(question: str) -> float | None:
    """The value the question asks to compute, when it states the whole computation: an expression
    ("What is 17 + 26?"), a percentage ("What is 20% of 50?") or a conversion ("How many meters are
    in 3 kilometers?"). None when it does not."""
    q = question[-QUESTION_CHARS:]
    if _DIGIT.search(q) is None:
        return None
    m = _Q_CONVERT.search(q)
    if m is not None:
        if m.group(1):
            to, n, frm = m.group(1), m.group(2) or "1", m.group(3)
        else:
            n, frm, to = m.group(4), m.group(5), m.group(6)
        a, b = _UNIT.get(frm.lower()), _UNIT.get(to.lower())
        if a is not None and b is not None and a[0] == b[0] and a != b:
            return float(n) * a[1] / b[1]
        return None
    for m in _Q_EXPR.finditer(q):
        runs = _runs(m.group(1), equations=False)
        if len(runs) == 1 and not any(k == "eq" for k, _, _, _ in runs[0]):
            side = _lhs([(k, t, u) for k, t, u, _ in runs[0]])
            if side is not None and side[1]:
                return side[0]
    return None
