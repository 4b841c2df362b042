"""The cascade's verifier: a request and its draft(s) → a calibrated confidence that the first draft is right.

It updates a prior by evidence: the caller's P(the small model's draft is right) for this request
(from the pre-generation score: its family's shrunk rate and the signals within the family), and
what the draft shows, in log-odds:

    logit P(right) = logit(prior_right) + level · m / (m + n) + evidence(draft)

With no prior from the caller (a family without labels of the deployment's own), prior_right is the
file's default, moved by the drafting model's own prior read from the question (prompt_prior.py).

`level` (a model's own) moves a prior from the shipped counts (`n` labels of the request's family,
none known: 0) to the level of the model that drafts, and fades as the family's own labels come in
(`m` pseudo-labels). The evidence is one logistic model per set of features a call can give (draft.py
explains the groups), fitted on drafts of families left out with the prior as a fixed offset, so it
learns what a draft says *beyond* its family's rate, never the rate again:
  text              always; fitted on the shared RouterBench answers (offline/verifier_fit.py)
  logprobs          + the sampled tokens' logprobs (the embedded model, vLLM, OpenAI with logprobs)
  samples           + agreement among k ≥ 2 drafts
  logprobs+samples  both
The last three read the text model's evidence as one input (stacking) and are fitted live on the
embedded model (`gateway calibrate-verifier`). A separate model per availability keeps each one
calibrated on data that had exactly those features, where one model with zeros or missing-indicators
would have to learn every combination from the one data set that has them all.

A weights file of the first format (gateway-verifier-v1) has no prior: its text model reads the
pre-generation difficulty as an input, centred on its training mean, as before.

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
from gateway.classify.prompt_prior import PromptPrior
from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.protocol import RequestView

__all__ = [
    "FORMAT",
    "HEADS",
    "Draft",
    "Head",
    "Prior",
    "Verdict",
    "Verifier",
    "default_verifier",
    "load_verifier",
]

FORMAT = "gateway-verifier-v2"
FORMATS = ("gateway-verifier-v1", FORMAT)
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
class Prior:
    """How the caller's prior enters: its log-odds, clipped, and how fast a model's level fades."""

    default: float  # P(right) taken when the caller gives no prior (the training drafts' mean)
    pseudo: float = 20.0  # m: labels of the family at which a model's level has halved
    clip: float = 0.01  # a prior of 0 or 1 would overrule any evidence: it is held in [clip, 1 - clip]

    def logit(self, prior_right: float | None) -> float:
        p = self.default if prior_right is None or not math.isfinite(prior_right) else prior_right
        p = min(max(p, self.clip), 1.0 - self.clip)
        return math.log(p / (1.0 - p))

    def fade(self, prior_n: float | None) -> float:
        """The share of a model's level still applied to a prior from `prior_n` labels of the family."""
        n = prior_n if prior_n is not None and math.isfinite(prior_n) and prior_n > 0 else 0.0
        return self.pseudo / (self.pseudo + n)


@dataclass(frozen=True, slots=True)
class Head:
    bias: float
    weights: dict[str, float]
    # Added to a prior from the shipped counts: the drafting model's own level against the model those
    # counts are of (SmolLM2 against Mistral-7B for the live models); it fades as labels come in.
    level: float = 0.0
    # Inputs read as their distance from a centre (lp_head: its mean over the drafts that chose its
    # weight), so that one added to a fitted model leaves its bias alone and an absent one reads as
    # the centre, not as 0.
    centre: dict[str, float] = field(default_factory=dict)

    def logit(self, x: dict[str, float]) -> float:
        # An absent input adds nothing (a first-format file's difficulty is centred on its mean).
        c = self.centre
        return self.bias + sum(w * (x[k] - c.get(k, 0.0)) for k, w in self.weights.items() if k in x)


