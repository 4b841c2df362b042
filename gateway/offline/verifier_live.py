"""Fit and evaluate the verifier's live models on the embedded model's drafts, family by family (numpy).

Input: rows made by `gateway calibrate-verifier`, one per question of a live family
(live_families.py): its prompt, gold answer, grader, and chat choices with logprobs, the greedy
draft first, then samples. Each draft is graded right or wrong by live_labels.py.

The prior every draft is judged with: with no labels of the family, a Mistral-7B-label pre-generation
score's P(right) = 1 - difficulty (`p0`: the v2 weights', `v2_scorer()`; a gateway with the shipped v3
weights judges a family without labels of its own with the verifier's default prior instead, about
the same level: routing/cascade.py); after `n` labels of the family in arrival order, its rate shrunk
towards p0 by PSEUDO pseudo-labels, (k + PSEUDO·p0) / (n + PSEUDO), as the scorer's family counts
shrink it.

Fitting (`fit_live`): the evidence models read the text model's evidence, the mean token logprob,
the answer checks and agreement, with the prior's log-odds as a fixed offset. The offset is the
family's own rate from its other drafts (leave-one-out, shrunk as above), so the evidence learns what
a draft says beyond its family's rate; `level` then moves a prior with no labels (p0, from the
shipped counts of another model) to the drafting model's own level, and fades as labels come in.
Every input has the sign its meaning gives it (a check failing cannot raise confidence); one fitted
with the wrong sign is dropped and the rest refitted. The evidence is then scaled by a shrink factor
chosen by leave-one-family-out inside the training families (the pooled AUC of prior + evidence).

Evaluation (`report`): leave one family out (its drafts scored by models fitted on the other
families), per family and pooled, with and without the prior, and the learning curve as the left-out
family's labels come in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.classify import checks
from gateway.classify.draft import Draft, draft_of
from gateway.classify.scorer import v2_scorer
from gateway.classify.verifier import Head, Verifier
from gateway.offline.live_labels import grade
from gateway.protocol import chat_view

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EVIDENCE", "Live", "accuracy", "confidences", "fit_live", "live_rows", "shrunk_prior"]

PSEUDO = 20.0  # the scorer's shrinkage of a family's rate (offline/prior.py PRIOR_ROWS)
CLIP = 0.01
# What each live model reads, and the sign each input's weight must have.
CHECKED = ("calc_wrong", "calc_right", "answer_wrong", "answer_right")
EVIDENCE: dict[str, tuple[str, ...]] = {
    "logprobs": ("text", "lp_mean", *CHECKED, "missing_answer", "finish_length", "unfinished"),
    "samples": ("text", "agree", *CHECKED, "missing_answer", "finish_length", "unfinished"),
    "logprobs+samples": (
        "text",
        "lp_mean",
        "agree",
        *CHECKED,
        "missing_answer",
        "finish_length",
        "unfinished",
    ),
}
SIGNS = {
    "text": 1,
    "lp_mean": 1,
    "lp_q10": 1,
    "lp_min": 1,
    "agree": 1,
    "calc_right": 1,
    "calc_wrong": -1,
    "answer_right": 1,
    "answer_wrong": -1,
    "missing_answer": -1,
    "finish_length": -1,
    "unfinished": -1,
    "echo_number": -1,
    "code_broken": -1,
    "final_mismatch": -1,
}
LAMBDAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
SHRINK = (0.25, 0.5, 0.75, 1.0)


@dataclass
class Live:
    """One question's greedy draft (and samples) as the verifier reads them."""

    family: str
    index: int  # arrival order within the family
    prompt: str
    y: int  # the greedy draft is right
    p0: float  # 1 - the shipped pre-generation difficulty
    x1: dict[str, float]  # features of the greedy draft alone
    xk: dict[str, float] | None  # ... judged with the samples, when there are any
    drafts: list[Draft] = field(default_factory=list)
    sample_right: list[int] = field(default_factory=list)


