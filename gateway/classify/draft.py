"""A draft answer and the verifier's features of it, by group; a group the draft cannot give is absent.

- text (always): cues read from the answer and the question (checks.py), its arithmetic recomputed
  (recompute.py);
- logprobs (when the sampled tokens' log-probabilities are known): their mean, a low quantile, the
  minimum, and the minimum over the draft's first statement (`lp_head`: its first sentence or line,
  where a short answer gives its answer; the whole draft's when the tokens' texts are unknown; the
  verifier drops it where code or JSON is asked for, which makes no such statement). The mean
  and the quantile do not grow with the answer's length, as a sum would; the minimum does a little,
  and the fit weighs it accordingly;
- agreement (two drafts or more): the share of the other samples that gave the first draft's final
  answer, or, where there is no short answer to compare, their word overlap with it.

Absent groups are absent (not zero, which would read as a confident value): the verifier picks the
weights fitted for the groups at hand (verifier.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.classify import checks, recompute, solution
from gateway.classify.counts import countable

if TYPE_CHECKING:
    from gateway.classify.checks import Expectation

__all__ = [
    "LOGPROB_FEATURES",
    "TEXT_FEATURES",
    "Draft",
    "agreement",
    "best_draft",
    "difficulty_logit",
    "draft_of",
    "drafts_of",
    "first_statement",
    "logprob_features",
    "text_features",
]

ARITHMETIC_FEATURES = (
    "calc_wrong",
    "calc_right",
    "final_mismatch",
    "echo_number",
    "answer_wrong",
    "answer_right",
)
TEXT_FEATURES = (
    "finish_length",
    "refusal",
    "hedging",
    "missing_answer",
    "code_broken",
    "repetition",
    "log_chars",
    "unfinished",
    *ARITHMETIC_FEATURES,
)
LOGPROB_FEATURES = ("lp_mean", "lp_q10", "lp_min", "lp_head")
HEAD_TOKENS = 64
LOGPROB_FLOOR = -20.0  # a token the model all but ruled out; one of them should not dominate the mean


@dataclass(frozen=True, slots=True)
class Draft:
    content: str
    finish_reason: str | None = None
    logprobs: tuple[float, ...] | None = None  # the sampled tokens' log-probabilities, if known
    head: tuple[int, int] | None = None  # the tokens [start, end) of the first statement; None: texts unknown


def draft_of(obj: Any) -> Draft:
    """A Draft from JSON: a replay line's draft ({"content", "finish_reason", "logprobs": [{"token",
    "logprob"}, ...]}), a chat choice ({"message": {"content"}, "logprobs": {"content": [...]}}) or a
    completions choice ({"text", "logprobs": {"token_logprobs": [...]}}). ValueError if it is none."""
    if not isinstance(obj, dict):
        raise ValueError("a draft is a JSON object")
    message = obj.get("message")
    content = message.get("content") if isinstance(message, dict) else obj.get("content", obj.get("text"))
    if content is None and isinstance(message, dict):
        content = ""  # a tool call or a refusal: no text to judge
    if not isinstance(content, str):
        raise ValueError("a draft needs `content` (text)")
    raw = obj.get("logprobs")
    texts: Any = None
    if isinstance(raw, dict):
        texts = raw.get("tokens")  # a completions choice gives the texts beside the values
        raw = raw.get("content") if "content" in raw else raw.get("token_logprobs")
    logprobs = head = None
    if raw is not None:
        if not isinstance(raw, list):
            raise ValueError("`logprobs` is a list")
        values: list[float] = []
        for t in raw:
            v = t.get("logprob") if isinstance(t, dict) else t
            if not isinstance(v, int | float) or isinstance(v, bool):
                raise ValueError("each logprob is a number")
            values.append(float(v))
        logprobs = tuple(values)
        if texts is None:
            texts = raw  # chat entries carry their own texts; plain numbers have none (None below)
        head = first_statement(texts) if isinstance(texts, list) and len(texts) == len(values) else None
    finish = obj.get("finish_reason")
    return Draft(content, finish if isinstance(finish, str) else None, logprobs, head)


def first_statement(tokens: Sequence[Any]) -> tuple[int, int] | None:
    """The tokens [start, end) of the draft's first statement: up to its first line break, or the
    first sentence end followed by a space or nothing (so "3.5" does not end it), once it has said
    something. An opening code fence line ("```json") is skipped: the statement is the code's first
    line, not the fence's tokens, which say nothing of the answer. Each token is its text or a chat
    logprob entry ({"token": text, ...}). At most HEAD_TOKENS are read (a long answer's opening), and
    a short statement's end stops the reading, so a draft costs the same however long it is; None if
    a token's text is unknown."""
    start, said, line = 0, False, ""
    for i, entry in enumerate(tokens[:HEAD_TOKENS]):
        t = _text(entry)
        if t is None:
            return None
        if "\n" in t and (line + t).lstrip().startswith("```") and "\n" not in line.lstrip():
            start, said, line = i + 1, False, ""
            continue
        line += t
        if said and (
            "\n" in t or (t.rstrip()[-1:] in _ENDS and (t[-1:].isspace() or _next_opens(tokens, i)))
        ):
            return start, i + 1
        said = said or any(c.isalnum() for c in t)
    end = min(len(tokens), HEAD_TOKENS)
    return (start, end) if start < end else (0, end)


_ENDS = frozenset(".!?")


def _text(entry: Any) -> str | None:
    t = entry.get("token") if isinstance(entry, dict) else entry
    return t if isinstance(t, str) else None


def _next_opens(tokens: Sequence[Any], i: int) -> bool:
    """The token after i starts a new word (or there is none): a "." before it ends a sentence."""
    if i + 1 >= len(tokens):
        return True
    nxt = _text(tokens[i + 1])
    return nxt is not None and nxt[:1].isspace()


def drafts_of(value: Any) -> tuple[Draft, ...]:
    """A replay line's `draft`: one draft object or a non-empty list of them (ValueError otherwise)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("`draft` is an empty list")
    return tuple(draft_of(v) for v in items)


def difficulty_logit(difficulty: float) -> float:
    d = min(max(difficulty, 1e-4), 1.0 - 1e-4)
    return math.log(d / (1.0 - d))


def _number(answer: str | None, expect: Expectation) -> float | None:
    """The draft's final answer as a number: a numeric answer, or the text of the option it chose."""
    if answer is None:
        return None
    if expect.options:
        answer = expect.options.get(answer, "").replace(",", "")
    try:
        return float(answer)
    except ValueError:
        return None


def arithmetic_checks(text: str, expect: Expectation, answer: str | None) -> dict[str, float]:
    """Two kinds of check, kept apart because they say different things:

    - `calc_*`: the computations the draft states, recomputed, and its final answer against its last
      computation (recompute.py). A draft can compute every step right and still answer the wrong
      question (a word problem misread), so this is weak news when it holds;
    - `answer_*`: the draft's final answer against the answer the question itself determines: its own
      computation ("What is 17 + 26?", recompute.py) or what solve.py works out ("Is 91 prime?",
      "Spell 'listen' backwards"), or the kind of number it asks for (a count of things comes to a
      whole number, not 16.67 stamps). This is all but proof either way (text_features adds JSON
      asked for that does not parse).
    """
    if expect.code or expect.json:  # "x = 2 * 3" in code is an assignment, not a claim
        return dict.fromkeys(ARITHMETIC_FEATURES, 0.0)
    done = recompute.recompute(text)
    wrong = any(not c.right for c in done)
    final = _number(answer, expect)
    verdicts = []  # the question's own value, and what solve.py worked out: either can contradict
    if expect.value is not None and final is not None:
        verdicts.append(recompute.close(expect.value, final))
    if expect.solution is not None and (judged := solution.judge(expect.solution, text, answer)) is not None:
        verdicts.append(judged)
    if expect.whole and final is not None and not countable(final):
        verdicts.append(False)  # 16.67 stamps, or -3 people: no count comes to that
    mismatch = False
    stated = recompute.final_stated(text)
    if stated is not None and done:
        before = [c for c in done if c.end <= stated[1]] or done
        mismatch = not recompute.close(before[-1].value, stated[0])
    return {
        "calc_wrong": float(wrong),
        "calc_right": float(bool(done) and not wrong),
        "final_mismatch": float(mismatch),
        # A numeric answer that only repeats a number of the question: a small model's copy.
        "echo_number": float(final is not None and final in expect.numbers and expect.value is None),
        "answer_wrong": float(not all(verdicts)),
        "answer_right": float(bool(verdicts) and all(verdicts)),
    }


def text_features(
    draft: Draft, expect: Expectation, answer: str | None, toks: list[str] | None = None
) -> dict[str, float]:
    """Features of one draft's text; `answer` is checks.final_answer(draft.content, expect) and
    `toks` checks.words(draft.content), when the caller has them already."""
    text = draft.content
    toks = checks.words(text) if toks is None else toks
    offered, parses = checks.first_json(text[: checks.ANSWER_CHARS]) if expect.json else (False, False)
    if not text.strip():
        missing = True
    elif expect.options:
        missing = answer is None or answer not in expect.options
    elif expect.numeric or expect.yesno:
        missing = answer is None
    elif expect.json:
        missing = not offered
    elif expect.code:
        missing = checks.code_of(text) is None
    else:
        missing = False
    broken = offered and not parses if expect.json else expect.code and checks.code_broken(text, expect)
    features = {
        "finish_length": float(draft.finish_reason == "length"),
        "refusal": float(checks.refusal(text)),
        "hedging": float(checks.hedging(text)),
        "missing_answer": float(missing),
        "code_broken": float(broken),
        "repetition": checks.repetition(toks),
        "log_chars": math.log1p(len(text)) / 8.0,
        # Cut by max_tokens while still working towards its answer: it never gave one.
        "unfinished": float(draft.finish_reason == "length" and checks.opens_working(text)),
        **arithmetic_checks(text, expect, answer),
    }
    if expect.json:  # JSON asked for that does not parse is a wrong answer, not only a broken form
        features["answer_wrong"] = float(broken)
    return features


def logprob_features(
    logprobs: tuple[float, ...] | None, head: tuple[int, int] | None = None
) -> dict[str, float] | None:
    """Mean, 10th percentile and minimum of the sampled tokens' logprobs (in nats), and the minimum
    over the tokens [start, end) of `head` (all of them when None), or None.

    Sorting and summing run in C; the floor is applied by counting what lies below it (bisect), not
    by a Python pass over every token."""
    if not logprobs:
        return None
    lps = sorted(logprobs)
    low = bisect.bisect_left(lps, LOGPROB_FLOOR)
    n = len(lps)
    total = math.fsum(lps[low:]) + low * LOGPROB_FLOOR
    if not math.isfinite(total):  # a NaN from a broken upstream: no usable logprobs
        return None
    return {
        "lp_mean": total / n,
        "lp_q10": max(lps[int(0.1 * (n - 1))], LOGPROB_FLOOR),
        "lp_min": max(lps[0], LOGPROB_FLOOR),
        "lp_head": max(min(logprobs[head[0] : head[1]]) if head else lps[0], LOGPROB_FLOOR),
    }


def agreement(
    drafts: Sequence[Draft], found: Sequence[str | None], head: list[str] | None = None
) -> float | None:
    """How far the other samples back the first: share with the same final answer, else word overlap
    (`head`: the first draft's checks.words, when the caller has them)."""
    if len(drafts) < 2:
        return None
    first = found[0]
    if first is not None:
        return sum(a == first for a in found[1:]) / (len(found) - 1)
    head = checks.words(drafts[0].content) if head is None else head
    return sum(checks.similarity(head, checks.words(d.content)) for d in drafts[1:]) / (len(drafts) - 1)


def best_draft(drafts: Sequence[Draft], found: Sequence[str | None]) -> int:
    """Self-consistency: the draft whose final answer most samples share (the earliest on a tie); with
    no short answers, the one closest in words to the others."""
    if len(drafts) < 2:
        return 0
    if any(a is not None for a in found):
        votes = [sum(b == a for b in found) if a is not None else 0 for a in found]
        return votes.index(max(votes))
    toks = [checks.words(d.content) for d in drafts]
    closeness = [
        sum(checks.similarity(t, u) for j, u in enumerate(toks) if j != i) for i, t in enumerate(toks)
    ]
    return closeness.index(max(closeness))
