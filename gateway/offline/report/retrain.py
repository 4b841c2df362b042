"""`gateway train --from-log`: the difficulty scorer refitted on the labels a decision log collected.

Labels, for requests a cheaper tier answered (the ones a threshold decides about):
- a shadow verdict: `reference_better` → 1 (the cheaper tier fell short), `cheaper_as_good` / `tie` → 0;
- else the latest feedback: `bad` → 1, `good` → 0;
- both, disagreeing: the verdict wins. It compares the answer with the reference tier's, which is the
  question a routing threshold asks; a bad rating may mean the question was beyond every tier. The
  conflicts are counted. Feedback on the reference tier's answers says nothing about a cheaper tier.
Inputs: the logged `features` (`log_features: true`); without them, the logged prompt rebuilt into them
(`log_content: true`); else the request is skipped and counted. A stable hash of the id holds out a
share of the labelled requests: the new weights are compared there with the scores the gateway logged
(the scorer in force then), and the suggested threshold is read there. The fit is the shipped trainer
(offline/scorer_train.py), alone or with the shipped training data mixed in, each its own task.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gateway.classify.inputs import Logged, measure, read_inputs
from gateway.offline.report.log import Log, Request
from gateway.offline.stats import Rate, auc, paired_bootstrap, wilson

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.scorer import ScorerSpec
    from gateway.offline.data import Example

__all__ = ["MIN_ROWS", "Comparison", "NoRows", "Retrained", "Rows", "Suggestion", "label_rows", "retrain"]

MIN_ROWS = 100  # labelled training rows below which a fit says more about chance than about traffic
_LABEL = "P(the cheaper tier's answer falls short of the reference tier's), fitted on this gateway's log"


class NoRows(ValueError):
    """Not enough labelled rows to fit or compare; the message says what is missing."""


@dataclass
class Rows:
    requests: list[Request] = field(default_factory=list)
    inputs: list[Logged] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)  # label from: verdict / feedback
    rebuilt: int = 0  # inputs computed from the logged prompt (no logged features)
    skipped: Counter[str] = field(default_factory=Counter)  # labelled, but not usable: why
    conflicts: int = 0  # verdict and feedback disagreed (the verdict was kept)


def _label(r: Request, log: Log) -> tuple[int, str, bool] | None:
    """(label, where from, whether the other source disagreed)."""
    verdict, rating = log.verdicts.get(r.id), log.feedback.get(r.id)
    if verdict is not None:
        y = int(verdict.value == "reference_better")
        return y, "verdict", rating is not None and int(rating.value == "bad") != y
    if rating is not None:
        return int(rating.value == "bad"), "feedback", False
    return None


def _rebuilt(prompt: Any) -> Logged | None:
    """Scorer inputs from a logged prompt (`log_content`), computed as the gateway computes them."""
    from gateway.classify.embed import shared_tokens, token_vectors
    from gateway.classify.view import view_of_body

    if not isinstance(prompt, list) or not prompt:
        return None
    m = measure(view_of_body({"messages": prompt}), shared_tokens(), token_vectors())
    mean = tuple(float(v) for v in m.mean) if m.mean is not None else None
    return Logged(tuple(m.signals), mean, m.n_tokens if mean is not None else 0)


def _held_out(request_id: str, share: float) -> bool:
    return hashlib.sha256(request_id.encode()).digest()[0] < share * 256


def label_rows(log: Log, tiers: set[str] | None = None, holdout: float = 0.2) -> Rows:
    rows = Rows()
    for r in log.requests:
        found = _label(r, log)
        if found is None:
            continue
        if not r.cheaper:
            same = r.tier is not None and r.tier == r.reference_tier
            rows.skipped[
                "answered by the reference tier" if same else "no tier or reference tier logged"
            ] += 1
            continue
        if tiers is not None and r.tier not in tiers:
            rows.skipped[f"tier {r.tier} (not asked for)"] += 1
            continue
        y, source, conflict = found
        inputs: Logged | None = None
        if r.features is not None:
            try:
                inputs = read_inputs(r.inputs)
            except ValueError as exc:  # msgspec's DecodeError is one
                rows.skipped[f"features unreadable ({exc})"] += 1
                continue
        elif r.prompt is not None:
            inputs = _rebuilt(r.messages)
            rows.rebuilt += inputs is not None
        if inputs is None:
            rows.skipped["no features (log_features) and no prompt (log_content)"] += 1
            continue
        rows.requests.append(r)
        rows.inputs.append(inputs)
        rows.labels.append(y)
        rows.split.append("test" if _held_out(r.id, holdout) else "train")
        rows.sources[source] += 1
        rows.conflicts += conflict
    return rows


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
