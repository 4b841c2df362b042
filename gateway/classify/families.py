"""Families with counts: the difficulty scorer's model of which family a request belongs to and how
often a small model falls short there (issue 21). Pure data and arithmetic (numpy); the fitting is
offline (offline/family_fit.py), the per-request path is family_scorer.py.

A request's family is found by descending a tree of centroids (unit vectors in the k directions of
the embedding the file carries): from `root`, the child with the largest cosine, entered when that
cosine reaches the child's radius (none by default); a request within no top-level radius goes to
the unknown family `u`. Ids never change once written: `f0 … f{K-1}` at the top, `<parent>.<j>`
for the children a split adds, `u` for the unknown family.

Each node holds, for the labelled rows of its whole subtree, the count of labels, of shortfalls (the
small model fell short) and the sums and sums of squares of the within-family signals x, twice:
`base` (shipped, from the shared data) and `added` (`gateway train --data`). Counts learned while
serving (`LearnedCounts`, injected) add to the labels and shortfalls. With d = min(1, cap / n_base),
cap = `top_cap` in a top-level family and `base_cap` in a sub-family (d = 1 at the root):

    n' = n_added + d·n_base + n_learned          s' = s_added + d·s_base + s_learned
    r_root = (s' + 1) / (n' + 2)                  r_f = (s' + κ·r_parent) / (n' + κ)
    m_f = (X' + κ·m_parent) / (n'' + κ)           sd_f² = (Q' + κ·(sd_parent² + m_parent²)) / (n'' + κ) - m_f²

(n'' without the learned labels, whose signals are not counted) so a family without labels has its
parent's rate, centre and scale. The score of a request in family f:

    t     = Σ_j β_f,j · (x_j - m_f,j) / max(sd_f,j, 0.05·sd_j)
    logit = logit(r_f) + t

β_f: the slopes of f's nearest ancestor that has its own (the root's ship as 2 on log length, 0 on the
rest). Within a family without slopes of its own the score is a strictly increasing function of the
turn's length: an unseen task whose requests land in one label-less family is ranked exactly as
prompt length ranks it. Served folded, per family: t = weights · x + offset.

A family whose counts learned while serving are in force (gateway/learning/) has its level set by
its own traffic, and those labels carry no signals: there (and in a family whose node says
`bounded`: an export folded such counts into the file) the within-family term is bounded,
t → LEARNED_BOUND · tanh(t / LEARNED_BOUND), so that the learned level decides which tier the family's
requests go to (a request far out on the family's length scale would otherwise sit at a probability
no rate could move) while its requests keep their order.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gateway.classify.embed import EMBEDDING
from gateway.classify.operator_layer import OperatorLayer
from gateway.frozen import fast_init

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

# Logits a request's place within its family may move its score from its family's learned level.
LEARNED_BOUND = 0.5


def bounded(t: float) -> float:
    """The within-family term of a family whose learned counts are in force: t near the centre, at
    most LEARNED_BOUND either way (same order)."""
    return LEARNED_BOUND * math.tanh(t / LEARNED_BOUND)


__all__ = [
    "CANDIDATES",
    "FAMILIES_FORMAT",
    "LEARNED_BOUND",
    "ROOT",
    "UNKNOWN",
    "Counts",
    "FamilyHit",
    "FamilyModel",
    "Folded",
    "LearnedCounts",
    "Node",
    "bounded",
]

FAMILIES_FORMAT = "gateway-difficulty-v3"
ROOT, UNKNOWN = "root", "u"
# The within-family signals a weights file counts (signals.py names), the turn's length first; the
# file's `signals.names` may append the embedding's k coordinates (u0 … u{k-1}).
CANDIDATES: tuple[str, ...] = tuple(
    "log_prompt_tokens tokens_per_char chars_per_word distinct_tokens log_newlines digits uppercase "
    "punctuation".split()
)
_SD_FLOOR = 0.05  # a family's scale is at least this share of the overall one (a signal that hardly varies)
_RATE_CLIP = 1e-6


class LearnedCounts(Protocol):
    """Counts learned while serving (issue 22), read by the scorer: injected, never imported here.

    `counts(node)` is the node's whole subtree, as the file's counts are (a label at a leaf counts at
    every id of its `FamilyHit.path`): (extra labels, extra shortfalls), already decayed and gated;
    None: nothing in force. `version` changes whenever any count does: the scorer folds again then."""

    @property
    def version(self) -> int: ...

    def counts(self, node: str) -> tuple[float, float] | None: ...

    def labels(self, node: str) -> float:
        """The node's learned labels themselves (its `counts` may be weighed against the prior)."""
        ...


