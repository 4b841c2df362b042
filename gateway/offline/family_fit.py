"""Fit the family model (classify/families.py) and add labels to it (numpy; offline only).

- `fit`: the shipped model from labelled rows: a 32-direction basis (PCA of the rows' mean
  embeddings), K top-level families by spherical k-means, the rows counted (`base`), families where
  at least `presplit_min` labels landed split into children, the root's slopes (β on log length).
- `add_labels` (`gateway train --data`): each labelled row to its family by the model's own descent,
  counted (`added`) there and in every ancestor; a leaf where at least `split_min` new labels land is
  split on those rows; a top-level family with at least `beta_min` new labels refits its slopes.

Deterministic: rows are counted in sorted family order, and every k-means is seeded from the id of
the family it splits, so the same rows give the same file, byte for byte (one BLAS thread).
Settings (`Config`'s defaults): chosen on left-out families, docs/routing-eval.md.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from gateway.classify.families import CANDIDATES, ROOT, UNKNOWN, Counts, FamilyModel, Node

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CHEAP",
    "Config",
    "add_labels",
    "assign",
    "count",
    "fit",
    "full",
    "logits",
    "project",
    "spherical_kmeans",
]

# The signals a request can afford to refit (each < 4 µs on a slice; distinct_tokens, digits,
# uppercase and punctuation cost 7-12 µs each).
CHEAP = ("log_prompt_tokens", "tokens_per_char", "chars_per_word", "log_newlines")


@dataclass(frozen=True)
class Config:
    clusters: int = 12  # top-level families from the shared data
    dims: int = 32  # basis directions
    kappa: float = 20.0  # pseudo-labels a family's rate is shrunk towards its parent's with
    radius_q: float | None = None  # unknown radius: the q-quantile of members' cosines (None: none)
    top_cap: float = math.inf  # the shipped counts count as at most this many labels a top-level family
    base_cap: float = 5.0  # ... and in a sub-family
    split_min: int = 50  # train --data: a leaf splits where this many new labels land ...
    leaf_min: int = 25  # ... into n // leaf_min children (2 .. split_max)
    split_max: int = 8
    split_depth: int = 2  # levels of splitting below a top-level family
    presplit: bool = True  # split the shipped families with the shared rows too ...
    presplit_min: int = 100  # ... where this many shared labels landed ...
    presplit_leaf: int = 50  # ... into n // presplit_leaf children
    beta: float = 2.0  # the shipped slope of standardised log length (> 0: the guarantee)
    beta_min: int | None = 100  # train --data: a top-level family with this many new labels refits
    beta_l2: float = 50.0  # ... pulled towards its parent's slopes by this many pseudo-rows
    emb_slopes: bool = True  # u's coordinates are signals too (slope 0 until a refit)
    refit: str = "cheap+emb"  # what a refit fits: "length", "cheap", "cheap+emb"
    seed: int = 0

    def as_meta(self) -> dict[str, object]:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


# ---- geometry -----------------------------------------------------------------------------------


def project(model: FamilyModel, mean_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors u of the rows, which rows have an embedding)."""
    import numpy as np

    u = mean_emb @ model.basis.T
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    ok = norm[:, 0] > 0
    return u / np.where(norm > 0, norm, 1.0), ok


def full(model: FamilyModel, x: np.ndarray, mean_emb: np.ndarray) -> np.ndarray:
    """The dense signals with u's coordinates appended where the model counts them."""
    import numpy as np

    if not model.emb_dims:
        return x
    u, ok = project(model, mean_emb)
    return np.hstack([x, u * ok[:, None]])


