"""Reference grader for the blind evaluation set in blind_questions.jsonl: ``grade(item, text) -> bool``.

Lenient about form: case, punctuation, quotes, markdown (**bold**, backticks, #), leading whitespace, a
filler opener ("Sure!"), a lead-in ("The answer is X", "Answer: X", "The correct option is B") and a
trailing explanation are ignored; "1,000" == "1000"; number words ("twelve", "twenty-one", "one hundred",
"three dozen") are numbers.  Strict about content: the answer the draft gives first must match one of
item["answers"]; an empty draft is wrong, and so is one offering two different candidates up front
("Yes and no", "A or B", "7 or 8", "cold or cool").

* yesno: the first yes/no word decides (a leading "True"/"Correct"/"False"/"Incorrect" counts too).
* number: the first number decides, unless the draft's last number is stated as a result ("answer is N",
  "answer: N", "= N", "equals N", "is N"): then that final number decides (worked word problems,
  "Seven plus eight is fifteen").
* letter: "B", "B)", "(B)", "B. text", "Option B", or the option's text alone (options are parsed from
  "A) ... B) ..." in the question) select that option; so does "is <option>" in the first sentence.
* word / phrase: an accepted answer must appear as whole words at the start of the answer (a leading
  "the/a/an" ignored) or right after "is"/"are"/"was" (also "is called", "is to") or ":" in the first
  sentence.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

KINDS = ("number", "yesno", "word", "letter", "phrase")
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_WORDS = {w: i for i, w in enumerate(f"{_ONES} sixteen seventeen eighteen nineteen".split())}
_WORDS |= {w: 10 * i for i, w in enumerate(_TENS.split(), 2)}
_ALT = "|".join([*_WORDS, "hundred", "thousand", "dozen"])
_RUN = re.compile(rf"\b(?:{_ALT})(?:[\s-]+(?:{_ALT}))*\b", re.I)
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_ALSO = re.compile(r"\s*(?:or|to|and|/|-|\u2013)\s*(-?\d+(?:\.\d+)?)", re.I)
_FINAL = re.compile(r"(?:\banswer\b|\bequals\b|\bequal to\b|\bis\b|=)\s*[:=]?\s*\$?\s*$", re.I)
_FILLER = re.compile(r"^(?:(?:sure|certainly|of course|okay|ok|great question)\b[!.,:]*\s*)+", re.I)
_LEAD = re.compile(
    r"^(?:(?:so|thus|therefore)[,\s]+)?(?:the\s+|my\s+)?(?:final\s+|correct\s+|right\s+|best\s+)?"
    r"(?:answer|option|choice)\b(?:\s+(?:is|would be|will be))?\s*(?:[:=]|-(?!\d))?\s*(?:option\s+)?",
    re.I,
)
_SPOT = re.compile(r"\b(?:is|are|was)\b(?: called\b| to\b)?|:", re.I)
_SENT = re.compile(r"(?<=[.!?])\s+|\n")
_OPT = re.compile(r"\b([A-F])\)\s*(.*?)\s*(?=\s[A-F]\)|$)")
_QUOTES = " \t\"'\u201c\u201d\u2018\u2019"
_YN = {"yes": "yes", "yeah": "yes", "yep": "yes", "yup": "yes", "no": "no", "nope": "no", "nah": "no"}
_FIRST_YN = {"true": "yes", "correct": "yes", "false": "no", "incorrect": "no"}
_NOT_NOUN = {"is", "and", "or", "because", "since", "as", "would", "seems", "-"}


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", s).strip()


def _bare(s: str) -> str:
    """Normalised text without a leading article (kept when it is the whole text, e.g. the letter "a")."""
    return re.sub(r"^(?:the|a|an) (?=\S)", "", _norm(s))


def _head(s: str) -> str:
    """The first clause: up to the first , ; ! ? newline or sentence-ending period."""
    return re.split(r"[,;!?\n]|\.(?!\d)", s, maxsplit=1)[0]


def _spots(ans: str) -> list[str]:
    """The answer's start, then what follows each "is"/"are"/"was"/":" in its first sentence."""
    first = _SENT.split(ans, maxsplit=1)[0]
    return [ans, *(first[m.end() :] for m in _SPOT.finditer(first))]


def _run_value(run: str) -> str:
    total = cur = 0
    for w in re.split(r"[\s-]+", run.lower()):
        if w == "thousand":
            total, cur = total + max(cur, 1) * 1000, 0
        else:
            cur = cur + _WORDS[w] if w in _WORDS else max(cur, 1) * (100 if w == "hundred" else 12)
    return str(total + cur)


def _prep(s: str) -> str:
    s = _RUN.sub(lambda m: _run_value(m.group()), s.replace("\u2212", "-"))
    s = re.sub(r"\bnegative\s+(?=\d)|^\s*minus\s+(?=\d)", "-", s, flags=re.I)
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)


def _grade_number(item: dict, ans: str) -> bool:
    targets = {float(m.group()) for a in item["answers"] if (m := _NUM.search(_prep(a)))}
    t = _prep(ans)
    nums = list(_NUM.finditer(t))
    if not nums:
        return False
    if _FINAL.search(t[: nums[-1].start()]):
        return float(nums[-1].group()) in targets
    nxt = _ALSO.match(t[nums[0].end() :])  # "7 or 8", "7-8": two candidates up front
    return not (nxt and float(nxt.group(1)) != float(nums[0].group())) and float(nums[0].group()) in targets


