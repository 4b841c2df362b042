"""The v3 difficulty scorer on the request path: a request's family, then its family's folded score.

Per request: the profile and the prompt slice (features.py, as for every scorer), the slice's token
ids from the shared memo, one gather-and-sum of their k-d projected vectors, then the descent of
families.py (one children x k product a level: K top-level centroids, then a few children), and the
leaf's folded constant and weights applied to the signals those weights read (the turn's log length
alone for the shipped file). No softmax, no exp but the final sigmoid.

Counts learned while serving come in through `learned` (families.LearnedCounts), set after
construction by whoever builds them; the folded values are recomputed when its `version` changes
(one pass over the nodes, ~1 ms for 60-150 families).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from typing import TYPE_CHECKING, Any, Protocol

from gateway.classify.embed import Embedding, TokenMemo, compiled_chunks, load_embedding
from gateway.classify.families import ROOT, UNKNOWN, FamilyHit, FamilyModel, bounded
from gateway.classify.features import Features, profile, prompt_slice
from gateway.classify.signals import SIGNALS, Signal

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.families import LearnedCounts
    from gateway.classify.view import PromptView

__all__ = ["FamilyScorer", "LayerScorer"]


class LayerScorer(Protocol):
    """The v2 scorer of the file's operator layer (operator_layer.py), built by scorer.py."""

    def logit_of(self, f: Features, text: str, ids: np.ndarray, chars: int) -> float: ...


def _sigmoid(z: float) -> float:
    # Clamped so exp() never overflows on a pathological prompt.
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


# Per leaf: (level, offset, [(signal, weight)], weights of u's coordinates or None, own labels,
# whether its learned counts are in force: its within-family term is then bounded)
_SUM_ROWS = 1024  # more ids than a slice holds (embed.MAX_TOKENS and one chunk beyond it)
_Leaf = tuple[float, float, tuple[tuple[Signal, float], ...], "np.ndarray | None", float, bool]


def _short(leaf: _Leaf, z: float) -> float:
    """P(falls short) as a probability (FamilyHit.short): the leaf's level moved by the request's place
    within it by at most LEARNED_BOUND log-odds; a leaf whose learned counts are in force reads so."""
    level = leaf[0]
    return _sigmoid(z if leaf[5] else level + bounded(z - level))


