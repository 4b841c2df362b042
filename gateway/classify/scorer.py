"""Difficulty scorers: features → a score in [0, 1], "how likely the small tier falls short".

The default is a logistic model over the dense features and a pruned word/bigram vocabulary, stored as
a small JSON file inside the package (trained by `gateway train`, see classify/train.py). Scoring is a
handful of dict look-ups: well under a millisecond on one core, no numpy at serving time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from gateway.classify.features import Features, dense_vector
from gateway.errors import ConfigError

__all__ = ["FORMAT", "LinearScorer", "Scorer", "default_scorer", "load_scorer"]

FORMAT = "gateway-linear-v1"


class Scorer(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, features: Features, words: list[str]) -> float: ...


@dataclass(frozen=True, slots=True)
class LinearScorer:
    name: str
    bias: float
    dense: dict[str, float]
    vocab: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)

    def logit(self, features: Features, words: list[str]) -> float:
        z = self.bias
        for k, v in dense_vector(features).items():
            z += self.dense.get(k, 0.0) * v
        vocab = self.vocab
        for w in set(words):
            z += vocab.get(w, 0.0)
        return z

    def score(self, features: Features, words: list[str]) -> float:
        z = self.logit(features, words)
        # Clamped so exp() never overflows on a pathological prompt.
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "bias": self.bias,
            "dense": self.dense,
            "vocab": self.vocab,
            "meta": self.meta,
        }


def _from_json(data: Any, source: str) -> LinearScorer:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{source}: not a {FORMAT} weights file")
    try:
        return LinearScorer(
            name=str(data.get("name", Path(source).stem)),
            bias=float(data["bias"]),
            dense={str(k): float(v) for k, v in data["dense"].items()},
            vocab={str(k): float(v) for k, v in data["vocab"].items()},
            meta=dict(data.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed weights file ({exc})") from exc


def load_scorer(path: Path) -> LinearScorer:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read classifier weights: {exc}") from exc
    return _from_json(data, str(path))


def default_scorer() -> LinearScorer:
    text = resources.files("gateway.classify").joinpath("weights/default.json").read_text(encoding="utf-8")
    return _from_json(json.loads(text), "gateway/classify/weights/default.json")
