"""The family model on families it never saw (numpy; offline only): the shared data under one label,
the folds that leave one family out, APGR cells with bootstrap intervals, the guarantee's check.

A fold fits everything on the other families' `train` rows, as the v2 recipe's nested evaluation
does, and scores every row of the left-out family ("alone"), or those rows plus the other families'
`test` rows ("among known traffic").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.classify.families import FamilyModel
from gateway.classify.features import profile
from gateway.classify.scorer import load_spec
from gateway.offline.data import Example
from gateway.offline.encoded import take
from gateway.offline.family_fit import Config, add_labels, fit, logits, spherical_kmeans
from gateway.offline.family_train import Labelled, labelled, with_layer
from gateway.offline.operator_fit import layered
from gateway.offline.scorer_train import fit as fit_v2
from gateway.offline.scorer_train import logits as logits_v2
from gateway.offline.scorer_train import select
from gateway.offline.stats import apgr, kendall_tau

if TYPE_CHECKING:
    import numpy as np

    from gateway.offline.encoded import Encoded

__all__ = ["TASKS", "Bench", "Cell", "Fold", "Guarantee", "Half", "fold", "guarantee", "halves"]

TASKS = ("arc-challenge", "mbpp", "winogrande", "arena")


@dataclass(frozen=True)
class Cell:
    point: float
    lo: float
    hi: float

    def fmt(self) -> str:
        return f"{self.point:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


class Bench:
    """The shared rows encoded once, under one label."""

    def __init__(self, examples: Sequence[Example], label: str, cfg: Config | None = None) -> None:
        import numpy as np

        self.examples = list(examples)
        self.label = label
        self.cfg = cfg or Config()
        self.rows: Labelled = labelled(self.examples, label)
        self.enc = self.rows.enc
        self.ok = self.rows.ok()
        self.length = np.array([profile(e.view).prompt_tokens for e in self.examples], dtype=np.float64)

    @property
    def x(self) -> np.ndarray:
        return self.rows.x

    def train_mask(self, heldout: str | None) -> np.ndarray:
        m: np.ndarray = (self.enc.split == "train") & self.ok
        return m if heldout is None else m & (self.enc.task != heldout)

    def held(self, task: str) -> np.ndarray:
        import numpy as np

        return np.flatnonzero((self.enc.task == task) & self.ok)

    def fit(self, mask: np.ndarray, cfg: Config | None = None) -> FamilyModel:
        return fit(self.x, self.enc.mean_emb, self.rows.y, mask, cfg or self.cfg)

    def scores(self, model: FamilyModel) -> tuple[np.ndarray, np.ndarray]:
        """(logit, leaf) of every row (the operator layer's where the model has one)."""
        z, leaf = logits(model, self.x, self.enc.mean_emb)
        return layered(model, self.enc, z, leaf), leaf

    def add(self, model: FamilyModel, idx: np.ndarray, layer: bool = True) -> FamilyModel:
        """`gateway train --data` on these rows (`layer`: with the operator layer; else counts only)."""
        counted = add_labels(model, self.x[idx], self.enc.mean_emb[idx], self.rows.y[idx], self.cfg)
        if not layer:
            return counted
        return with_layer(model, counted, replace(take(self.enc, idx), label=self.rows.y[idx]))

    @functools.cached_property
    def v2_encoded(self) -> Encoded:
        """The rows as the v2 recipe reads them, this label swapped in."""
        import numpy as np

        y = np.nan_to_num(self.rows.y)
        return replace(
            self.enc,
            label=y,
            difficulty=self.enc.difficulty if self.label == "mistral" else y.copy(),
            q_small=np.nan_to_num(self.rows.q_small),
            q_large=np.nan_to_num(self.rows.q_large),
        )

    @functools.cached_property
    def v2_shipped(self) -> np.ndarray:
        """The v2 weights shipped before issue 21 (they saw every family's train rows)."""
        return logits_v2(load_spec(None), self.enc)

    def v2_nested(self, heldout: str) -> np.ndarray:
        """The v2 recipe (settings by leave-one-task-out, then the fit) on the other families alone."""
        enc, mask = self.v2_encoded, self.train_mask(heldout)
        hp, _ = select(enc, mask)
        return logits_v2(fit_v2(enc, mask, hp, name=f"without-{heldout}"), enc)

    def v2_on(self, idx: np.ndarray) -> np.ndarray:
        """`gateway train --replace` on these rows alone, as an operator's file reads them (a label,
        no graded answers; one task: the recipe's fixed settings)."""
        import numpy as np

        from gateway.offline.scorer_train import DEFAULT

        enc = self.v2_encoded
        mask = np.zeros(len(enc.label), dtype=bool)
        mask[idx] = True
        y = enc.label
        sub = replace(
            enc,
            difficulty=y.copy(),
            q_small=1.0 - y,
            q_large=np.ones(len(y)),
            task=np.array(["operator"] * len(y)),
        )
        return logits_v2(fit_v2(sub, mask, DEFAULT, name="operator"), enc)

    def apgr(self, scores: np.ndarray, idx: np.ndarray) -> float:
        return apgr(scores[idx], self.rows.q_small[idx], self.rows.q_large[idx])

    def cell(self, scores: np.ndarray, idx: np.ndarray, n_boot: int, seed: int = 7) -> Cell:
        """APGR on the rows, [2.5, 97.5] percentiles of n_boot resamples of them."""
        import numpy as np

        point = self.apgr(scores, idx)
        if n_boot <= 0:
            return Cell(point, float("nan"), float("nan"))
        rng = np.random.default_rng(seed)
        boot = [self.apgr(scores, idx[rng.integers(0, len(idx), len(idx))]) for _ in range(n_boot)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        return Cell(point, float(lo), float(hi))


@dataclass(frozen=True)
class Fold:
    task: str
    model: FamilyModel
    family: np.ndarray  # the family model's logit, every row
    leaf: np.ndarray
    nested: np.ndarray  # the v2 recipe, nested

    def tops(self, idx: np.ndarray) -> int:
        """Top-level families the rows landed in (children of `u` counted as top-level)."""
        return len({self.model.top(str(f)) for f in self.leaf[idx]})


def fold(bench: Bench, task: str) -> Fold:
    model = bench.fit(bench.train_mask(task))
    s, leaf = bench.scores(model)
    return Fold(task, model, s, leaf, bench.v2_nested(task))


@dataclass(frozen=True)
class Guarantee:
    task: str
    within_tau: float  # the least Kendall tau with length inside one family (families of >= 2 rows)
    within_families: int
    radius_unknown: float  # with an unknown radius: share of the family in label-less families
    radius_tau: float  # tau with length among those rows
    radius_family: float  # APGR of the family model on them
    radius_length: float  # ... and of prompt length


def guarantee(bench: Bench, f: Fold, radius_q: float = 0.02) -> Guarantee:
    """Within any family the score orders requests as length does (the slopes are length's alone);
    an unseen family that lands in label-less families (here: with an unknown radius, in `u`) is
    ordered exactly as length orders it."""
    import numpy as np

    idx = bench.held(f.task)
    taus = []
    for leaf in sorted(set(f.leaf[idx])):
        m = idx[f.leaf[idx] == leaf]
        if len(m) >= 2 and bench.length[m].std() > 0:
            taus.append(kendall_tau(f.family[m], bench.length[m]))
    model = bench.fit(bench.train_mask(f.task), replace(bench.cfg, radius_q=radius_q))
    s, leaf = bench.scores(model)
    folded = model.folded()
    bare = np.array([folded[str(a)].labels == 0 for a in leaf[idx]])
    rows = idx[bare]
    if len(rows) >= 2:
        tau = kendall_tau(s[rows], bench.length[rows])
        fam, length = bench.apgr(s, rows), bench.apgr(bench.length, rows)
    else:
        tau = fam = length = float("nan")
    return Guarantee(f.task, min(taus), len(taus), float(bare.mean()), tau, fam, length)


@dataclass(frozen=True)
class Half:
    task: str
    seen: int  # rows of the family whose train split was fitted with the other families
    unseen: np.ndarray  # the other half's rows: scored
    family: float  # APGR of the family model on them
    length: float  # ... and of prompt length
    tau: float  # Kendall's tau of the two scores on them


def halves(bench: Bench, task: str) -> list[Half]:
    """A family half seen: its rows split in two by topic (spherical 2-means on the mean embedding);
    the family model fitted on the other families and one half's `train` rows scores the other half,
    both ways round. What a new task that resembles a known one meets."""
    import numpy as np

    idx = bench.held(task)
    e = bench.enc.mean_emb[idx]
    u = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    _, part = spherical_kmeans(u, 2, f"half/{task}")
    out = []
    for side in (0, 1):
        seen = np.zeros(len(bench.enc.task), dtype=bool)
        seen[idx[part == side]] = True
        model = bench.fit(bench.train_mask(task) | (seen & bench.train_mask(None)))
        s, _ = bench.scores(model)
        rows = idx[part != side]
        fam, length = bench.apgr(s, rows), bench.apgr(bench.length, rows)
        out.append(Half(task, int(seen.sum()), rows, fam, length, kendall_tau(s[rows], bench.length[rows])))
    return out
