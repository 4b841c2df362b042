"""Questions about words, letters and the calendar whose answer they determine: letters, vowels or
words counted, a word reversed or re-cased, a letter's position, days and months ahead or before.

Each reads one lowercase sentence (`seg`; `transform` also `raw`, as written, for the word's case)
and returns a Solution or None.
"""

from __future__ import annotations

import re

from gateway.classify.solution import Solution

__all__ = ["DAYS", "MONTHS", "calendar", "counting", "position", "transform"]

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

_VOWELS = frozenset("aeiou")


def _count(word: str) -> int | None:
    return int(word) if word.isdigit() else _SMALL.index(word) if word in _SMALL else None


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


def counting(seg: str) -> Solution | None:
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
    m = _WORDS_IN.search(seg)
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


def transform(seg: str, raw: str) -> Solution | None:
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


def calendar(seg: str) -> Solution | None:
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


def position(seg: str) -> Solution | None:
    """ "What is the third letter of the word 'garden'?", "Name the fifth letter of the alphabet." """
    m = _POSITION.match(seg)
    if m is None:
        return None
    nth = int(m.group(1)) if m.group(1).isdigit() else _ORDINAL[m.group(1)]
    word = "abcdefghijklmnopqrstuvwxyz" if m.group(2) else m.group(3).replace("-", "")
    if nth == 0 or nth > len(word):
        return None
    return Solution("char", word[nth - 1] if nth > 0 else word[-1])