def live_rows(rows: Sequence[dict[str, Any]], verifier: Verifier, samples: int = 3) -> list[Live]:
    scorer = v2_scorer()
    out = []
    for r in rows:
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": r["prompt"]}]}, 0)
        p0 = 1.0 - scorer.score(view)
        drafts = [draft_of(c) for c in r["drafts"]]
        _, x1 = verifier.features(view, drafts[:1], prior_right=p0)
        xk = verifier.features(view, drafts[:samples], prior_right=p0)[1] if len(drafts) >= samples else None
        index = int(str(r["id"]).rsplit("-", 1)[1])
        out.append(
            Live(
                r["family"],
                index,
                r["prompt"],
                grade(r, drafts[0].content),
                p0,
                x1,
                xk,
                drafts[:samples],
                [grade(r, d.content) for d in drafts[1:samples]],
            )
        )
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    import numpy as np

    p = np.clip(p, CLIP, 1 - CLIP)
    return np.asarray(np.log(p / (1 - p)))


def shrunk_prior(rows: Sequence[Live], n: int) -> np.ndarray:
    """Each row's prior after the first `n` labels of its family (arrival order) came in."""
    import numpy as np

    out = np.array([r.p0 for r in rows], dtype=np.float64)
    fams: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        fams.setdefault(r.family, []).append(i)
    for idx in fams.values():
        seen = [i for i in idx if rows[i].index < n]
        k = sum(rows[i].y for i in seen)
        for i in idx:
            out[i] = (k + PSEUDO * rows[i].p0) / (len(seen) + PSEUDO)
    return out


def loo_prior(rows: Sequence[Live]) -> np.ndarray:
    """Each row's prior from every other label of its family: the offset the evidence is fitted on."""
    import numpy as np

    from gateway.offline.verifier_fit import family_rate

    y = np.array([r.y for r in rows], dtype=np.float64)
    return family_rate(y, [r.family for r in rows], np.array([r.p0 for r in rows]))


def _x(rows: Sequence[Live], key: str) -> list[dict[str, float]]:
    return [r.x1 if key == "logprobs" or r.xk is None else r.xk for r in rows]


def _signed(
    x: np.ndarray, y: np.ndarray, lam: float, signs: np.ndarray, offset: np.ndarray
) -> tuple[float, np.ndarray]:
    """The fit with every weight of its meaning's sign: a wrong-signed one is dropped, the rest refitted."""
    import numpy as np

    from gateway.offline.verifier_fit import fit_logistic

    used = np.ones(x.shape[1], dtype=bool)
    while True:
        bias, w = fit_logistic(x[:, used], y, lam, offset=offset)
        weights = np.zeros(x.shape[1])
        weights[used] = w
        wrong = weights * signs < 0
        if not wrong.any():
            return bias, weights
        used &= ~wrong


def _evidence(
    rows: Sequence[Live], key: str, lam: float | None
) -> tuple[float, np.ndarray, float, list[str]]:
    """Bias, weights and strength of one evidence model on `rows`, against the family-rate offset
    (the strength by 5-fold cross-validated log loss when None)."""
    import numpy as np

    from gateway.offline.stats import log_loss
    from gateway.offline.verifier_fit import matrix

    inputs = list(EVIDENCE[key])
    x = matrix(_x(rows, key), inputs)
    y = np.array([r.y for r in rows], dtype=np.float64)
    off = _logit(loo_prior(rows))
    signs = np.array([SIGNS[k] for k in inputs], dtype=np.float64)
    if lam is None:
        folds = np.arange(len(y)) % 5
        losses = {}
        for cand in LAMBDAS:
            p = np.zeros(len(y))
            for f in range(5):
                tr, te = folds != f, folds == f
                b, w = _signed(x[tr], y[tr], cand, signs, off[tr])
                p[te] = 1.0 / (1.0 + np.exp(-(off[te] + b + x[te] @ w)))
            losses[cand] = log_loss(p, y)
        lam = min(losses, key=lambda k: (losses[k], -k))
    bias, w = _signed(x, y, lam, signs, off)
    return bias, w, lam, inputs