def _descend(model: FamilyModel, node_id: str, u: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    import numpy as np

    out[rows] = node_id
    if not len(rows):
        return
    kids = [model.nodes[c] for c in model.nodes[node_id].children if model.nodes[c].centroid is not None]
    rest = rows
    if kids:
        sims = u[rows] @ np.stack([k.centroid for k in kids if k.centroid is not None]).T
        best = sims.argmax(axis=1)
        inside = sims[np.arange(len(rows)), best] >= np.array([k.radius for k in kids])[best]
        for j, k in enumerate(kids):
            _descend(model, k.id, u, rows[inside & (best == j)], out)
        rest = rows[~inside]
    if node_id == ROOT and len(rest) and UNKNOWN in model.nodes:
        _descend(model, UNKNOWN, u, rest, out)


def assign(model: FamilyModel, u: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
    """Each row's leaf family (the scorer's descent, vectorised); rows without tokens stay at the root."""
    import numpy as np

    out = np.full(len(u), ROOT, dtype=object)
    rows = np.arange(len(u)) if ok is None else np.flatnonzero(ok)
    _descend(model, ROOT, u, rows, out)
    return out


def count(model: FamilyModel, leaf: np.ndarray, x: np.ndarray, y: np.ndarray, *, base: bool) -> None:
    """Add the labelled rows (y not nan) to their leaf and every ancestor."""
    import numpy as np

    lab = ~np.isnan(y)
    for nid in sorted(set(leaf[lab])):  # sorted: the sums must not depend on hash order
        m = lab & (leaf == nid)
        n, s = float(m.sum()), float(y[m].sum())
        xs, xq = x[m].sum(axis=0), (x[m] ** 2).sum(axis=0)
        for a in model.path(nid):
            nd = model.nodes[a]
            (nd.base if base else nd.added).add(n, s, xs, xq)


def logits(model: FamilyModel, x: np.ndarray, mean_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the scorer's logit, the leaf family) of every row (x: CANDIDATES), vectorised."""
    import numpy as np

    u, ok = project(model, mean_emb)
    leaf = assign(model, u, ok)
    xf = full(model, x, mean_emb)
    folded = model.folded()
    out = np.empty(len(leaf))
    for nid in sorted(set(leaf)):
        m = leaf == nid
        f = folded[nid]
        out[m] = f.level + xf[m] @ f.weights + f.offset
    return out, leaf


def _seed(key: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little")


def spherical_kmeans(
    u: np.ndarray, k: int, key: str, seed: int = 0, iters: int = 50, n_init: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """k-means on the unit sphere: n_init k-means++ starts seeded from `key` (a family's id), the one
    with the largest total cosine kept, clusters ordered by size (largest first), empty ones dropped.
    Returns (centroids, each row's cluster)."""
    import numpy as np

    best: tuple[float, np.ndarray] | None = None
    n = len(u)
    for i in range(n_init):
        rng = np.random.default_rng(_seed(f"{key}/{i}", seed))
        picks = [u[rng.integers(n)]]
        d = 1.0 - u @ picks[0]
        for _ in range(1, min(k, n)):
            p = np.clip(d, 0, None) ** 2
            if p.sum() <= 0:
                break
            picks.append(u[rng.choice(n, p=p / p.sum())])
            d = np.minimum(d, 1.0 - u @ picks[-1])
        cen = np.stack(picks)
        for _ in range(iters):
            lab = np.argmax(u @ cen.T, axis=1)
            new = np.stack([u[lab == j].sum(axis=0) if (lab == j).any() else cen[j] for j in range(len(cen))])
            new /= np.linalg.norm(new, axis=1, keepdims=True)
            if np.allclose(new, cen):
                break
            cen = new
        score = float((u @ cen.T).max(axis=1).sum())
        if best is None or score > best[0] + 1e-9:
            best = (score, cen)
    assert best is not None
    cen = best[1]
    sizes = np.bincount(np.argmax(u @ cen.T, axis=1), minlength=len(cen))
    order = [j for j in sorted(range(len(cen)), key=lambda j: (-sizes[j], j)) if sizes[j] > 0]
    cen = cen[order]
    return cen, np.argmax(u @ cen.T, axis=1)


def _radius(u: np.ndarray, centroid: np.ndarray, cfg: Config) -> float:
    import numpy as np

    if cfg.radius_q is None or len(u) < 2:
        return -math.inf
    return float(np.quantile(u @ centroid, cfg.radius_q))


# ---- fitting, splitting, adding labels -----------------------------------------------------------


def _split(
    model: FamilyModel,
    node_id: str,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: Config,
    depth: int,
    base: bool,
) -> None:
    """Sub-cluster the rows (u, x, y) that landed in leaf `node_id` into children, count them there,
    and recurse where enough of them concentrate again."""
    import numpy as np

    u, x, y = rows
    n = int((~np.isnan(y)).sum())
    if n < cfg.split_min or depth >= cfg.split_depth:
        return
    k = int(np.clip(n // cfg.leaf_min, 2, cfg.split_max))
    cen, lab = spherical_kmeans(u, k, node_id, cfg.seed)
    if len(cen) < 2:
        return
    parent = model.nodes[node_id]
    dim = len(model.signals)
    ids = []
    for j in range(len(cen)):
        cid = f"{node_id}.{j}"
        # A known family's children need no radius (the family's own gated the request); the unknown
        # family's get one, so that a request unlike all of them stays in "u".
        rad = _radius(u[lab == j], cen[j], cfg) if node_id == UNKNOWN else -math.inf
        model.nodes[cid] = Node(cid, node_id, cen[j], rad, Counts.zero(dim), Counts.zero(dim))
        parent.children.append(cid)
        ids.append(cid)
    leaf = np.full(len(u), node_id, dtype=object)
    _descend(model, node_id, u, np.arange(len(u)), leaf)
    for cid in ids:
        m = leaf == cid
        got = m & ~np.isnan(y)
        nd = model.nodes[cid]
        (nd.base if base else nd.added).add(
            float(got.sum()), float(y[got].sum()), x[got].sum(axis=0), (x[got] ** 2).sum(axis=0)
        )
        # the unknown family's children are new top-level families: their depth stays 0
        _split(model, cid, (u[m], x[m], y[m]), cfg, depth + (node_id != UNKNOWN), base)


def fit(x: np.ndarray, mean_emb: np.ndarray, y: np.ndarray, mask: np.ndarray, cfg: Config) -> FamilyModel:
    """The shipped model from the labelled rows in `mask` (x: CANDIDATES, in that order)."""
    import numpy as np

    rows = mask & (np.linalg.norm(mean_emb, axis=1) > 0)
    m = mean_emb[rows]
    _, _, vt = np.linalg.svd(m - m.mean(axis=0), full_matrices=False)
    basis = vt[: cfg.dims]
    emb_dims = basis.shape[0] if cfg.emb_slopes else 0
    names = CANDIDATES + tuple(f"u{i}" for i in range(emb_dims))
    dim = len(names)
    beta = np.zeros(dim)
    beta[0] = cfg.beta
    nodes = {
        ROOT: Node(ROOT, None, None, -math.inf, Counts.zero(dim), Counts.zero(dim), beta),
        UNKNOWN: Node(UNKNOWN, ROOT, None, -math.inf, Counts.zero(dim), Counts.zero(dim)),
    }
    model = FamilyModel(basis, names, np.ones(dim), cfg.kappa, cfg.top_cap, cfg.base_cap, nodes, emb_dims)
    xf = full(model, x, mean_emb)
    model.sd = xf[mask].std(axis=0) + 1e-9
    u, _ = project(model, mean_emb[rows])
    xr, yr = xf[rows], y[rows]
    cen, lab = spherical_kmeans(u, cfg.clusters, "top", cfg.seed)
    top = []
    for j in range(len(cen)):
        fid = f"f{j}"
        nodes[fid] = Node(
            fid, ROOT, cen[j], _radius(u[lab == j], cen[j], cfg), Counts.zero(dim), Counts.zero(dim)
        )
        top.append(fid)
    nodes[ROOT].children = [*top, UNKNOWN]
    # The shared rows count in the families they were clustered into, outliers included: the unknown
    # family ships without labels (its rate and centre are the root's).
    no_radius = copy.deepcopy(model)
    for nd in no_radius.nodes.values():
        nd.radius = -math.inf
    leaf = assign(no_radius, u)
    count(model, leaf, xr, yr, base=True)
    if cfg.presplit:
        pre = replace(cfg, split_min=cfg.presplit_min, leaf_min=cfg.presplit_leaf)
        for fid in top:
            m_f = leaf == fid
            _split(model, fid, (u[m_f], xr[m_f], yr[m_f]), pre, 0, base=True)
    model.meta = {"config": cfg.as_meta()}
    return model


def _refit_slopes(
    model: FamilyModel, node_id: str, leaf: np.ndarray, x: np.ndarray, y: np.ndarray, cfg: Config
) -> None:
    """A family's own slopes from the labelled rows of its subtree: logistic regression of y on the
    within-family standardised signals, each row's offset its family's rate *without that row*
    (leave-one-out: in-sample, a rate counted from the same labels flatters itself), L2-pulled towards
    the parent's slopes by beta_l2 pseudo-rows. The length slope stays >= 1% of the parent's."""
    import numpy as np

    prior = model.slopes_of(model.nodes[node_id].parent or ROOT)
    n_sig = len(model.signals) - model.emb_dims
    cheap = [j for j in range(n_sig) if model.signals[j] in CHEAP]
    emb = list(range(n_sig, len(model.signals)))
    cols = {"length": [0], "cheap": cheap, "cheap+emb": cheap + emb}[cfg.refit]
    keep = np.array([j not in cols for j in range(len(model.signals))])
    folded = model.folded()
    stats = _moments(model)
    off = np.empty(len(leaf))
    z = np.empty((len(leaf), len(cols)))
    for nid in sorted(set(leaf)):
        m = leaf == nid
        mean, sd = stats[nid]
        std = (x[m] - mean) / np.maximum(sd, 0.05 * model.sd + 1e-9)
        n, s, _, _ = model.effective(nid)
        nd = model.nodes[nid]
        if nd.parent is None:
            r = (s - y[m] + 1.0) / (n - 1 + 2.0)
        else:
            r = (s - y[m] + model.kappa * folded[nd.parent].rate) / (n - 1 + model.kappa)
        r = np.clip(r, 1e-6, 1 - 1e-6)
        off[m] = np.log(r / (1 - r)) + std[:, keep] @ prior[keep]
        z[m] = std[:, cols]
    b0 = prior[cols].copy()
    b = b0.copy()
    lam = cfg.beta_l2
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(off + z @ b, -40, 40)))
        g = z.T @ (p - y) + lam * (b - b0)
        h = (z * (p * (1 - p))[:, None]).T @ z + lam * np.eye(len(cols))
        step = np.linalg.solve(h, g)
        b -= step
        if np.abs(step).max() < 1e-9:
            break
    b[0] = max(b[0], 0.01 * prior[0])
    out = prior.copy()
    out[cols] = b
    model.nodes[node_id].slopes = out


def _moments(model: FamilyModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every node's (mean, sd) of the signals, shrunk as families.py shrinks them."""
    import numpy as np

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    k = model.kappa
    for nid, nd in model.nodes.items():
        n, _, xs, xq = model.effective(nid)
        if nd.parent is None:
            mean = xs / max(n, 1.0)
            out[nid] = (mean, np.sqrt(np.maximum(xq / max(n, 1.0) - mean**2, 0.0)))
        else:
            pm, ps = out[nd.parent]
            mean = (xs + k * pm) / (n + k)
            second = (xq + k * (ps**2 + pm**2)) / (n + k)
            out[nid] = (mean, np.sqrt(np.maximum(second - mean**2, 0.0)))
    return out


def add_labels(
    model: FamilyModel, x: np.ndarray, mean_emb: np.ndarray, y: np.ndarray, cfg: Config
) -> FamilyModel:
    """`gateway train --data`, on a copy: the rows (x: CANDIDATES) counted in their families, leaves
    split where new labels concentrate, slopes refitted where a family has enough of them."""
    import numpy as np

    out = copy.deepcopy(model)
    xf = full(out, x, mean_emb)
    u, ok = project(out, mean_emb)
    leaf = assign(out, u, ok)
    count(out, leaf[ok], xf[ok], y[ok], base=False)
    for f in sorted(set(leaf[ok])):
        if not out.nodes[f].children:
            m = ok & (leaf == f)
            _split(out, f, (u[m], xf[m], y[m]), cfg, out.depth(f), base=False)
    if cfg.beta_min is None:
        return out
    leaf = assign(out, u, ok)
    lab = ok & ~np.isnan(y)
    tops: dict[str, list[int]] = {}
    for i in np.flatnonzero(lab):
        top = out.top(leaf[i])
        if top != ROOT:
            tops.setdefault(top, []).append(int(i))
    for top, idx in sorted(tops.items()):
        if len(idx) >= cfg.beta_min and top != UNKNOWN:
            r = np.asarray(idx)
            _refit_slopes(out, top, leaf[r], xf[r], y[r], cfg)
    return out