def _grade_yesno(item: dict, ans: str) -> bool:
    words = _norm(ans).split() or [""]
    got = _FIRST_YN.get(words[0]) or next((_YN[w] for w in words if w in _YN), "")
    said_both = {"yes", "no"} <= {_YN.get(w) for w in _norm(_head(ans)).split()}
    return not said_both and got == _norm(item["answers"][0])


def _grade_words(item: dict, ans: str) -> bool:
    accepted = [_bare(a) for a in item["answers"]]

    def hit(s: str) -> bool:
        return any(_bare(s) == a or _bare(s).startswith(a + " ") for a in accepted)

    parts = re.split(r"\s+or\s+|/", _head(ans), maxsplit=1, flags=re.I)
    return any(hit(s) for s in _spots(ans)) and (len(parts) == 1 or hit(parts[1]))


def _pick(s: str, opts: dict[str, str]) -> str | None:
    """The option a piece of text starts with: a letter, or an option's text."""
    s = s.strip().lstrip(_QUOTES)
    b = _bare(_prep(s))
    by_text = [k for _, k in sorted((len(t), k) for k, t in opts.items() if b == t or b.startswith(t + " "))]
    m = re.match(r"\(?([A-Fa-f])(\)?)(?=[.:,;]|\s|$)", s)
    nxt = s[m.end() :].split(maxsplit=1)[0] if m and s[m.end() : m.end() + 1].isspace() else ""
    if m and m.group(1) in "Aa" and not m.group(2) and nxt.islower() and nxt not in _NOT_NOUN:
        return by_text[-1] if by_text else None  # "A cow says moo": an article, not option A
    return m.group(1).upper() if m else (by_text[-1] if by_text else None)


def _grade_letter(item: dict, ans: str) -> bool:
    opts = {k: _bare(_prep(v)) for k, v in _OPT.findall(item["question"])}
    want = next((a.upper() for a in item["answers"] if len(a.strip()) == 1), None)
    got = next((p for s in _spots(ans) if (p := _pick(s, opts))), None)
    rest = re.sub(r"^\(?[A-Fa-f](?:[).:]|\s|$)\s*", "", ans, count=1)
    parts = re.split(r"(?:^|\s+)(?:or|and)\s+|\s*/\s*", _head(rest), maxsplit=1, flags=re.I)
    other = _pick(parts[1], opts) if len(parts) > 1 else None
    return got is not None and got == want and other in (None, got)


def grade(item: dict, text: str) -> bool:
    """True when the draft ``text`` gives the accepted answer of ``item`` first (see module docstring)."""
    ans = _FILLER.sub("", re.sub(r"[*_`#]+", "", text or "").strip())
    ans = _LEAD.sub("", ans, count=1).lstrip(_QUOTES)
    graders = {"number": _grade_number, "yesno": _grade_yesno, "letter": _grade_letter}
    return bool(ans.strip()) and graders.get(item["kind"], _grade_words)(item, ans)


def _problem(it: dict) -> str:
    """Why a JSONL item is malformed or disagrees with grade(); "" when it is fine."""
    types = {"family": str, "question": str, "answers": list, "kind": str, "max_tokens": int}
    if set(it) != set(types) or not all(isinstance(it[k], t) for k, t in types.items()):
        return "bad keys or value types"
    if not it["answers"] or not all(isinstance(a, str) and a.strip() for a in it["answers"]):
        return "empty or non-string answers"
    if it["kind"] not in KINDS or it["max_tokens"] not in range(8, 65) or not it["question"].strip():
        return "bad kind, max_tokens or question"
    if not re.fullmatch(r"[a-z]+(?:_[a-z0-9]+)*", it["family"]):
        return "family is not snake_case"
    if it["kind"] == "letter" and len(_OPT.findall(it["question"])) < 2:
        return "letter question without A) B) options"
    bad = [a for a in it["answers"] if not grade(it, a)] + [""] * grade(it, "")
    bad += [] if grade(it, f"**The answer is {it['answers'][0]}.** Because.") else ["<lead-in form>"]
    return f"grade() disagrees on {bad!r}" if bad else ""


if __name__ == "__main__":
    lines = Path(__file__).with_name("blind_questions.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    errors = [f"line {n}: {p}: {it}" for n, it in enumerate(items, 1) if (p := _problem(it))]
    fams = Counter(it.get("family") for it in items)
    if len(items) != 200 or len(fams) != 10 or set(fams.values()) != {20}:
        errors.append(f"expected 10 families x 20 items, got {len(items)} items: {dict(fams)}")
    if len({it.get("question") for it in items}) != len(items):
        errors.append("duplicate questions")
    print(f"{len(items)} items, kinds {dict(Counter(it.get('kind') for it in items))}")
    print("\n".join(f"  {fam}: {cnt}" for fam, cnt in fams.items()))
    print("\n".join(f"ERROR: {e}" for e in errors) or "OK: schema valid, every accepted answer grades True")
    sys.exit(1 if errors else 0)