@dataclass(frozen=True, slots=True)
class Verdict:
    confidence: float  # P(the first draft is right)
    head: str  # which model judged it (the feature groups it had)
    features: dict[str, float]  # every input, plus the text model's logit ("text") and the final one


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    heads: dict[str, Head]
    difficulty_center: float = 0.0  # gateway-verifier-v1 only
    meta: dict[str, Any] = field(default_factory=dict)
    prior: Prior | None = None  # None: a gateway-verifier-v1 file (difficulty read as an input)
    # The drafting model's own P(right) from the question, read when the caller gives no prior
    prompt: PromptPrior | None = None

    def features(
        self,
        view: RequestView,
        drafts: Sequence[Draft],
        difficulty: float | None = None,
        *,
        prior_right: float | None = None,
        prior_n: float | None = None,
    ) -> tuple[str, dict[str, float]]:
        """The model that applies, and its inputs: the prior's log-odds ("prior", with its level),
        the text model's evidence ("text") among them. `difficulty` (P(the small model falls
        short)) stands for `prior_right` = 1 - difficulty when that is not given."""
        if not drafts:
            raise ValueError("the verifier needs at least one draft")
        expect = checks.expectation(view)
        found = [checks.final_answer(d.content, expect) for d in drafts]
        toks = checks.words(drafts[0].content)
        x = text_features(drafts[0], expect, found[0], toks)
        if difficulty is not None and not math.isfinite(difficulty):
            difficulty = None  # garbage in counts as absent
        if self.prior is not None:
            if prior_right is None and difficulty is not None:
                prior_right = 1.0 - difficulty
            x["prior"] = self.prior.logit(prior_right)
            if prior_right is None and self.prompt is not None:
                x["prompt"] = self.prompt.shift(view)
                x["prior"] += x["prompt"]
            x["fade"] = self.prior.fade(prior_n)
        elif difficulty is not None:
            x["difficulty"] = difficulty_logit(difficulty) - self.difficulty_center
        lp = logprob_features(drafts[0].logprobs, drafts[0].head)
        if lp is not None and (expect.code or expect.json):
            del lp["lp_head"]  # code or JSON makes no first statement: the whole answer is read
        agree = agreement(drafts, found, toks)
        if lp is not None:
            x.update(lp)
        if agree is not None:
            x["agree"] = agree
        wanted = _WANTED[lp is not None, agree is not None]
        head = next(h for h in _FALLBACK[wanted] if h in self.heads)
        x["text"] = self.heads["text"].logit(x)
        return head, x

    def verdict(
        self,
        view: RequestView,
        drafts: Sequence[Draft],
        difficulty: float | None = None,
        *,
        prior_right: float | None = None,
        prior_n: float | None = None,
    ) -> Verdict:
        head, x = self.features(view, drafts, difficulty, prior_right=prior_right, prior_n=prior_n)
        model = self.heads[head]
        evidence = x["text"] if head == "text" else model.logit(x)
        z = x.get("prior", 0.0) + model.level * x.get("fade", 0.0) + evidence
        return Verdict(_sigmoid(z), head, {**x, "evidence": evidence, "logit": z})

    def confidence(
        self,
        view: RequestView,
        drafts: Sequence[Draft],
        difficulty: float | None = None,
        *,
        prior_right: float | None = None,
        prior_n: float | None = None,
    ) -> float:
        """P(drafts[0] is right), in [0, 1]. Other drafts are samples of the same request. The prior
        is `prior_right` (P(right) before the draft; its family's label count `prior_n` when known),
        else 1 - `difficulty`, else the file's default."""
        return self.verdict(view, drafts, difficulty, prior_right=prior_right, prior_n=prior_n).confidence

    def explain(
        self,
        view: RequestView,
        drafts: Sequence[Draft],
        difficulty: float | None = None,
        *,
        prior_right: float | None = None,
        prior_n: float | None = None,
    ) -> dict[str, float]:
        """The inputs the verdict read, the prior's log-odds ("prior"), the text model's evidence
        ("text"), the whole evidence, the final logit and the confidence."""
        v = self.verdict(view, drafts, difficulty, prior_right=prior_right, prior_n=prior_n)
        return {**v.features, "confidence": v.confidence}

    def best(self, view: RequestView, drafts: Sequence[Draft]) -> int:
        """Which draft to answer with when there are several: the one most samples agree with."""
        expect = checks.expectation(view)
        return best_draft(drafts, [checks.final_answer(d.content, expect) for d in drafts])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT if self.prior is not None else FORMATS[0],
            "name": self.name,
            "heads": {k: _head_json(h) for k, h in self.heads.items()},
            "meta": self.meta,
        }
        if self.prior is None:
            out["difficulty_center"] = self.difficulty_center
        else:
            p = self.prior
            out["prior"] = {"default": p.default, "pseudo": p.pseudo, "clip": p.clip}
            if self.prompt is not None:
                out["prior"]["prompt"] = self.prompt.to_json()
        return out


def _head_json(h: Head) -> dict[str, Any]:
    out: dict[str, Any] = {"bias": h.bias, "weights": h.weights}
    if h.level:
        out["level"] = h.level
    if h.centre:
        out["centre"] = h.centre
    return out


def _from_json(data: Any, source: str) -> Verifier:
    if not isinstance(data, dict) or data.get("format") not in FORMATS:
        raise ConfigError(f"{source}: not a {FORMAT} (or {FORMATS[0]}) weights file")
    v2 = data["format"] == FORMAT
    try:
        heads = {
            str(name): Head(
                float(h["bias"]),
                {str(k): float(v) for k, v in h["weights"].items()},
                float(h.get("level", 0.0)),
                {str(k): float(v) for k, v in h.get("centre", {}).items()},
            )
            for name, h in data["heads"].items()
        }
        prior, prompt = None, None
        if v2:
            p = data["prior"]
            prior = Prior(float(p["default"]), float(p["pseudo"]), float(p["clip"]))
            if not (0 < prior.default < 1 and 0 < prior.clip < 0.5 and prior.pseudo > 0):
                raise ValueError("prior: default in (0, 1), clip in (0, 0.5), pseudo > 0")
            if "prompt" in p:
                prompt = PromptPrior.from_json(p["prompt"])
        verifier = Verifier(
            name=str(data.get("name", Path(source).stem)),
            heads=heads,
            difficulty_center=float(data.get("difficulty_center", 0.0)),
            meta=dict(data.get("meta", {})),
            prior=prior,
            prompt=prompt,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed verifier weights ({exc})") from exc
    if "text" not in heads:
        raise ConfigError(f"{source}: the verifier needs a `text` model")
    for name, head in heads.items():
        if name not in _INPUTS:
            raise ConfigError(f"{source}: unknown verifier model {name!r} (known: {', '.join(HEADS)})")
        unknown = sorted(set(head.weights) - _INPUTS[name] - ({"difficulty"} if v2 else set()))
        if v2 and "difficulty" in head.weights:
            unknown.append("difficulty (the prior replaces it)")
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
