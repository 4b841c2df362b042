"""The difficulty scorer: request view → the calibrated probability that a small model falls short.

Two weights formats are read. The shipped one, `gateway-difficulty-v3` (families.py, served by
family_scorer.py), reads a request's family and counts; `gateway-difficulty-v2` (this module's
DifficultyScorer, the weights shipped before issue 21 and what `gateway train --replace` writes):

    logit = intercept + slope * (Σ dense weight * (signal - center) / scale
                                 + Σ_k embedding weight_k * (u_k - center_k) / scale_k)
                      + prior weight * n / (n + 4) * Σ_c softmax_c(temperature * u·centroid_c) * logit_c

where the dense signals are named in signals.py (prompt length first) and u is the prompt slice's mean
WordLlama token embedding, projected on the k directions the weights file carries and normalised.
The bracket is the difficulty index (it ranks prompts within a family of tasks); the last term is a
nearest-centroid prior (how often the small model fell short on training prompts like this one: it
sets the level across families; n is the token count). The calibration maps both to the probability
the weights were fitted for (`meta.label`): for the shipped weights, that Mistral-7B's answer falls
short (wrong on RouterBench, graded below 7/10 on arena-bench). The weights are one JSON file
(~100 KB, offline/scorer_train.py writes it).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.classify.embed import EMBEDDING, Embedding, load_embedding
from gateway.classify.families import FAMILIES_FORMAT, FamilyHit, FamilyModel
from gateway.classify.family_file import model_from_json
from gateway.classify.family_scorer import FamilyScorer
from gateway.classify.features import Features, profile, prompt_slice
from gateway.classify.signals import SIGNALS
from gateway.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.view import PromptView

__all__ = [
    "FORMAT",
    "PRIOR_TOKENS",
    "DenseTerm",
    "DifficultyScorer",
    "FamilyScorer",
    "Scorer",
    "ScorerSpec",
    "default_scorer",
    "family_scorer",
    "load_scorer",
    "load_spec",
    "load_weights",
    "spec_from_json",
    "v2_scorer",
]

FORMAT = "gateway-difficulty-v2"
_OLD_FORMAT = "gateway-linear-v1"
_SHIPPED = "weights/default.json"  # v3, the Mixtral-8x7B-class counts
V2_SHIPPED = "weights/difficulty-v2.json"  # the weights shipped before issue 21 (Mistral-7B)
PRIOR_TOKENS = 4  # the nearest-centroid prior counts in full from well above this many tokens


class Scorer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def meta(self) -> dict[str, Any]: ...

    def score(self, view: PromptView, features: Features | None = None) -> float: ...

    def family(self, view: PromptView, features: Features | None = None) -> FamilyHit | None:
        """The family the request is read in (None: weights without families)."""
        ...

    def scored(self, view: PromptView, features: Features | None = None) -> tuple[float, FamilyHit | None]:
        """`score` and `family` from one reading: what the planner asks."""
        ...


@dataclass(frozen=True, slots=True)
class DenseTerm:
    signal: str
    center: float
    scale: float
    weight: float


@dataclass(frozen=True)
class ScorerSpec:
    """A weights file, parsed: pure data, no embedding loaded."""

    name: str
    dense: tuple[DenseTerm, ...]
    intercept: float
    slope: float
    basis: list[list[float]] | None = None  # k x 256: the embedding directions kept
    emb_center: list[float] = field(default_factory=list)
    emb_scale: list[float] = field(default_factory=list)
    emb_weight: list[float] = field(default_factory=list)
    # The nearest-centroid prior: clusters of training prompts (unit k-vectors) and their log-odds.
    centroids: list[list[float]] = field(default_factory=list)
    cluster_logits: list[float] = field(default_factory=list)
    temperature: float = 0.0
    prior_weight: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "dense": [
                {"signal": d.signal, "center": d.center, "scale": d.scale, "weight": d.weight}
                for d in self.dense
            ],
            "calibration": {"intercept": self.intercept, "slope": self.slope},
            "meta": self.meta,
        }
        if self.basis is not None:
            out["embedding"] = {
                **{k: EMBEDDING[k] for k in ("package", "weights_sha256", "tokenizer_sha256")},
                "basis": self.basis,
                "center": self.emb_center,
                "scale": self.emb_scale,
                "weight": self.emb_weight,
                "prior": {
                    "centroids": self.centroids,
                    "logits": self.cluster_logits,
                    "temperature": self.temperature,
                    "weight": self.prior_weight,
                },
            }
        return out


def _floats(value: Any, n: int | None = None) -> list[float]:
    out = [float(v) for v in value]
    if n is not None and len(out) != n:
        raise ValueError(f"expected {n} numbers, got {len(out)}")
    return out


def spec_from_json(data: Any, source: str) -> ScorerSpec:
    if isinstance(data, dict) and data.get("format") == _OLD_FORMAT:
        raise ConfigError(
            f"{source}: {_OLD_FORMAT} weights (word and bigram weights) are no longer read; "
            "retrain with `gateway train` (docs/routing.md)"
        )
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{source}: not a {FORMAT} weights file")
    try:
        dense = tuple(
            DenseTerm(str(d["signal"]), float(d["center"]), float(d["scale"]), float(d["weight"]))
            for d in data["dense"]
        )
        unknown = [d.signal for d in dense if d.signal not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown signals {unknown}")
        if any(d.scale <= 0 for d in dense):
            raise ValueError("a dense scale is not positive")
        emb = data.get("embedding")
        basis = None
        center: list[float] = []
        scale: list[float] = []
        weight: list[float] = []
        centroids: list[list[float]] = []
        cluster_logits: list[float] = []
        temperature = prior_weight = 0.0
        if emb is not None:
            if emb.get("weights_sha256") != EMBEDDING["weights_sha256"]:
                raise ValueError("fitted for another embedding model than the one installed")
            basis = [_floats(row, EMBEDDING["dim"]) for row in emb["basis"]]
            k = len(basis)
            center, scale, weight = (_floats(emb[key], k) for key in ("center", "scale", "weight"))
            if k == 0 or any(s <= 0 for s in scale):
                raise ValueError("an embedding scale is not positive")
            prior = emb["prior"]
            centroids = [_floats(row, k) for row in prior["centroids"]]
            cluster_logits = _floats(prior["logits"], len(centroids))
            temperature, prior_weight = float(prior["temperature"]), float(prior["weight"])
        cal = data["calibration"]
        return ScorerSpec(
            name=str(data.get("name", Path(source).stem)),
            dense=dense,
            intercept=float(cal["intercept"]),
            slope=float(cal["slope"]),
            basis=basis,
            emb_center=center,
            emb_scale=scale,
            emb_weight=weight,
            centroids=centroids,
            cluster_logits=cluster_logits,
            temperature=temperature,
            prior_weight=prior_weight,
            meta=dict(data.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed weights file ({exc})") from exc


class DifficultyScorer:
    """Holds the spec, the embedding it needs (loaded once, here, not at import) and the hot path."""

    def __init__(self, spec: ScorerSpec, embedding: Embedding | None = None) -> None:
        import numpy as np

        self.spec = spec
        basis = np.asarray(spec.basis, dtype=np.float32) if spec.basis is not None else None
        # Not kept: its projected table is folded into _table below (4 MiB fewer for the default).
        emb = embedding if embedding is not None else load_embedding(basis)
        self._tokens = emb.tokens
        # Standardised dense terms folded into weight * x + offset.
        self._dense = tuple((SIGNALS[d.signal], d.weight / d.scale) for d in spec.dense)
        self._offset = -sum(d.weight * d.center / d.scale for d in spec.dense)
        self._table: np.ndarray | None = None
        self._emb_offset = 0.0
        if basis is not None:
            w = np.asarray(spec.emb_weight) / np.asarray(spec.emb_scale)
            self._emb_offset = -float(np.dot(w, np.asarray(spec.emb_center)))
            # One gather reads everything: each token's k-vector v, then v's products with the
            # embedding weights and with every centroid (temperature folded in). Sums commute with
            # products, so the prompt's sums are the products of its summed v.
            proj = np.vstack([w] + [np.asarray(c) * spec.temperature for c in spec.centroids])
            table = emb.table
            self._k = table.shape[1]
            self._table = np.ascontiguousarray(np.hstack([table, table @ proj.T.astype(np.float32)]))
            self._cluster = (np.asarray(spec.cluster_logits) * spec.prior_weight).astype(np.float32)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def meta(self) -> dict[str, Any]:
        return self.spec.meta

    def terms(self, view: PromptView, features: Features | None = None) -> dict[str, float]:
        """The logit's parts: intercept, each dense signal's and the embedding's share of the index
        (times the slope), and the nearest-centroid prior. For explaining one score."""
        f = features if features is not None else profile(view)
        text = prompt_slice(view)
        ids, chars = self._tokens.ids(text)
        slope = self.spec.slope
        out = {"intercept": self.spec.intercept}
        for d in self.spec.dense:
            out[d.signal] = slope * d.weight * (SIGNALS[d.signal](f, text, ids, chars) - d.center) / d.scale
        emb, prior = self._embedding_terms(ids)
        out["embedding"] = slope * emb
        out["prior"] = prior
        return out

    def _embedding_terms(self, ids: np.ndarray) -> tuple[float, float]:
        """(embedding share of the index, nearest-centroid prior) for the prompt's token ids."""
        import numpy as np

        if self._table is None or len(ids) == 0:
            return 0.0, 0.0  # no tokens: the embedding says nothing, the index keeps its prior
        k = self._k
        total = self._table.take(ids, axis=0).sum(axis=0)
        v = total[:k]
        sq = float(v @ v)
        if sq <= 0:
            return 0.0, 0.0
        inv = 1.0 / math.sqrt(sq)  # u = v / |v|
        s = total[k + 1 :] * inv
        e = np.exp(s - s.max())
        prior = float(e @ self._cluster) / float(e.sum())
        # A few tokens place a prompt among the training families unreliably: shrink the prior.
        return float(total[k]) * inv + self._emb_offset, prior * len(ids) / (len(ids) + PRIOR_TOKENS)

    def logit(self, view: PromptView, features: Features | None = None) -> float:
        f = features if features is not None else profile(view)
        text = prompt_slice(view)
        ids, chars = self._tokens.ids(text)
        return self.logit_of(f, text, ids, chars)

    def logit_of(self, f: Features, text: str, ids: np.ndarray, chars: int) -> float:
        """The logit from a request's read parts (a v3 file's operator layer passes its own)."""
        z = self._offset
        for signal, w in self._dense:
            z += w * signal(f, text, ids, chars)
        emb, prior = self._embedding_terms(ids)
        return self.spec.intercept + self.spec.slope * (z + emb) + prior

    def score(self, view: PromptView, features: Features | None = None) -> float:
        """Calibrated probability in (0, 1) that the small model the weights describe falls short."""
        z = self.logit(view, features)
        # Clamped so exp() never overflows on a pathological prompt.
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def family(self, view: PromptView, features: Features | None = None) -> None:
        return None  # v2 weights have no families

    def scored(self, view: PromptView, features: Features | None = None) -> tuple[float, None]:
        return self.score(view, features), None


