"""What a question asks for, and what a draft answered: the text half of the verifier.

Pure string work on bounded slices (the tail of the question, the head of the answer), so a draft costs
tens of microseconds however long it is. Nothing here knows about weights or models.

- `expectation(view)`: does the question list options (A) B) ...), ask for a number, for yes or no,
  for code, for JSON, for the answer alone ("only", "without explanation")? Does it state the whole
  computation it asks for ("What is 17 + 26?", recompute.py), and what is its value? Does it
  determine its answer otherwise ("Is 91 prime?", "Spell 'listen' backwards", solve.py)?
- `final_answer(text, expect)`: the draft's answer in a normal form two drafts can be compared by
  (an option letter, a number, yes or no, a short phrase), or None where there is no short answer.
- `refusal`, `hedging`, `repetition`: cues that the draft is not a usable answer; `code_broken`: an
  unclosed fence, unbalanced brackets, fenced Python that does not parse (`ast`), JSON that does not
  (the JSON parser); the arithmetic checks are in recompute.py.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.classify.counts import counts_things
from gateway.classify.recompute import question_value
from gateway.classify.solution import Solution
from gateway.classify.solve import solve

if TYPE_CHECKING:
    from gateway.protocol import RequestView

__all__ = [
    "Expectation",
    "code_broken",
    "expectation",
    "final_answer",
    "first_json",
    "hedging",
    "opens_working",
    "question_of",
    "refusal",
    "repetition",
    "similarity",
    "words",
]

QUESTION_CHARS = 1024  # the question being asked sits at the end of the last user message
ANSWER_CHARS = 4096  # enough for a code answer; cues past it would not change the verdict
SHORT_ANSWER_CHARS = 80  # a longer free-text answer is compared by similarity, not equality
YESNO_CHARS = 300  # a yes/no question is the message's last sentence or two

# "A) text", "A. text", "(A) text", "A: text" at the start of a line.
_OPTION = re.compile(r"(?m)^[ \t]*\(?([A-J])[).:][ \t]*(\S[^\n]*)?$")
# An expression, or a cue that the answer is a number. Strict on purpose: a question wrongly read as
# numeric marks a good prose answer "missing", so dates (2024-01-02), hex (0x1F) and "how long" do not.
_ARITH = re.compile(r"\d\s*[+*/\u00d7^]\s*\d|\d\s+(?:-|x|plus|minus|times|divided by)\s+\d")
_NUMERIC = re.compile(
    r"\b(?:how many|calculate|compute|sum of|product of|the number only|a number only|numeric answer|"
    r"just the number|what percent(?:age)?|convert|(?:what|which) year)\b"
    r"|\bhow much\b[^.?\n]{0,60}\b(?:cost|costs|money|dollars|pay|weigh|left|in total|altogether)\b"
)
# A question answered yes or no: it opens with an auxiliary verb ("Is 7 odd?", "Does a spider ...")
# and offers no alternatives ("Is it red or blue?" is not one), or it says so.
_YESNO_ASKED = re.compile(r"\b(?:yes or no|yes/no|true or false)\b")
_YESNO_OPEN = re.compile(
    r"(?:^|[.!?:\n]\s+)(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|may|"
    r"must|am)\b(?! you\b)([^!?\n]*)\?\s*$"
)
_YESNO_SAID = re.compile(r"\b(yes|no|true|false|correct|incorrect)\b")
_JSON_ASKED = re.compile(r"\bjson\b")
_CODE = re.compile(
    r"\b(?:write|implement|create|define|complete|fix)\b[^.\n]{0,80}?"
    r"\b(?:function|program|script|code|class|method|query|regex)\b|```"
)
_ONLY = re.compile(
    r"\b(?:only|without explanation|just the|one word|single word|single choice|single letter|"
    r"no explanation|briefly)\b"
)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_ANSWER_IS = re.compile(r"(?i)\b(?:answer|result|total|solution)\b\W{0,3}(?:is|=|:)?\W{0,3}")
_LEAD_ANSWER = re.compile(r"(?i)^(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|result)\s*(?:is)?\s*[:=]?\s*")
_LETTER_ALONE = re.compile(r"\(?([A-J])\)?[.:)]?")
_LETTER_LEAD = re.compile(r"\(?([A-J])[).:](?:\s|$)")
_LETTER_SAID = re.compile(r"(?:[Aa]nswer|[Oo]ption|[Cc]hoice)\W{0,3}(?:is\W{0,3})?\(?([A-J])\b(?![a-z'])")
_REFUSAL = re.compile(
    r"\b(?:i'm sorry|i am sorry|i apologi[sz]e|i can(?:no|')t (?:help|assist|answer|provide|do|"
    r"comply|determine)|i(?: am|'m) (?:not able|unable) to|as an ai\b|as a language model|"
    r"i do(?: not|n't) (?:know|have (?:enough )?(?:information|access)))"
)
_HEDGE = re.compile(
    r"\b(?:i think|i believe|i'm not sure|i am not sure|not certain|not entirely sure|probably|"
    r"perhaps|maybe|might be|could be|possibly|it seems|it depends|i guess|hard to say)\b"
)
_WORD = re.compile(r"[a-z0-9]+")
# A draft that opens by setting out to work the answer out ("To find the total, we ...") rather than
# by giving it.
_WORKING = re.compile(
    r"(?:to (?:find|solve|calculate|determine|compute|convert|figure out|work out|answer|get|add)|"
    r"let'?s|let us|first(?:ly)?,|we (?:need|have|can|will|must|know)|step 1|in order to)\b"
)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)


@dataclass(frozen=True, slots=True)
class Expectation:
    """The answer's expected form, read from the question."""

    options: dict[str, str]  # letter -> option text (lowercase), for the last list of options
    numeric: bool
    code: bool
    only: bool  # asks for the answer alone
    yesno: bool = False
    json: bool = False
    value: float | None = None  # what the question's own computation comes to, when it states one
    numbers: frozenset[float] = frozenset()  # the numbers the question contains (not its options)
    whole: bool = False  # it counts things ("how many apples"): the answer is a whole number
    solution: Solution | None = None  # the answer the question itself determines (solve.py)

    @property
    def short(self) -> bool:
        """A short final answer two samples can agree on exactly."""
        return bool(self.options) or self.numeric or self.yesno


