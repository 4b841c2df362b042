"""Grading the embedded model's drafts of the live families (live_families.py): right or wrong.

Graders read a draft as a person checking it would, leniently about form ("There are 3000 meters in 3
kilometers." answers 3000) and strictly about content (a yes/no question answered neither way is
wrong). They are independent of the verifier's own reading (classify/checks.py) wherever the two
could share a blind spot: a grader that missed answers the verifier also misses would flatter it.

- number: the last "answer is N", else the last number the question does not contain (words too)
- letter: the option letter (checks.final_answer), else the one option whose text the draft names
- yesno: the first "yes" or "no"
- option: whichever of the two options the draft names first
- word: the first word of the closed answer set that the question does not contain
- symbol: the chemical symbol, as written (case-sensitive)
- clock: the first HH:MM the question does not contain
- json: the first JSON value in the draft equals the gold one (strings case-insensitive)
- python: the draft's function passes its tests, run in a separate interpreter with a time limit
- contains / contains_exact: the gold word appears, whole (ignoring case / as written)
- ordered: the gold numbers appear in order, one after another
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from gateway.classify import checks
from gateway.offline.live_words import CAPITALS, DAYS, MONTHS, OPPOSITES, PLURALS
from gateway.protocol import chat_view

__all__ = ["GRADERS", "grade"]

_NUM = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_ANSWER = re.compile(r"(?i)\banswer\s*(?:is|:|=)\s*")
_WORDS_09 = "zero one two three four five six seven eight nine ten eleven twelve".split()
_NUMBER_WORD = re.compile(r"(?i)\b(" + "|".join(_WORDS_09) + r")\b")
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_VOCAB = sorted(
    {
        *(c.lower() for c in CAPITALS.values()),
        *OPPOSITES,
        *OPPOSITES.values(),
        *PLURALS,
        *PLURALS.values(),
        *(d.lower() for d in DAYS),
        *(m.lower() for m in MONTHS),
    },
    key=len,
    reverse=True,  # "mexico city" before "mexico"
)
_VOCAB_RE = re.compile(r"\b(" + "|".join(re.escape(v) for v in _VOCAB) + r")\b")


def _value(token: str) -> float | None:
    try:
        return float(token.replace(",", "").rstrip(","))
    except ValueError:
        return None


def _numbers(text: str) -> list[float]:
    out = [v for t in _NUM.findall(text) if (v := _value(t)) is not None]
    return out


def number(draft: str, prompt: str, gold: Any) -> bool:
    said = list(_ANSWER.finditer(draft))
    if said:
        found = _numbers(draft[said[-1].end() : said[-1].end() + 20])
        if found:
            return found[0] == float(gold)
    asked = set(_numbers(prompt))
    text = _NUMBER_WORD.sub(lambda m: str(_WORDS_09.index(m.group(1).lower())), draft)
    values = _numbers(text)
    new = [v for v in values if v not in asked]
    pick = new[-1] if new else values[-1] if values else None
    return pick is not None and pick == float(gold)


def letter(draft: str, prompt: str, gold: Any) -> bool:
    view = chat_view({"model": "auto", "messages": [{"role": "user", "content": prompt}]}, 0)
    expect = checks.expectation(view)
    said = checks.final_answer(draft, expect)
    if said is None:
        low = draft.lower()
        named = [k for k, v in expect.options.items() if v and re.search(rf"\b{re.escape(v)}\b", low)]
        said = named[0] if len(named) == 1 else None
    return bool(said == gold)


def yesno(draft: str, prompt: str, gold: Any) -> bool:
    m = re.search(r"\b(yes|no)\b", draft.lower())
    return m is not None and m.group(1) == gold


def option(draft: str, prompt: str, gold: Any) -> bool:
    low = draft.lower()
    first: tuple[int, str] | None = None
    for opt in gold:
        m = re.search(rf"(?<![\w.]){re.escape(opt.lower())}(?![\w]|\.\d)", low)
        if m is not None and (first is None or m.start() < first[0]):
            first = (m.start(), opt)
    return first is not None and first[1] == gold[0]


def word(draft: str, prompt: str, gold: Any) -> bool:
    asked = set(_VOCAB_RE.findall(prompt.lower()))
    if gold in asked:  # "the plural of 'sheep'": the answer repeats the question's word
        return len(re.findall(rf"\b{re.escape(gold)}\b", draft.lower())) >= 2
    for m in _VOCAB_RE.finditer(draft.lower()):
        if m.group(1) not in asked:
            return bool(m.group(1) == gold)
    return False


def symbol(draft: str, prompt: str, gold: Any) -> bool:
    proper = gold[0].upper() + gold[1:]
    return re.search(rf"(?<![A-Za-z]){re.escape(proper)}(?![a-z])", draft) is not None


def clock(draft: str, prompt: str, gold: Any) -> bool:
    asked = {(int(h), m) for h, m in _CLOCK.findall(prompt)}
    for h, m in _CLOCK.findall(draft):
        if (int(h), m) not in asked:
            return bool(f"{int(h):02d}:{m}" == gold)
    return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def first_json(text: str) -> Any:
    """The first JSON object or list in `text` (fences ignored), or None."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        return value
    return None


def json_value(draft: str, prompt: str, gold: Any) -> bool:
    value = first_json(draft)
    return value is not None and _same(value, gold)


_RUNNER = """
import json, sys
case = json.loads(sys.stdin.read())
ns = {}
exec(case["code"], ns)
for call, want in case["tests"]:
    got = eval(call, ns)
    if got != want or type(got) is bool and type(want) is not bool:
        sys.exit(1)
"""


def python(draft: str, prompt: str, gold: Any) -> bool:
    """Runs the draft's code and the task's tests in a fresh interpreter (isolated, 3 s)."""
    code = checks.code_of(draft)
    if code is None or f"def {gold['name']}" not in code:
        return False
    case = json.dumps({"code": code, "tests": gold["tests"]})
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, the model's code, offline only
            [sys.executable, "-I", "-c", _RUNNER], input=case, capture_output=True, text=True, timeout=3
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def contains(draft: str, prompt: str, gold: Any) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(str(gold))}(?![A-Za-z])", draft, re.I) is not None


def contains_exact(draft: str, prompt: str, gold: Any) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(str(gold))}(?![A-Za-z])", draft) is not None


def ordered(draft: str, prompt: str, gold: Any) -> bool:
    values, want = _numbers(draft), [float(g) for g in gold]
    return any(values[i : i + len(want)] == want for i in range(len(values) - len(want) + 1))


GRADERS: dict[str, Callable[[str, str, Any], bool]] = {
    "number": number,
    "letter": letter,
    "yesno": yesno,
    "option": option,
    "word": word,
    "symbol": symbol,
    "clock": clock,
    "json": json_value,
    "python": python,
    "contains": contains,
    "contains_exact": contains_exact,
    "ordered": ordered,
}


def grade(question: dict[str, Any], draft: str) -> int:
    """1 when `draft` answers `question` (a live_families row) rightly, else 0."""
    return int(GRADERS[question["grade"]](draft, question["prompt"], question["gold"]))