def _level(rows: Sequence[Live], head: Head, key: str) -> float:
    """The shift that takes the no-label prior (p0) to the drafting model's level, the evidence fixed."""
    import numpy as np

    from gateway.offline.verifier_fit import fit_logistic

    y = np.array([r.y for r in rows], dtype=np.float64)
    e = np.array([head.logit(x) for x in _x(rows, key)])
    off = _logit(np.array([r.p0 for r in rows])) + e
    bias, _ = fit_logistic(np.zeros((len(y), 0)), y, 0.0, offset=off)
    return float(bias)


def _pooled_auc(rows: Sequence[Live], heads: dict[str, Head], key: str) -> float:
    """Prior (p0) + evidence, each row's evidence from the model fitted without its family (a level
    the same for every row changes no ranking)."""
    import numpy as np

    from gateway.offline.stats import auc

    z = _logit(np.array([r.p0 for r in rows]))
    z += np.array([heads[r.family].logit(x) for r, x in zip(rows, _x(rows, key), strict=True)])
    return auc(z, np.array([r.y for r in rows], dtype=np.float64))


def fit_live(rows: Sequence[Live], key: str, *, nested: bool = True) -> tuple[Head, float, dict[str, Any]]:
    """One evidence model on `rows` (its families all training ones), its level, and how it was chosen.

    The shrink factor: leave one training family out at a time, fit on the others, and score the
    pooled left-out drafts by p0 + factor · evidence; the factor with the best pooled AUC
    (the largest on a tie within 0.002). `nested=False` takes 1 (for the inner fits themselves)."""
    bias, w, lam, inputs = _evidence(rows, key, None)
    shrink = 1.0
    inner: dict[str, float] = {}
    families = sorted({r.family for r in rows})
    if nested and len(families) >= 3:
        fits = {f: fit_live([r for r in rows if r.family != f], key, nested=False)[0] for f in families}
        for s in SHRINK:
            heads = {f: Head(h.bias * s, {k: v * s for k, v in h.weights.items()}) for f, h in fits.items()}
            inner[f"{s:g}"] = round(_pooled_auc(rows, heads, key), 4)
        best = max(inner.values())
        shrink = max(float(k) for k, v in inner.items() if v >= best - 0.002)
    head = Head(
        round(bias * shrink, 5), {k: round(float(v) * shrink, 5) for k, v in zip(inputs, w, strict=True)}
    )
    level = _level(rows, head, key)
    return head, level, {"lambda": lam, "shrink": shrink, "inner_auc": inner}


def confidences(
    rows: Sequence[Live],
    head: Head | None,
    level: float,
    prior: np.ndarray | None,
    key: str = "logprobs",
    n: int = 0,
) -> np.ndarray:
    """P(right) of each row's greedy draft: the prior (None: none, the level only) plus the evidence
    (None: the text model's alone), the level faded by the `n` labels the prior came from."""
    import numpy as np

    xs = _x(rows, key)
    e = np.array([x["text"] if head is None else head.logit(x) for x in xs])
    z = e + level * PSEUDO / (PSEUDO + n)
    if prior is not None:
        z = z + _logit(prior)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def accuracy(rows: Sequence[Live]) -> dict[str, float]:
    """Right answers: greedy, one sample at temperature, the majority of the drafts judged together."""
    with_samples = [r for r in rows if r.sample_right]
    out = {"greedy": sum(r.y for r in rows) / max(1, len(rows))}
    if with_samples:
        out["sampled"] = sum(sum(r.sample_right) for r in with_samples) / sum(
            len(r.sample_right) for r in with_samples
        )
        right = 0
        for r in with_samples:
            view = chat_view({"model": "auto", "messages": [{"role": "user", "content": r.prompt}]}, 0)
            expect = checks.expectation(view)
            found = [checks.final_answer(d.content, expect) for d in r.drafts]
            votes = [sum(b == a for b in found) if a is not None else 0 for a in found]
            best = votes.index(max(votes))
            right += ([r.y, *r.sample_right])[best]
        out["majority"] = right / len(with_samples)
        out["greedy_of_sampled"] = sum(r.y for r in with_samples) / len(with_samples)
    return out