@dataclass(slots=True)
class Counts:
    """Sufficient statistics of labelled rows: labels, shortfalls, and their signals' sums and sums
    of squares (in the file's signal order)."""

    labels: float
    shortfalls: float
    sum: np.ndarray
    sumsq: np.ndarray

    @classmethod
    def zero(cls, dim: int) -> Counts:
        import numpy as np

        return cls(0.0, 0.0, np.zeros(dim), np.zeros(dim))

    def add(self, labels: float, shortfalls: float, xsum: np.ndarray, xsq: np.ndarray) -> None:
        self.labels += labels
        self.shortfalls += shortfalls
        self.sum = self.sum + xsum
        self.sumsq = self.sumsq + xsq

    def to_json(self) -> dict[str, Any]:
        # Full precision: a variance is a difference of these sums (7 digits moved logits by 0.009).
        return {
            "labels": float(self.labels),
            "shortfalls": float(self.shortfalls),
            "sum": [float(v) for v in self.sum],
            "sumsq": [float(v) for v in self.sumsq],
        }


@dataclass(slots=True)
class Node:
    id: str
    parent: str | None
    centroid: np.ndarray | None  # unit k-vector (None: the root, the unknown family)
    radius: float  # least cosine to enter (-inf: any)
    base: Counts
    added: Counts
    slopes: np.ndarray | None = None  # its own (None: its parent's)
    children: list[str] = field(default_factory=list)  # in file order: the order they were made
    # Its within-family term is bounded (LEARNED_BOUND), as while learned counts are in force: set
    # where an export folded learned counts in, so that the file routes as the gateway did.
    bounded: bool = False


@dataclass(frozen=True, slots=True)
class Folded:
    """One family's values with the counts in force: what serving reads."""

    rate: float  # the shrunk P(falls short)
    labels: float  # n': every label behind the rate (the shipped ones capped)
    own: float  # the deployment's own labels: added by `train --data` and learned while serving
    level: float  # logit(rate)
    offset: float  # t = weights · x + offset (the family's centre folded in)
    weights: np.ndarray


@fast_init
@dataclass(frozen=True, slots=True)
class FamilyHit:
    """The family a request was read in, and what counting a label of it needs."""

    family: str  # the leaf's id
    path: tuple[str, ...]  # leaf → root
    labels: float  # the deployment's own labels of the leaf (added + learned): Plan.labels
    family_set: str  # FamilyModel.family_set_hash: what the ids mean
    measure: Callable[[], tuple[float, ...]] = field(repr=False, compare=False)
    # The request's place within its family: its logit less the family's constant (what the answer
    # index keeps beside the family, for a rating that comes back later).
    within: float = 0.0
    # The score the weights alone give, when counts learned while serving change this family's
    # (None otherwise: the score is the prior's): a route that does not act on learned counts
    # (`learn: frozen | off`) decides with it, and one that does tells what learning moved.
    prior: float | None = None
    # The request's P(falls short) as a probability, where a cascade weighs a draft against it or
    # settles a family by it: the family's rate moved by the request's place within it by at most
    # LEARNED_BOUND log-odds, as learned counts already read it. The score ranks with that place
    # uncapped (2 log-odds per standard deviation of length), which as a probability is
    # overconfident: a short prompt of a family right half the time reads 1e-5
    # (docs/cascade.md). None where the family has no labels of the deployment's own: nothing reads
    # it there (a cascade judges such drafts on the verifier's own prior).
    short: float | None = None
    prior_short: float | None = None  # ... and the weights' alone, where `prior` is given

    @property
    def x(self) -> tuple[float, ...]:
        """The within-family signals as the model counts them (its `signals` order), computed when
        read (~30 µs: most of them the score itself never needs)."""
        return self.measure()


def _r7(x: float) -> float:
    return float(f"{x:.7g}")


