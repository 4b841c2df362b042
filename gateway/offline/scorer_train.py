"""Fit the difficulty scorer, with its settings chosen by leave-one-task-out (numpy; offline only).

    gateway train --routerbench ../shared/data/routerbench0shot_...csv.gz \\
                  --arena ../shared/data/arenabench_...csv.gz --out gateway/classify/weights/default.json
    gateway train --data my_traffic.jsonl --small-tier small --out my-weights.json

The index the scorer calibrates is a prior plus two shrunken corrections, each scaled to unit spread:

    z = length + lexical * L + embedding * E

- length: log prompt tokens, weight 1: the simple prior.
- L: the other dense signals (signals.py) whose within-task correlation with the target has the same
  sign on every training task, each weighted by its weakest such correlation; the rest get 0.
- E: a ridge regression (penalty `ridge`, strong) of the target on the prompt's normalised mean
  WordLlama embedding, projected on its top 32 principal directions (training rows only).
- target: the label (the 7B model fell short), the item's difficulty (share of the 7B-13B reference
  models that fell short), or their mean ("mix"): what E is fitted to.
- The probability is sigmoid(intercept + slope * z + weight * prior), where the prior is the
  nearest-centroid prior (prior.py: how often the small model fell short on training prompts like
  this one), the slope is fitted within tasks and kept positive, intercept and weight pooled.

`select` picks (target, lexical, embedding, ridge) on a small grid by leave-one-task-out inside the
rows it is given: fit without one task, score that task, compare with prompt length there. Of the
settings never worse than prompt length by more than TOLERANCE on any such task, the one with the
best mean margin wins (the selection rule of docs/routing-eval.md, applied inside the training tasks).
Only rows of the `train` split are used; evaluate.py nests this inside its own held-out tasks.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify.scorer import PRIOR_TOKENS, DenseTerm, ScorerSpec
from gateway.classify.signals import LENGTH, PRIOR_SIGN, SIGNALS
from gateway.offline.data import Example
from gateway.offline.encoded import Encoded, encode
from gateway.offline.prior import TEMPERATURE, calibrate, clusters, level
from gateway.offline.stats import apgr

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT",
    "GRID",
    "TOLERANCE",
    "Encoded",
    "Hyper",
    "K",
    "encode",
    "fit",
    "logits",
    "probabilities",
    "save",
    "select",
    "sigmoid",
    "train",
    "write_atomic",
]

K = 32  # embedding directions kept
_MIN_EFFECT = 0.005  # of APGR, on every training task, for a dense signal to count
TOLERANCE = 0.005  # of APGR: selection margins closer than this count as equal
NAMES = tuple(SIGNALS)


@dataclass(frozen=True, order=True)
class Hyper:
    target: str  # "label", "difficulty" or "mix"
    lexical: float
    embedding: float
    ridge: float


# Used where there are fewer than two tasks to select with (an operator's single-family traffic).
DEFAULT = Hyper("mix", 1.0, 1.0, 100.0)
GRID = tuple(
    Hyper(t, a, b, r)
    for t, a, b, r in itertools.product(
        ("label", "difficulty", "mix"), (0.0, 0.5, 1.0, 2.0), (0.0, 0.25, 0.5, 1.0), (10.0, 100.0)
    )
    if b > 0 or (r == 100.0 and t == "label")  # without the embedding, target and ridge change nothing
)


@dataclass(frozen=True)
class _Parts:
    """What a fit needs that does not depend on the blend weights (cached by `select`)."""

    dense: tuple[DenseTerm, ...]  # length first (weight 1), then the kept signals (unit-spread sum)
    basis: np.ndarray  # K x 256
    emb_center: np.ndarray
    emb_scale: np.ndarray
    emb_weight: np.ndarray  # unit spread on the training rows
    centroids: np.ndarray  # CLUSTERS x K, unit length
    cluster_logits: np.ndarray  # each cluster's smoothed log-odds of the label, centred
    kept: dict[str, float]  # signal → weakest within-task APGR effect, signed


def _std(x: np.ndarray) -> float:
    return float(x.std()) if len(x) > 1 else 0.0


def _lexical(enc: Encoded, mask: np.ndarray) -> dict[str, float]:
    """Signals that rank every training task the way their meaning says, by `_MIN_EFFECT` of APGR.

    Within each task, the signal alone is a router: APGR above 0.5 means "more of it, harder". Kept
    when that holds, in the direction signals.PRIOR_SIGN states, on every training task (so it must
    vary in each), weighted by the weakest such effect (APGR - 0.5); any other signal gets weight 0.
    """
    tasks = sorted(set(enc.task[mask]))
    kept = {}
    for j, name in enumerate(NAMES):
        if name == LENGTH:
            continue
        x = enc.signals[:, j]
        pooled = _std(x[mask])
        if pooled <= 1e-12:
            continue
        effects = []
        for t in tasks:
            m = mask & (enc.task == t)
            if _std(x[m]) < 0.1 * pooled:
                break  # a task where the signal hardly varies cannot confirm its direction
            effects.append(apgr(x[m], enc.q_small[m], enc.q_large[m]) - 0.5)
        if len(effects) < len(tasks):
            continue
        sign = PRIOR_SIGN[name]
        if all(sign * e >= _MIN_EFFECT for e in effects):
            kept[name] = min(effects, key=abs)
    return kept


def _directions(enc: Encoded, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top K principal directions of the rows' mean embeddings, and the rows projected on them
    and normalised (the u the scorer reads)."""
    import numpy as np

    m = enc.mean_emb[rows]
    _, _, vt = np.linalg.svd(m - m.mean(axis=0), full_matrices=False)
    basis = vt[:K]
    u = m @ basis.T
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return basis, u


