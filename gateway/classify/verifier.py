"""The cascade's verifier: a request and its draft(s) → a calibrated confidence that the first draft is right.

One logistic model per set of features a call can give (draft.py explains the groups):
  text              always; fitted on the shared RouterBench answers (offline/verifier_fit.py)
  logprobs          + the sampled tokens' logprobs (the embedded model, vLLM, OpenAI with logprobs)
  samples           + agreement among k ≥ 2 drafts
  logprobs+samples  both
The last three read the text model's logit as one input (stacking) and are calibrated live on the
embedded model (`gateway calibrate-verifier`). A separate model per availability keeps each one
calibrated on data that had exactly those features, where one model with zeros or missing-indicators
would have to learn every combination from the one data set that has them all. The difficulty score is
centred on its training mean, so a call without one counts as an average prompt.

Scoring is a few regexes and dict look-ups, pure Python: tens of microseconds a draft, no numpy.
The weights live in a small JSON file (weights/verifier.json by default).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify import checks
from gateway.classify.draft import (
    LOGPROB_FEATURES,
    TEXT_FEATURES,
    Draft,
    agreement,
    best_draft,
    difficulty_logit,
    logprob_features,
    text_features,
)
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.protocol import RequestView

__all__ = ["FORMAT", "HEADS", "Draft", "Head", "Verdict", "Verifier", "default_verifier", "load_verifier"]

FORMAT = "gateway-verifier-v1"
HEADS = ("text", "logprobs", "samples", "logprobs+samples")
# What each model may read; a missing model falls back to the next one that needs less.
_INPUTS = {
    "text": frozenset((*TEXT_FEATURES, "difficulty")),
    "logprobs": frozenset((*TEXT_FEATURES, "difficulty", "text", *LOGPROB_FEATURES)),
    "samples": frozenset((*TEXT_FEATURES, "difficulty", "text", "agree")),
    "logprobs+samples": frozenset((*TEXT_FEATURES, "difficulty", "text", *LOGPROB_FEATURES, "agree")),
}
_WANTED = {
    (False, False): "text",
    (True, False): "logprobs",
    (False, True): "samples",
    (True, True): "logprobs+samples",
}
_FALLBACK = {
    "logprobs+samples": ("logprobs+samples", "logprobs", "samples", "text"),
    "logprobs": ("logprobs", "text"),
    "samples": ("samples", "text"),
    "text": ("text",),
}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass(frozen=True, slots=True)
class Head:
    bias: float
    weights: dict[str, float]

    def logit(self, x: dict[str, float]) -> float:
        # An input that is absent (difficulty not given) adds nothing: it is centred on its mean.
        return self.bias + sum(w * x[k] for k, w in self.weights.items() if k in x)


@dataclass(frozen=True, slots=True)
class Verdict:
    confidence: float  # P(the first draft is right)
    head: str  # which model judged it (the feature groups it had)
    features: dict[str, float]  # every input, plus the text model's logit ("text") and the final one


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    heads: dict[str, Head]
    difficulty_center: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def features(
        self, view: RequestView, drafts: Sequence[Draft], difficulty: float | None
    ) -> tuple[str, dict[str, float]]:
        """The model that applies, and its inputs (the text model's logit among them)."""
        if not drafts:
            raise ValueError("the verifier needs at least one draft")
        expect = checks.expectation(view)
        found = [checks.final_answer(d.content, expect) for d in drafts]
        toks = checks.words(drafts[0].content)
        x = text_features(drafts[0], expect, found[0], toks)
        if difficulty is not None and math.isfinite(difficulty):
            x["difficulty"] = difficulty_logit(difficulty) - self.difficulty_center
        lp = logprob_features(drafts[0].logprobs)
        agree = agreement(drafts, found, toks)
        if lp is not None:
            x.update(lp)
        if agree is not None:
            x["agree"] = agree
        wanted = _WANTED[lp is not None, agree is not None]
        head = next(h for h in _FALLBACK[wanted] if h in self.heads)
        x["text"] = self.heads["text"].logit(x)
        return head, x

    def verdict(self, view: RequestView, drafts: Sequence[Draft], difficulty: float | None) -> Verdict:
        head, x = self.features(view, drafts, difficulty)
        z = x["text"] if head == "text" else self.heads[head].logit(x)
        return Verdict(_sigmoid(z), head, {**x, "logit": z})

    def confidence(self, view: RequestView, drafts: Sequence[Draft], difficulty: float | None) -> float:
        """P(drafts[0] is right), in [0, 1]. Other drafts are samples of the same request."""
        return self.verdict(view, drafts, difficulty).confidence

    def explain(
        self, view: RequestView, drafts: Sequence[Draft], difficulty: float | None
    ) -> dict[str, float]:
        """The inputs the verdict read, the text model's logit ("text"), the final logit and confidence."""
        v = self.verdict(view, drafts, difficulty)
        return {**v.features, "confidence": v.confidence}

    def best(self, view: RequestView, drafts: Sequence[Draft]) -> int:
        """Which draft to answer with when there are several: the one most samples agree with."""
        expect = checks.expectation(view)
        return best_draft(drafts, [checks.final_answer(d.content, expect) for d in drafts])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "difficulty_center": self.difficulty_center,
            "heads": {k: {"bias": h.bias, "weights": h.weights} for k, h in self.heads.items()},
            "meta": self.meta,
        }


def _from_json(data: Any, source: str) -> Verifier:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{source}: not a {FORMAT} weights file")
    try:
        heads = {
            str(name): Head(float(h["bias"]), {str(k): float(v) for k, v in h["weights"].items()})
            for name, h in data["heads"].items()
        }
        verifier = Verifier(
            name=str(data.get("name", Path(source).stem)),
            heads=heads,
            difficulty_center=float(data.get("difficulty_center", 0.0)),
            meta=dict(data.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed verifier weights ({exc})") from exc
    if "text" not in heads:
        raise ConfigError(f"{source}: the verifier needs a `text` model")
    for name, head in heads.items():
        if name not in _INPUTS:
            raise ConfigError(f"{source}: unknown verifier model {name!r} (known: {', '.join(HEADS)})")
        unknown = sorted(set(head.weights) - _INPUTS[name])
        if unknown:
            raise ConfigError(f"{source}: verifier model {name!r} cannot read {', '.join(unknown)}")
    return verifier


def load_verifier(path: Path) -> Verifier:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read verifier weights: {exc}") from exc
    return _from_json(data, str(path))


def default_verifier() -> Verifier:
    text = resources.files("gateway.classify").joinpath("weights/verifier.json").read_text(encoding="utf-8")
    return _from_json(json.loads(text), "gateway/classify/weights/verifier.json")