def _read_json(path: Path | None) -> tuple[Any, str]:
    if path is None:
        text = resources.files("gateway.classify").joinpath(_SHIPPED).read_text(encoding="utf-8")
        return json.loads(text), f"gateway/classify/{_SHIPPED}"
    try:
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read classifier weights: {exc}") from exc


def load_weights(path: Path | None) -> ScorerSpec | FamilyModel:
    """A weights file parsed, no embedding loaded (None: the shipped weights): the family model of a
    v3 file, the spec of a v2 one. For offline tools that score logged inputs rather than text."""
    data, source = _read_json(path)
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt == FAMILIES_FORMAT:
        return model_from_json(data, source)
    if fmt not in (FORMAT, _OLD_FORMAT):
        raise ConfigError(f"{source}: not a {FAMILIES_FORMAT} (or {FORMAT}) weights file")
    return spec_from_json(data, source)


def load_spec(path: Path | None) -> ScorerSpec:
    """A v2 weights file parsed (None: the weights shipped before issue 21, difficulty-v2.json)."""
    if path is None:
        text = resources.files("gateway.classify").joinpath(V2_SHIPPED).read_text(encoding="utf-8")
        return spec_from_json(json.loads(text), f"gateway/classify/{V2_SHIPPED}")
    data, source = _read_json(path)
    return spec_from_json(data, source)


def load_scorer(path: Path | None) -> DifficultyScorer | FamilyScorer:
    """The scorer a weights file describes, whichever its format (None: the shipped weights)."""
    weights = load_weights(path)
    if isinstance(weights, FamilyModel):
        return family_scorer(weights, str(path))
    return DifficultyScorer(weights)


def family_scorer(model: FamilyModel, source: str = "weights") -> FamilyScorer:
    """The v3 scorer of a model, with its operator layer's v2 scorer when it has one."""
    layer = model.operator
    if layer is None:
        return FamilyScorer(model)
    spec = spec_from_json(layer.spec, f"{source}: operator layer")
    return FamilyScorer(model, operator=DifficultyScorer(spec))


@functools.cache
def default_scorer() -> FamilyScorer:
    """The shipped scorer, built once per process on first use (about 0.2 s: it reads the embedding)."""
    weights = load_weights(None)
    assert isinstance(weights, FamilyModel), "the shipped weights are v3"
    return family_scorer(weights, "shipped")


@functools.cache
def v2_scorer() -> DifficultyScorer:
    """The weights shipped before issue 21 (Mistral-7B labels), for comparisons and tests."""
    return DifficultyScorer(load_spec(None))