NOTHING = Expectation({}, numeric=False, code=False, only=False)


def _last_options(text: str) -> dict[str, str]:
    """The last run A, B, C, ... of option lines: few-shot prompts list earlier questions' options too."""
    run: dict[str, str] = {}
    found: dict[str, str] = {}
    for m in _OPTION.finditer(text):
        letter = m.group(1)
        if letter == "A":
            run = {}
        elif not run or ord(letter) != ord(max(run)) + 1:
            continue
        run[letter] = (m.group(2) or "").strip().lower()
        if len(run) >= 2:
            found = run
    return found


def question_of(view: RequestView) -> str:
    """The question a draft answers: the last user message's text (its end, when long); "" if none."""
    for m in reversed(view.messages):
        if m.role == "user":
            return m.text[-QUESTION_CHARS:]
    return ""


def expectation(view: RequestView) -> Expectation:
    question = question_of(view)
    if not question:
        return NOTHING
    low = question.lower()
    options = _last_options(question)
    only = _ONLY.search(low) is not None
    if options:  # a lettered question: the rest is about other kinds of answer
        return Expectation(
            options,
            numeric=False,
            code=False,
            only=only,
            value=question_value(question),
            solution=solve(question, options),
        )
    wants_json = _JSON_ASKED.search(low) is not None
    code = not wants_json and _CODE.search(low) is not None
    if code or wants_json:
        return Expectation({}, numeric=False, code=code, only=only, json=wants_json)
    tail = low[-YESNO_CHARS:].rstrip()  # the question itself ends the message
    yesno = _YESNO_ASKED.search(tail) is not None or (
        (asked := _YESNO_OPEN.search(tail)) is not None and " or " not in asked.group(1)
    )
    value = None if yesno else question_value(question)
    solution = solve(question) if value is None else None
    if solution is not None and solution.kind == "yesno":
        yesno = True
    elif solution is not None and solution.kind == "number":
        value = solution.value
    numeric = not yesno and (
        value is not None or _ARITH.search(low) is not None or _NUMERIC.search(low) is not None
    )
    return Expectation(
        options={},
        numeric=numeric,
        code=False,
        only=only,
        yesno=yesno,
        whole=numeric and counts_things(low),
        value=value,
        numbers=frozenset(float(n.replace(",", "")) for n in _NUMBER.findall(question))
        if numeric
        else frozenset(),
        solution=solution,
    )


def _number(token: str) -> str:
    value = float(token.replace(",", ""))
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORD = re.compile(
    rf"\b(?:({'|'.join(_TENS)})(?:[- ]({'|'.join(_UNITS[1:10])}))?|({'|'.join(_UNITS)}))\b", re.I
)


def _worded(m: re.Match[str]) -> str:
    """ "forty-three" -> "43", "eight" -> "8"."""
    tens, unit, small = m.group(1), m.group(2), m.group(3)
    if small:
        return str(_UNITS.index(small.lower()))
    return str(20 + 10 * _TENS.index(tens.lower()) + (_UNITS.index(unit.lower()) if unit else 0))


def _final_number(text: str) -> str | None:
    said = None
    for m in _ANSWER_IS.finditer(text):
        said = m  # the last "answer is" wins: drafts correct themselves
    if said is not None and (n := _NUMBER.match(text, said.end())) is not None:
        return _number(n.group())
    eq = text.rfind("=")
    tail = text[eq + 1 :] if eq >= 0 else text
    numbers = _NUMBER.findall(tail)
    if numbers:
        return _number(numbers[-1])
    named = list(_NUMBER_WORD.finditer(tail))  # "How many legs has a spider?" "Eight."
    return _worded(named[-1]) if named else None


