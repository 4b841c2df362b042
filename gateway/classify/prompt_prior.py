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
_OPTION = re.compile(r"(?:^|\s|\()[A-D][).]")
_YESNO = re.compile(r"(?:is|are|can|do|does|did|was|were|will|would|should|has|have|could)\b", re.I)
_ARITH_SIGN = re.compile(r"\d\s*[-+*x\u00d7/]\s*\d")
_ARITH_WORD = re.compile(r"\b(?:plus|minus|times|divided|subtract|sum of|product)\b")
_FORMAT = re.compile(r"only|one word|just the|single word|answer:")
_QUOTED = re.compile(r"['\"][A-Za-z]+['\"]")
_MAKE = re.compile(r"\b(?:write|return|give a json|json|python|spell|convert|put these)\b")
_LOOKUP = re.compile(r"\b(?:capital|opposite|plural|symbol|chemical)\b")
_ORDER = re.compile(r"next|sequence|pattern|order|after|before|letter")
_WORD = re.compile(r"[^a-z]")

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
    words = low.split()
    first = _WORD.sub("", words[0]) if words else ""
    return {
        "log_chars": math.log(max(1, len(question))),
        "log_numbers": math.log1p(len(nums)),
        "log_digits": math.log1p(sum(len(n) for n in nums)),
        "options": float(len(_OPTION.findall(question)) >= 2),
        "yes_no": float(_YESNO.match(question) is not None),
        "how_many": float("how many" in low or "how much" in low),
        "arithmetic": float(
            _ARITH_SIGN.search(question) is not None
            or _ARITH_WORD.search(low) is not None
            or "%" in question
            or "percent" in low
        ),
        "what": float(first == "what"),
        "which_who": float(first in ("which", "who")),
        "format": float(_FORMAT.search(low) is not None),
        "quoted_word": float(_QUOTED.search(question) is not None),
        "make": float(_MAKE.search(low) is not None),
        "lookup": float(_LOOKUP.search(low) is not None),
        "order": float(_ORDER.search(low) is not None),
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
