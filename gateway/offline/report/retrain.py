"""`gateway train --from-log`: the difficulty scorer refitted on the labels a decision log collected
(report/labels.py says which requests are labelled and how). A stable hash of the id holds out a
share of the labelled requests: the new weights are compared there with the scores the gateway logged
(the scorer in force then), and the suggested threshold is read there. The fit is the shipped trainer
(offline/scorer_train.py), alone or with the shipped training data mixed in, each its own task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gateway.offline.report.labels import Rows, label_rows
from gateway.offline.report.log import Log
from gateway.offline.stats import Rate, auc, paired_bootstrap, wilson

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.scorer import ScorerSpec
    from gateway.offline.data import Example

__all__ = ["MIN_ROWS", "Comparison", "NoRows", "Retrained", "Suggestion", "retrain"]

MIN_ROWS = 100  # labelled training rows below which a fit says more about chance than about traffic
_LABEL = "P(the cheaper tier's answer falls short of the reference tier's), fitted on this gateway's log"


class NoRows(ValueError):
    """Not enough labelled rows to fit or compare; the message says what is missing."""


@dataclass(frozen=True)
class Comparison:
    rows: int  # held-out rows with a logged score
    positives: int
    auc_new: float
    auc_old: float
    auc_new_ci: tuple[float, float]
    auc_old_ci: tuple[float, float]
    auc_gain_ci: tuple[float, float]
    apgr_new: float
    apgr_old: float
    apgr_gain_ci: tuple[float, float]


@dataclass(frozen=True)
class Suggestion:
    target: float
    max_difficulty: float  # the largest threshold whose quality kept on held-out rows ≥ target
    quality: Rate  # quality kept there (answers as good as the reference's, moved ones counting 1)
    kept: float  # share of the held-out cheaper-tier requests still kept on the cheaper tier
    share: float | None  # the same threshold as a share of all scored logged traffic


@dataclass(frozen=True)
class Retrained:
    spec: ScorerSpec
    rows: Rows
    train_rows: int
    shared_rows: int
    comparison: Comparison | None
    suggestion: Suggestion | None

    @property
    def tiers(self) -> list[str]:
        """The cheaper tiers whose answers the labels are about (the suggestion is for them)."""
        return sorted({r.tier for r in self.rows.requests if r.tier is not None})


def _apgr(s: np.ndarray, y: np.ndarray) -> float:
    import numpy as np

    from gateway.offline.stats import apgr

    return apgr(s, 1.0 - y, np.ones_like(y))


def compare(new: np.ndarray, old: np.ndarray, y: np.ndarray, n_boot: int) -> Comparison | None:
    if len(y) == 0 or y.min() == y.max():
        return None
    a, b, gain = paired_bootstrap(auc, new, old, y, n_boot)
    _, _, apgr_gain = paired_bootstrap(_apgr, new, old, y, n_boot, seed=1)
    return Comparison(
        len(y), int(y.sum()), auc(new, y), auc(old, y), a, b, gain, _apgr(new, y), _apgr(old, y), apgr_gain
    )


def suggest(p: np.ndarray, y: np.ndarray, target: float, all_scores: Sequence[float]) -> Suggestion:
    """Keep the requests scored ≤ t on the cheaper tier, send the rest to the reference (quality 1):
    the largest t whose expected quality kept is still at least `target`."""
    import numpy as np

    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    fell_short = np.cumsum(ys)  # of the first k+1 kept
    n = len(ys)
    best_k = 0
    for k in range(1, n + 1):
        if k < n and ps[k - 1] == ps[k]:
            continue  # a threshold keeps every request of its score
        if 1 - fell_short[k - 1] / n >= target:
            best_k = k
    t = float(ps[best_k - 1]) if best_k else 0.0
    rate = wilson(best_k - (float(fell_short[best_k - 1]) if best_k else 0.0), best_k)
    moved = n - best_k
    quality = Rate(
        rate.k + moved,
        n,
        (rate.k + moved) / n,
        (rate.lo * best_k + moved) / n,
        (rate.hi * best_k + moved) / n,
    )
    share = sum(s <= t for s in all_scores) / len(all_scores) if all_scores and best_k else None
    return Suggestion(target, round(t, 4), quality, best_k / n, share)


def retrain(
    log: Log,
    *,
    shared: Sequence[Example] = (),
    tiers: set[str] | None = None,
    holdout: float = 0.2,
    target: float = 0.95,
    name: str = "from-log",
    n_boot: int = 500,
    meta: dict[str, Any] | None = None,
) -> Retrained:
    import numpy as np

    from gateway.offline.encoded import concat, encode, from_inputs
    from gateway.offline.report.rescore import rescore
    from gateway.offline.scorer_train import fit, probabilities, select

    rows = label_rows(log, tiers, holdout)
    y = np.asarray(rows.labels, dtype=np.float64)
    train = np.asarray(rows.split) == "train"
    if train.sum() < MIN_ROWS or y[train].min(initial=1) == y[train].max(initial=0):
        raise NoRows(
            f"{int(train.sum())} labelled training rows from the log ({int(y[train].sum())} fell short): "
            f"at least {MIN_ROWS} with both outcomes are needed. Turn on shadow judging or feedback, and "
            f"`log_features: true` on the route (skipped: {dict(rows.skipped) or 'none'})"
        )
    mine = from_inputs(rows.inputs, rows.labels, ["log"] * len(rows.labels), rows.split)
    enc = concat([encode(shared), mine]) if shared else mine
    mask = enc.split == "train"
    hp, folds = select(enc, mask)  # alone: one task, fixed settings; mixed: leave-one-task-out
    spec = fit(enc, mask, hp, name=name)
    p = probabilities(spec, mine)  # the log's own rows (row by row: the same as within `enc`)
    held = ~train
    old = np.array([r.difficulty if r.difficulty is not None else np.nan for r in rows.requests])
    both = held & ~np.isnan(old)
    comparison = compare(p[both], old[both], y[both], n_boot)
    scored = [r for r in log.requests if r.difficulty is not None]
    suggestion = None
    if held.any():
        suggestion = suggest(p[held], y[held], target, list(rescore(scored, spec).scores.values()))
    info: dict[str, Any] = {
        "label": _LABEL,
        "examples": int(mask.sum()),
        "positives": int(enc.label[mask].sum()),
        "tasks": sorted(str(t) for t in set(enc.task[mask])),
        "selection": {t: {k: round(v, 4) for k, v in d.items()} for t, d in folds.items()},
        **spec.meta,
        "from_log": {
            "rows": len(rows.labels),
            "held_out": int(held.sum()),
            "labels": dict(rows.sources),
            "rebuilt_from_prompt": rows.rebuilt,
            "tiers": sorted({r.tier for r in rows.requests if r.tier is not None}),
        },
        **(meta or {}),
    }
    if suggestion is not None:
        info["suggested"] = {
            "target_quality": target,
            "max_difficulty": suggestion.max_difficulty,
            "share": None if suggestion.share is None else round(suggestion.share, 3),
        }
    return Retrained(replace(spec, meta=info), rows, int(train.sum()), len(shared), comparison, suggestion)