def _final_letter(text: str, options: dict[str, str]) -> str | None:
    """The option a draft chose: a letter alone, the last "the answer is B" (a draft that corrects
    itself means its last word), a leading "B)", or the one option whose text it names.

    A letter outside the options is returned as it is, so the caller can tell it is not one of them.
    """
    head = text.strip()[:SHORT_ANSWER_CHARS]
    if m := _LETTER_ALONE.fullmatch(head):
        return m.group(1)
    said = _LETTER_SAID.findall(text[:ANSWER_CHARS])
    if said:
        return str(said[-1])
    if m := _LETTER_LEAD.match(head):
        return m.group(1)
    low = head.lower()
    named = [k for k, v in options.items() if len(v) >= 2 and v in low]
    if len(named) == 1:
        return named[0]
    return None


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def final_answer(text: str, expect: Expectation) -> str | None:
    """The draft's final answer in a normal form, or None where it gave none that can be compared."""
    if expect.options:
        return _final_letter(text, expect.options)
    if expect.numeric:
        return _final_number(text[-ANSWER_CHARS:])
    if expect.yesno:
        m = _YESNO_SAID.search(text[:SHORT_ANSWER_CHARS].lower())
        return None if m is None else "yes" if m.group(1) in ("yes", "true", "correct") else "no"
    if expect.code:
        return None  # compared by similarity
    stripped = text.strip()
    if 0 < len(stripped) <= SHORT_ANSWER_CHARS:
        return _normal(_LEAD_ANSWER.sub("", stripped, count=1)) or None
    return None


def code_of(text: str) -> str | None:
    """The first fenced block, else the text itself when it reads like code; None when there is none."""
    m = _FENCE.search(text[:ANSWER_CHARS])
    if m is not None:
        return m.group(1)
    head = text[:ANSWER_CHARS]
    return head if ("def " in head or "return " in head or "class " in head or "import " in head) else None


_PYTHON_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)
PARSE_CHARS = 2048  # ast parses ~40 characters a microsecond: a longer block keeps the bracket count


def first_json(text: str) -> tuple[bool, bool]:
    """(the text offers a JSON object or list, the first one it offers parses). Fenced or not."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return False, False
    try:
        _DECODER.raw_decode(text, start)
    except ValueError:
        return True, False
    return True, True


_DECODER = json.JSONDecoder()


def code_broken(text: str, expect: Expectation | None = None, *, parse: bool = True) -> bool:
    """Code that cannot run as written: an unclosed fence or unbalanced brackets (cut off), a fenced
    Python block that does not parse, or, where JSON was asked for, JSON that does not parse.

    Brackets are counted at C speed first; `ast` only reads a fenced block (a fence says exactly
    where the code is) of up to PARSE_CHARS characters. `parse=False`: the counts alone (the check
    before the parsers, for comparison).
    """
    head = text[:ANSWER_CHARS]
    if parse and expect is not None and expect.json:
        offered, parses = first_json(head)
        return offered and not parses
    if head.count("```") % 2:
        return True
    code = code_of(head) or ""
    if (
        code.count("(") != code.count(")")
        or code.count("[") != code.count("]")
        or code.count("{") != code.count("}")
    ):
        return True
    m = _PYTHON_FENCE.search(head) if parse else None
    if m is not None and len(m.group(1)) <= PARSE_CHARS and _pythonish(m.group(0), expect):
        try:
            ast.parse(m.group(1))
        except (SyntaxError, ValueError):
            return True
    return False


def _pythonish(block: str, expect: Expectation | None) -> bool:
    """A fenced block is read as Python when its fence says so, or it is unlabelled Python-looking code."""
    first = block[3 : block.find("\n")].strip().lower()
    if first:
        return first in ("python", "py", "python3")
    body = block[block.find("\n") :]
    return "def " in body or "import " in body or "print(" in body


def opens_working(text: str) -> bool:
    """The draft sets out to work its answer out before giving it."""
    return _WORKING.match(text.lstrip(" \t\n*#>").lower()) is not None


def refusal(text: str) -> bool:
    return _REFUSAL.search(text[:400].lower()) is not None


def hedging(text: str) -> bool:
    return _HEDGE.search(text[:ANSWER_CHARS].lower()) is not None


def words(text: str) -> list[str]:
    return _WORD.findall(text[:ANSWER_CHARS].lower())


def repetition(toks: list[str]) -> float:
    """Share of repeated word 4-grams: a small model stuck in a loop repeats itself to max_tokens."""
    n = len(toks) - 3
    if n < 8:
        return 0.0
    return 1.0 - len(set(zip(toks, toks[1:], toks[2:], toks[3:], strict=False))) / n


def similarity(a: list[str], b: list[str]) -> float:
    """Jaccard similarity of two drafts' word sets: agreement where there is no short answer."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