def _parts(enc: Encoded, mask: np.ndarray, target: str, ridge: float) -> _Parts:
    import numpy as np

    y = enc.target(target)
    j0 = NAMES.index(LENGTH)
    x0 = enc.signals[mask, j0]
    dense = [DenseTerm(LENGTH, float(x0.mean()), max(_std(x0), 1e-6), 1.0)]
    kept = _lexical(enc, mask)
    if kept:
        terms = []
        for name, r in kept.items():
            x = enc.signals[mask, NAMES.index(name)]
            terms.append(DenseTerm(name, float(x.mean()), _std(x), r))
        z = sum(t.weight * (enc.signals[mask, NAMES.index(t.signal)] - t.center) / t.scale for t in terms)
        spread = max(_std(np.asarray(z)), 1e-9)
        dense += [DenseTerm(t.signal, t.center, t.scale, t.weight / spread) for t in terms]
    rows = mask & (enc.n_tokens > 0)
    basis, u = _directions(enc, rows)
    center, scale = u.mean(axis=0), u.std(axis=0) + 1e-9
    zu = (u - center) / scale
    yc = y[rows] - y[rows].mean()
    w = np.linalg.solve(zu.T @ zu / len(zu) + ridge * np.eye(K), zu.T @ yc / len(zu))
    w /= max(_std(zu @ w), 1e-9)
    centroids, cluster_logits = clusters(u, enc.label[rows])
    return _Parts(tuple(dense), basis, center, scale, w, centroids, cluster_logits, kept)


def _r(x: float) -> float:
    return float(f"{x:.7g}")


def _rl(xs: Any) -> list[float]:
    return [_r(float(v)) for v in xs]


def _assemble(parts: _Parts, hp: Hyper, enc: Encoded, mask: np.ndarray, name: str) -> ScorerSpec:
    dense = [parts.dense[0]] + [
        DenseTerm(d.signal, d.center, d.scale, d.weight * hp.lexical) for d in parts.dense[1:]
    ]
    spec = ScorerSpec(
        name=name,
        dense=tuple(
            DenseTerm(d.signal, _r(d.center), _r(d.scale), _r(d.weight)) for d in dense if d.weight != 0
        ),
        intercept=0.0,
        slope=1.0,
        basis=[_rl(row) for row in parts.basis],
        emb_center=_rl(parts.emb_center),
        emb_scale=_rl(parts.emb_scale),
        emb_weight=_rl(parts.emb_weight * hp.embedding),
        centroids=[_rl(row) for row in parts.centroids],
        cluster_logits=_rl(parts.cluster_logits),
        temperature=TEMPERATURE,
        prior_weight=1.0,
    )
    z, prior = _index(spec, enc)
    a, b, c = calibrate(z[mask], prior[mask], enc.label[mask], enc.task[mask])
    return replace(
        spec,
        intercept=_r(a),
        slope=_r(b),
        prior_weight=_r(c),
        meta={**asdict(hp), "kept_signals": {k: round(v, 4) for k, v in parts.kept.items()}},
    )