@dataclass
class FamilyModel:
    """A v3 weights file, parsed (mutable: offline fitting adds counts and children; a scorer folds
    what it needs when built and is not affected by later changes)."""

    basis: np.ndarray  # k x 256
    signals: tuple[str, ...]  # x's order: CANDIDATES, then u0 … u{k-1} when `embedding_coordinates`
    sd: np.ndarray  # each signal's overall standard deviation (the floor of a family's scale)
    kappa: float
    top_cap: float
    base_cap: float
    nodes: dict[str, Node]
    emb_dims: int = 0  # the last emb_dims signals are the coordinates of u
    name: str = "families"
    meta: dict[str, Any] = field(default_factory=dict)
    # What `train --data` fitted on the operator's labels beyond their counts (operator_layer.py).
    operator: OperatorLayer | None = None

    # ---- structure ---------------------------------------------------------------------------
    def path(self, node_id: str) -> tuple[str, ...]:
        out: list[str] = []
        at: str | None = node_id
        while at is not None:
            out.append(at)
            at = self.nodes[at].parent
        return tuple(out)

    def top(self, node_id: str) -> str:
        """The top-level family at or above a node (a child of `u` counts as top-level; `u` itself
        when it has none; the root for the root)."""
        p = [a for a in self.path(node_id) if a != ROOT]
        if not p:
            return ROOT
        return p[-2] if p[-1] == UNKNOWN and len(p) > 1 else p[-1]

    def depth(self, node_id: str) -> int:
        """Levels below the top: 0 for a top-level family or a child of `u`, 1 for its children …"""
        return max(len([a for a in self.path(node_id) if a not in (ROOT, UNKNOWN)]) - 1, 0)

    @property
    def family_set_hash(self) -> str:
        """A stable hash of what the ids mean: the basis, the signals, every node's id, parent,
        centroid and radius, at the precision the file keeps (not the counts, not the slopes). Learned
        counts belong to a family set; `train --data` that adds families makes a new one. Computed when
        read (a few milliseconds): a scorer keeps it."""
        h = hashlib.sha256()
        h.update(json.dumps([[_r7(v) for v in row] for row in self.basis.tolist()]).encode())
        h.update(json.dumps(list(self.signals)).encode())
        for nd in self.nodes.values():
            cen = None if nd.centroid is None else [_r7(v) for v in nd.centroid.tolist()]
            rad = None if nd.radius == -math.inf else _r7(nd.radius)
            h.update(json.dumps([nd.id, nd.parent, cen, rad]).encode())
        return h.hexdigest()[:16]

    # ---- counts --------------------------------------------------------------------------------
    def _discount(self, nd: Node) -> float:
        if nd.parent is None:
            return 1.0
        cap = self.top_cap if nd.parent == ROOT else self.base_cap
        return min(1.0, cap / nd.base.labels) if nd.base.labels > 0 else 0.0

    def effective(self, node_id: str) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(labels, shortfalls, signal sums, sums of squares) of the file: the shipped counts capped."""
        nd = self.nodes[node_id]
        d = self._discount(nd)
        b, a = nd.base, nd.added
        return (
            a.labels + d * b.labels,
            a.shortfalls + d * b.shortfalls,
            a.sum + d * b.sum,
            a.sumsq + d * b.sumsq,
        )

    def stats(
        self, learned: LearnedCounts | None = None
    ) -> dict[str, tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray]]:
        """Every node's (rate, labels, own labels, centre, scale, slopes) with the counts in force, in
        one pass (parents come before their children in the file)."""
        import numpy as np

        out: dict[str, tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray]] = {}
        k = self.kappa
        for nid, nd in self.nodes.items():
            n, s, xs, xq = self.effective(nid)
            more = learned.counts(nid) if learned is not None else None
            n_l, s_l = more if more is not None else (0.0, 0.0)
            own = nd.added.labels + (learned.labels(nid) if more is not None and learned is not None else 0.0)
            if nd.parent is None:
                rate = (s + s_l + 1.0) / (n + n_l + 2.0)
                mean = xs / max(n, 1.0)
                sd = np.sqrt(np.maximum(xq / max(n, 1.0) - mean**2, 0.0))
                slopes = nd.slopes if nd.slopes is not None else np.zeros(len(self.signals))
            else:
                p_rate, _, _, p_mean, p_sd, p_slopes = out[nd.parent]
                rate = (s + s_l + k * p_rate) / (n + n_l + k)
                mean = (xs + k * p_mean) / (n + k)
                second = (xq + k * (p_sd**2 + p_mean**2)) / (n + k)
                sd = np.sqrt(np.maximum(second - mean**2, 0.0))
                slopes = nd.slopes if nd.slopes is not None else p_slopes
            out[nid] = (rate, n + n_l, own, mean, sd, slopes)
        return out

    def folded(self, learned: LearnedCounts | None = None) -> dict[str, Folded]:
        """Every node's rate, label counts and folded (constant, weights)."""
        import numpy as np

        out: dict[str, Folded] = {}
        for nid, (rate, labels, own, mean, sd, slopes) in self.stats(learned).items():
            r = min(max(rate, _RATE_CLIP), 1.0 - _RATE_CLIP)
            w = slopes / np.maximum(sd, _SD_FLOOR * self.sd + 1e-9)
            out[nid] = Folded(rate, labels, own, math.log(r / (1.0 - r)), -float(w @ mean), w)
        return out

    def strength(self, node_id: str, labels: float) -> float:
        """How many labels a node's rate is worth: its own (`labels`) and the shrinkage's pseudo-labels."""
        return labels + (2.0 if self.nodes[node_id].parent is None else self.kappa)

    def with_learned(self, learned: LearnedCounts, meta: dict[str, Any]) -> FamilyModel:
        """A copy with the counts learned while serving folded into its added counts (and `meta`
        merged): the same family set, scoring as this one does with `learned`. A learned label
        carries no signals, so each is counted at its family's centre and scale, which keeps them."""
        import copy

        out = copy.deepcopy(self)
        stats = self.stats()
        for nid, nd in out.nodes.items():
            more = learned.counts(nid)
            if more is None:
                continue
            n_l, s_l = more
            _, _, _, mean, sd, _ = stats[nid]
            nd.added.add(n_l, s_l, n_l * mean, n_l * (sd**2 + mean**2))
            nd.bounded = True
        out.meta = {**self.meta, **meta}
        return out

    def rate(self, node_id: str, learned: LearnedCounts | None = None) -> float:
        return self.folded(learned)[node_id].rate

    def labels(self, node_id: str, learned: LearnedCounts | None = None) -> float:
        """The labels behind a node's rate: its added and learned ones, and the shipped ones capped."""
        return self.folded(learned)[node_id].labels

    def slopes_of(self, node_id: str) -> np.ndarray:
        for nid in self.path(node_id):
            own = self.nodes[nid].slopes
            if own is not None:
                return own
        raise ValueError("the root carries the shipped slopes")

    # ---- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        nodes = [
            {
                "id": nd.id,
                "parent": nd.parent,
                "centroid": None if nd.centroid is None else [_r7(v) for v in nd.centroid.tolist()],
                "radius": None if nd.radius == -math.inf else _r7(nd.radius),
                "base": nd.base.to_json(),
                "added": nd.added.to_json(),
                "slopes": None if nd.slopes is None else [float(v) for v in nd.slopes],
                **({"bounded": True} if nd.bounded else {}),
            }
            for nd in self.nodes.values()
        ]
        return {
            "format": FAMILIES_FORMAT,
            "name": self.name,
            "embedding": {
                **{k: EMBEDDING[k] for k in ("package", "weights_sha256", "tokenizer_sha256")},
                "basis": [[_r7(v) for v in row] for row in self.basis.tolist()],
            },
            "signals": {
                "names": list(self.signals),
                "sd": [float(v) for v in self.sd],
                "embedding_coordinates": self.emb_dims,
            },
            "families": {
                "kappa": self.kappa,
                "top_cap": None if math.isinf(self.top_cap) else self.top_cap,
                "base_cap": None if math.isinf(self.base_cap) else self.base_cap,
                "nodes": nodes,
            },
            "meta": self.meta,
            **({"operator": self.operator.to_json()} if self.operator is not None else {}),
        }

    def dumps(self) -> str:
        """The file's text: compact, keys sorted, so the same model is the same bytes."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True) + "\n"
