"""The drafting model's own prior: P(its draft is right) read from the question alone, before any draft.

A fresh gateway knows nothing of a family's record, and the pre-generation difficulty is another
model's (how often a Mixtral-class model falls short): on questions written without sight of our checks it
ranks the embedded model's drafts near chance (0.45-0.58). What does carry from family to family is
the *kind* of question: how many numbers it holds, whether it asks for a count, a sequence or a
letter, a lookup, lettered options, a format. These fifteen cues, in a logistic model fitted on the
embedded model's own graded drafts (57 families: `gateway fit-prompt-prior`), rank the drafts of a
left-out set of families at AUC 0.60-0.76, mostly by telling the families the model gets right from
those it never does (docs/verifier-eval.md, "The drafting model's own prior").

The verifier reads it only when the caller gives no prior (a family without labels of the
deployment's own), weighted and centred so that it orders the default level, never sets it.
Pure Python, a few regexes: tens of microseconds a question.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.classify import checks

if TYPE_CHECKING:
    from gateway.protocol import RequestView

__all__ = ["INPUTS", "PromptPrior", "prompt_inputs"]

_NUM = re.compile(r"\d+(?:\.\d+)?")
_OPTION = re.compile(r"[A-D][).]")  # an option where it opens the text or follows a space or "("
_YESNO = re.compile(r"(?:is|are|can|do|does|did|was|were|will|would|should|has|have|could)\b", re.I)
_ARITH_SIGN = re.compile(r"\d\s*[-+*x\u00d7/]\s*\d")
_QUOTED = re.compile(r"['\"][A-Za-z]+['\"]")
_WORD = re.compile(r"[^a-z]")
# Keyword cues: a substring test first (C speed), the word-boundary regex only where one is found;
# a regex alternation alone tries every word at every position (~12 µs each on 800 characters).
_ARITH_WORDS = ("plus", "minus", "times", "divided", "subtract", "sum of", "product")
_MAKE_WORDS = ("write", "return", "give a json", "json", "python", "spell", "convert", "put these")
_LOOKUP_WORDS = ("capital", "opposite", "plural", "symbol", "chemical")
_FORMAT_WORDS = ("only", "one word", "just the", "single word", "answer:")
_ORDER_WORDS = ("next", "sequence", "pattern", "order", "after", "before", "letter")


def _bounded(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b")


_ARITH_WORD, _MAKE, _LOOKUP = _bounded(_ARITH_WORDS), _bounded(_MAKE_WORDS), _bounded(_LOOKUP_WORDS)


def _any(low: str, words: tuple[str, ...]) -> bool:
    return any(w in low for w in words)


def _word(low: str, words: tuple[str, ...], bounded: re.Pattern[str]) -> bool:
    return _any(low, words) and bounded.search(low) is not None


def _options(question: str) -> int:
    # A pattern that starts with its letter is scanned for fast; one that starts with a choice of
    # what precedes it tries that choice at every position (4x slower on 800 characters).
    return sum(
        1
        for m in _OPTION.finditer(question)
        if (i := m.start()) == 0 or question[i - 1].isspace() or question[i - 1] == "("
    )


INPUTS = (
    "log_chars",
    "log_numbers",
    "log_digits",
    "options",
    "yes_no",
    "how_many",
    "arithmetic",
    "what",
    "which_who",
    "format",
    "quoted_word",
    "make",
    "lookup",
    "order",
    "lines",
)


def prompt_inputs(question: str) -> dict[str, float]:
    """The fifteen cues of INPUTS, by name."""
    low = question.lower()
    nums = _NUM.findall(question)
    words = low.split(maxsplit=1)
    first = _WORD.sub("", words[0]) if words else ""
    return {
        "log_chars": math.log(max(1, len(question))),
        "log_numbers": math.log1p(len(nums)),
        "log_digits": math.log1p(sum(len(n) for n in nums)),
        "options": float(_options(question) >= 2),
        "yes_no": float(_YESNO.match(question) is not None),
        "how_many": float("how many" in low or "how much" in low),
        "arithmetic": float(
            "%" in question
            or "percent" in low
            or _word(low, _ARITH_WORDS, _ARITH_WORD)
            or _ARITH_SIGN.search(question) is not None
        ),
        "what": float(first == "what"),
        "which_who": float(first in ("which", "who")),
        "format": float(_any(low, _FORMAT_WORDS)),
        "quoted_word": float(_QUOTED.search(question) is not None),
        "make": float(_word(low, _MAKE_WORDS, _MAKE)),
        "lookup": float(_word(low, _LOOKUP_WORDS, _LOOKUP)),
        "order": float(_any(low, _ORDER_WORDS)),
        "lines": float("\n" in question),
    }


@dataclass(frozen=True, slots=True)
class PromptPrior:
    """logit P(the drafting model's draft is right) = bias + Σ weights · inputs; the verifier adds
    `weight` · (that logit - `center`) to its default prior."""

    bias: float
    weights: dict[str, float]
    weight: float  # how much of the prompt's logit a verdict without a prior takes
    center: float  # the mean logit on the drafts it was fitted on: the default keeps its level

    def logit(self, question: str) -> float:
        x = prompt_inputs(question)
        return self.bias + sum(w * x[k] for k, w in self.weights.items())

    def shift(self, view: RequestView) -> float:
        """What a verdict without a prior adds to the default's log-odds for this request."""
        return self.weight * (self.logit(checks.question_of(view)) - self.center)

    def to_json(self) -> dict[str, Any]:
        return {"bias": self.bias, "weights": self.weights, "weight": self.weight, "center": self.center}

    @classmethod
    def from_json(cls, data: Any) -> PromptPrior:
        """ValueError or KeyError when malformed."""
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        unknown = sorted(set(weights) - set(INPUTS))
        if unknown:
            raise ValueError(f"the prompt prior cannot read {', '.join(unknown)}")
        out = cls(float(data["bias"]), weights, float(data["weight"]), float(data["center"]))
        if not (0.0 <= out.weight <= 2.0) or not all(
            math.isfinite(v) for v in (out.bias, out.center, *weights.values())
        ):
            raise ValueError("the prompt prior: finite numbers, weight in [0, 2]")
        return out