def _index(spec: ScorerSpec, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """(difficulty index, nearest-centroid prior) for every encoded example, vectorised."""
    import numpy as np

    z = np.zeros(len(enc.label))
    for d in spec.dense:
        z += d.weight * (enc.signals[:, NAMES.index(d.signal)] - d.center) / d.scale
    prior = np.zeros(len(enc.label))
    if spec.basis is not None:
        u = enc.mean_emb @ np.asarray(spec.basis).T
        norm = np.linalg.norm(u, axis=1, keepdims=True)
        ok = (enc.n_tokens > 0) & (norm[:, 0] > 0)
        u = u / np.where(norm > 0, norm, 1.0)
        e = ((u - np.asarray(spec.emb_center)) / np.asarray(spec.emb_scale)) @ np.asarray(spec.emb_weight)
        z += np.where(ok, e, 0.0)
        if spec.centroids:
            p = level(u, np.asarray(spec.centroids), np.asarray(spec.cluster_logits), spec.temperature)
            prior = np.where(ok, p * enc.n_tokens / (enc.n_tokens + PRIOR_TOKENS), 0.0)
    return z, prior


def logits(spec: ScorerSpec, enc: Encoded) -> np.ndarray:
    """The scorer's logit for every encoded example, vectorised: what DifficultyScorer.logit computes."""
    z, prior = _index(spec, enc)
    out: np.ndarray = spec.intercept + spec.slope * z + spec.prior_weight * prior
    return out


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logits as probabilities, clamped as DifficultyScorer.score clamps them."""
    import numpy as np

    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return out


def probabilities(spec: ScorerSpec, enc: Encoded) -> np.ndarray:
    """The scorer's probability for every encoded example: what DifficultyScorer.score computes."""
    return sigmoid(logits(spec, enc))


def fit(enc: Encoded, mask: np.ndarray, hp: Hyper, *, name: str = "default") -> ScorerSpec:
    return _assemble(_parts(enc, mask, hp.target, hp.ridge), hp, enc, mask, name)


def select(
    enc: Encoded, mask: np.ndarray, grid: Sequence[Hyper] = GRID
) -> tuple[Hyper, dict[str, dict[str, float]]]:
    """Leave-one-task-out inside `mask`: the best mean margin over prompt length among the settings
    whose worst margin is no lower than -TOLERANCE.

    Returns the setting and, per held-out task, its APGR and prompt length's there.
    """
    import numpy as np

    tasks = sorted(str(t) for t in set(enc.task[mask]))
    if len(tasks) < 2:
        return DEFAULT, {}
    length = enc.signals[:, NAMES.index(LENGTH)]
    folds = []
    for t in tasks:
        held = mask & (enc.task == t)
        folds.append(
            (t, mask & (enc.task != t), held, apgr(length[held], enc.q_small[held], enc.q_large[held]))
        )
    cache: dict[tuple[str, str, float], _Parts] = {}
    results = []
    for hp in grid:
        per: dict[str, dict[str, float]] = {}
        for t, rows, held, base in folds:
            key = (t, hp.target, hp.ridge)
            if key not in cache:
                cache[key] = _parts(enc, rows, hp.target, hp.ridge)
            spec = _assemble(cache[key], hp, enc, rows, "fold")
            s = logits(spec, enc)[held]
            per[t] = {"apgr": apgr(s, enc.q_small[held], enc.q_large[held]), "length": base}
        margins = [v["apgr"] - v["length"] for v in per.values()]
        results.append((min(margins), float(np.mean(margins)), hp, per))
    # The selection rule, inside the training tasks: never worse than prompt length by more than
    # TOLERANCE on any held-out task (prompt length itself always qualifies), then the best mean
    # margin; means within 0.001 count as equal and the simplest setting (least blend weight) wins.
    feasible = [r for r in results if r[0] >= -TOLERANCE]
    if not feasible:  # nothing qualifies: the setting that comes closest
        feasible = [max(results, key=lambda r: r[0])]
    best = max(r[1] for r in feasible)
    near = [r for r in feasible if r[1] >= best - 0.001]
    _, _, hp, per = min(near, key=lambda r: (r[2].lexical + r[2].embedding, -r[1], r[2]))
    return hp, per


def train(
    examples: Sequence[Example], *, name: str = "default", meta: dict[str, Any] | None = None
) -> ScorerSpec:
    """Select on, and fit to, the `train` rows: the weights `gateway train` writes."""
    enc = encode(examples)
    mask = enc.split == "train"
    hp, folds = select(enc, mask)
    spec = fit(enc, mask, hp, name=name)
    info = {
        "label": "P(the small model falls short)",
        "examples": int(mask.sum()),
        "positives": int(enc.label[mask].sum()),
        "tasks": sorted(str(t) for t in set(enc.task[mask])),
        "selection": {t: {k: round(v, 4) for k, v in d.items()} for t, d in folds.items()},
        **spec.meta,
        **(meta or {}),
    }
    return replace(spec, meta=info)


def save(spec: ScorerSpec, path: Path) -> None:
    """Write the weights whole or not at all (`write_atomic`)."""
    write_atomic(path, (json.dumps(spec.to_json(), separators=(",", ":"), sort_keys=True) + "\n").encode())


def write_atomic(path: Path, data: bytes) -> None:
    """A temporary file beside `path`, flushed to disk, then renamed over it. A gateway reloading the
    file in place (its hash counts with the rules') never reads half of one, and a failed write leaves
    the old weights in force."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; weights are config, readable like routes.yaml
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