class FamilyScorer:
    def __init__(
        self,
        model: FamilyModel,
        embedding: Embedding | None = None,
        learned: LearnedCounts | None = None,
        operator: LayerScorer | None = None,
    ) -> None:
        import numpy as np

        if (model.operator is None) != (operator is None):
            raise ValueError("a file with an operator layer is scored with that layer's scorer, and only it")
        self.model = model
        basis = model.basis.astype(np.float32)
        emb = embedding if embedding is not None else load_embedding(basis)
        self._tokens = emb.tokens
        # An embedding already projected on this basis is used as it is; a full one is projected here.
        table = emb.table if emb.table.shape[1] == len(basis) else emb.table @ basis.T
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        # The slice's vectors are summed as ones @ rows: one BLAS call, ~2 µs less than a reduction.
        self._ones = np.ones(_SUM_ROWS, dtype=np.float32)
        self.family_set = model.family_set_hash
        self._paths = {nid: model.path(nid) for nid in model.nodes}
        # Every centroid in one matrix: the Python path takes one product of it with the slice's
        # vector and walks the tree (a numpy call costs ~3 µs in a busy server, ~1 in process, and a
        # product, an argmax and a comparison a level cost three of them); the compiled path, below,
        # takes only the products its walk reads.
        placed = [nd for nd in model.nodes.values() if nd.centroid is not None]
        at = {nd.id: i for i, nd in enumerate(placed)}
        dim = len(basis)
        self._centroids = (
            np.stack([nd.centroid for nd in placed if nd.centroid is not None]).astype(np.float32)
            if placed
            else np.zeros((0, dim), dtype=np.float32)
        )
        self._kids: dict[str, tuple[tuple[int, ...], tuple[float, ...], tuple[str, ...]]] = {}
        for nid, nd in model.nodes.items():
            kids = [c for c in nd.children if c in at]
            if kids:
                radii = tuple(model.nodes[c].radius for c in kids)
                self._kids[nid] = (tuple(at[c] for c in kids), radii, tuple(kids))
        self._unknown = UNKNOWN in model.nodes
        # The gather, the sum, the products and the walk in one compiled call where it is built
        # (embed.py), reading the same tree as arrays: node i's children are entries starts[i] ..
        # starts[i + 1] - 1 of (centroid row, node, radius); node 0 the root.
        chunks = compiled_chunks()
        self._walk = None if chunks is None else chunks.descend
        self._names = (ROOT, *(n for n in model.nodes if n != ROOT))
        number = {n: i for i, n in enumerate(self._names)}
        starts, at_rows, to_nodes, edge_radii = [0], list[int](), list[int](), list[float]()
        for name in self._names:
            if name in self._kids:
                kid_rows, kid_radii, kid_names = self._kids[name]
                at_rows += kid_rows
                edge_radii += kid_radii
                to_nodes += [number[c] for c in kid_names]
            starts.append(len(at_rows))
        self._tree = (
            np.array(starts, np.int32),
            np.array(at_rows, np.int32),
            np.array(to_nodes, np.int32),
            np.array(edge_radii, np.float64),
            number[UNKNOWN] if self._unknown else -1,
        )
        self._new_v = functools.partial(np.empty, dim, np.float32)  # what that call writes into
        self._operator = operator
        layer = model.operator
        self._gated = frozenset(n for n, p in self._paths.items() if layer is not None and layer.applies(p))
        self._n_dense = len(model.signals) - model.emb_dims
        self._dense_fns = tuple(SIGNALS[n] for n in model.signals[: self._n_dense])
        self._learned = learned
        self._version: int | None = None
        self._prior_folded: dict[str, Any] | None = None
        self._leaf: dict[str, _Leaf] = {}
        self._prior = self._folded(None)  # the weights alone: routes that do not act on learned counts
        self._differs: frozenset[str] = frozenset()  # the families whose learned counts change them
        self._fold()

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def meta(self) -> dict[str, Any]:
        return self.model.meta

    def python_path(self) -> FamilyScorer:
        """This scorer without classify/_chunks.c: its own dictionary memo and numpy's descent (the
        reference the compiled path is held to, and what runs where it is not built)."""
        twin = copy.copy(self)
        twin._tokens = TokenMemo(self._tokens.tokenizer, compiled=False)
        twin._walk = None
        return twin

    def with_learned(self, learned: LearnedCounts) -> FamilyScorer:
        """This scorer reading `learned` (the embedding, the model and its prior shared: a copy costs
        a fold, not a load). The shipped scorer is one per process; each gateway learns on its own."""
        twin = copy.copy(self)
        twin._learned = learned
        twin._fold()
        return twin

    def prior(self, node: str) -> tuple[float, float]:
        """(rate, strength) of a family from the weights alone: what learned counts are weighed
        against (learning/layer.py's FamilyPrior)."""
        folded = self._prior_folded
        if folded is None:
            folded = self._prior_folded = self.model.folded(None)
        f = folded[node]  # KeyError: not a family of this set
        return f.rate, self.model.strength(node, f.labels)

    def families(self) -> list[str]:
        return list(self.model.nodes)

    def export_learned(self, learned: LearnedCounts) -> dict[str, Any]:
        """The weights file with `learned`'s counts in force folded in; it records the family set it
        folded, so that loading it starts that set's learned layer from zero (no label counts twice)."""
        folded = {"learned_folded": {"family_set": self.family_set, "at": round(time.time(), 3)}}
        out: dict[str, Any] = self.model.with_learned(learned, folded).to_json()
        return out

    @property
    def learned(self) -> LearnedCounts | None:
        return self._learned

    @learned.setter
    def learned(self, value: LearnedCounts | None) -> None:
        self._learned = value
        self._fold()

    def _folded(self, learned: LearnedCounts | None) -> dict[str, _Leaf]:
        import numpy as np

        n = self._n_dense
        leaf: dict[str, _Leaf] = {}
        for nid, f in self.model.folded(learned).items():
            w = f.weights
            terms = tuple((self._dense_fns[j], float(w[j])) for j in range(n) if w[j] != 0.0)
            w_emb = w[n:].astype(np.float32) if self.model.emb_dims and np.any(w[n:]) else None
            # Bounded: learned counts in force, or folded into the file by an export.
            learning = self.model.nodes[nid].bounded or (
                learned is not None and learned.counts(nid) is not None
            )
            leaf[nid] = (f.level, f.offset, terms, w_emb, f.own, learning)
        return leaf

    def _fold(self) -> None:
        learned = self._learned
        if learned is None:
            self._leaf, self._differs = self._prior, frozenset()
        else:
            self._leaf = self._folded(learned)
            prior = self._prior
            self._differs = frozenset(
                k for k, v in self._leaf.items() if v[5] != prior[k][5] or v[0] != prior[k][0]
            )
        self._version = learned.version if learned is not None else None

    def _descend(self, ids: np.ndarray) -> tuple[str, np.ndarray | None, float]:
        """(the leaf family, v: the slice's summed k-vector, its norm); v None without tokens. The
        unit vector v / norm is made only where it is read (`_unit`)."""
        if not len(ids):
            return ROOT, None, 0.0
        walk = self._walk
        if walk is not None:
            out = self._new_v()
            norm, at = walk(self._table, ids, self._centroids, out, *self._tree)
            return (ROOT, None, 0.0) if norm <= 0.0 else (self._names[at], out, norm)
        rows = self._table.take(ids, axis=0)
        v: np.ndarray = self._ones[: len(ids)] @ rows if len(ids) <= _SUM_ROWS else rows.sum(axis=0)
        norm = math.sqrt(float(v @ v))
        if norm <= 0.0:
            return ROOT, None, 0.0
        sims = (self._centroids @ v).tolist()
        node = ROOT
        kids = self._kids
        while node in kids:
            at, radii, names = kids[node]
            mine = [sims[i] for i in at]
            j = mine.index(max(mine))  # the first of equals, as argmax
            if radii[j] == -math.inf or mine[j] >= self._least(radii[j], norm):
                node = names[j]
            elif node == ROOT and self._unknown:
                node = UNKNOWN
            else:
                break
        else:
            if node == ROOT and self._unknown:  # no top-level family at all
                node = UNKNOWN
        return node, v, norm

    @staticmethod
    def _least(radius: float, norm: float) -> float:
        """The least product that enters a family with this radius, in float32 as the product is (numpy
        compared a float32 with a Python float in float32). Only files that set a radius get here."""
        import numpy as np

        return float(np.float32(radius * norm))

    @staticmethod
    def _unit(v: np.ndarray | None, norm: float) -> np.ndarray | None:
        return None if v is None else v / norm

    def _layer_logit(self, f: Features, text: str, ids: np.ndarray, chars: int) -> float:
        """The operator layer's own logit, from the slice and ids this scorer read."""
        assert self._operator is not None
        return self._operator.logit_of(f, text, ids, chars)

    def _apply(
        self,
        leaf: _Leaf,
        f: Features,
        text: str,
        ids: np.ndarray,
        chars: int,
        v: np.ndarray | None,
        norm: float,
    ) -> float:
        level, t, terms, w_emb, _, learning = leaf
        for fn, w in terms:
            t += w * fn(f, text, ids, chars)
        if w_emb is not None and v is not None:
            t += float(w_emb @ self._unit(v, norm))
        return level + (bounded(t) if learning else t)

    def _read(self, view: PromptView, features: Features | None) -> tuple[float, FamilyHit]:
        """(the logit, the family it was read in), from one descent."""
        learned = self._learned
        if learned is not None and learned.version != self._version:
            self._fold()
        f = features if features is not None else profile(view)
        text = prompt_slice(view)
        ids, chars = self._tokens.ids(text)
        node, v, norm = self._descend(ids)
        leaf = self._leaf[node]
        z = self._apply(leaf, f, text, ids, chars, v, norm)
        layer = self.model.operator
        # Where learned counts are in force the family's live traffic sets its level alone, and the
        # layer only shapes the prior's score (read only where that score differs).
        own = None
        if layer is not None and node in self._gated and (not leaf[5] or node in self._differs):
            own = self._layer_logit(f, text, ids, chars)
            if not leaf[5]:
                z = layer.combine(z, own)
        prior = prior_short = None
        if node in self._differs:
            was = self._prior[node]
            zp = self._apply(was, f, text, ids, chars, v, norm)
            zp = layer.combine(zp, own) if layer is not None and own is not None else zp
            prior, prior_short = _sigmoid(zp), _short(was, zp)
        fns, emb_dims = self._dense_fns, self.model.emb_dims

        def measure() -> tuple[float, ...]:
            x = [fn(f, text, ids, chars) for fn in fns]
            if emb_dims:
                u = self._unit(v, norm)
                x += u.tolist() if u is not None else [0.0] * emb_dims
            return tuple(x)

        # Only a family with labels of the deployment's own is weighed by it (a cascade judges the
        # others on the verifier's own prior), so the rest of the traffic does not pay for it.
        short = _short(leaf, z) if leaf[4] else None
        hit = FamilyHit(
            node,
            self._paths[node],
            leaf[4],
            self.family_set,
            measure,
            z - leaf[0],
            prior,
            short,
            prior_short,
        )
        return z, hit

    def scored(self, view: PromptView, features: Features | None = None) -> tuple[float, FamilyHit]:
        """The calibrated probability and the family it was read in, from one descent."""
        z, hit = self._read(view, features)
        return _sigmoid(z), hit

    def score(self, view: PromptView, features: Features | None = None) -> float:
        """Calibrated probability in (0, 1) that the small model the counts are of falls short."""
        return self.scored(view, features)[0]

    def family(self, view: PromptView, features: Features | None = None) -> FamilyHit:
        return self._read(view, features)[1]

    def logit(self, view: PromptView, features: Features | None = None) -> float:
        return self._read(view, features)[0]

    def terms(self, view: PromptView, features: Features | None = None) -> dict[str, float]:
        """The logit's parts, for explaining one score: the family's constant (`family <id>`: its
        rate's log-odds less its centre), each weighed signal's share, the embedding's."""
        f = features if features is not None else profile(view)
        text = prompt_slice(view)
        ids, chars = self._tokens.ids(text)
        node, v, norm = self._descend(ids)
        u = self._unit(v, norm)
        level, offset, _, w_emb, _, learning = self._leaf[node]
        w = self.model.folded(self._learned)[node].weights
        out = {f"family {node}": level}
        t = offset
        for j in range(self._n_dense):
            if w[j] != 0.0:
                t += float(w[j]) * self._dense_fns[j](f, text, ids, chars)
        if w_emb is not None and u is not None:
            t += float(w_emb @ u)
        out["within"] = bounded(t) if learning else t  # the signals' share (families.py)
        layer = self.model.operator
        if layer is not None and node in self._gated and not learning:
            z = level + out["within"]
            out["operator layer"] = layer.combine(z, self._layer_logit(f, text, ids, chars)) - z
        return out
