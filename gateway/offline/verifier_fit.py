"""Fit the verifier's text model on the shared RouterBench answers (offline; numpy).

Rows: Mistral-7B's answer to each prompt (`mistralai/mistral-7b-chat|model_response`), label 1 when it
was right. Inputs: the text features of draft.py; the prior P(right) = 1 - the pre-generation
difficulty score enters as a fixed offset (its log-odds at weight 1), so the text model learns the
evidence a draft adds to its prior, never a weight on the prior itself (classify/verifier.py).

Two choices keep the fit honest:
- The prior is *cross-fitted*: a scorer scores the rows it was trained on almost perfectly
  (AUC 0.99 on its own training rows against 0.59 held out), so evidence fitted against in-sample
  scores would learn to lean on them. Each training row is scored by a scorer trained without it (5
  folds, or without its task when the evaluation is cross-task), as the shipped scorer scores unseen
  traffic.
- L2-regularised logistic regression pulled towards simple priors (a refusal or a missing answer
  lowers confidence), not towards zero: cues the data never shows keep their prior, the rest move as
  far as the data argues. The strength is chosen by nested leave-one-task-out inside the training
  tasks only (the mean AUC on the inner held-out task), never on the rows reported.

    gateway fit-verifier --data-dir ../shared/data --weights gateway/classify/weights/verifier.json

(the command is offline/cli.py; the tables it prints come from verifier_eval.py)
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify import checks
from gateway.classify.draft import TEXT_FEATURES, Draft, text_features
from gateway.classify.verifier import Head, Prior, Verifier

# The shared loader's row helpers too, so these rows are built exactly as load_routerbench's are.
from gateway.offline.data import RB_SMALL, Example, as_float, chat_body, load_arena, open_text, unlist
from gateway.offline.stats import auc, log_loss

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CLIP",
    "LAMBDAS",
    "LIVE_INPUTS",
    "PRIORS",
    "Answered",
    "cross_fitted_difficulty",
    "fit_head",
    "fit_logistic",
    "fit_text",
    "load_answered",
    "prior_offset",
]

# Prior weights (logit of "the draft is right" per unit of feature): what an operator would assume.
PRIORS: dict[str, float] = {
    "finish_length": -1.0,
    "refusal": -2.0,
    "hedging": -1.0,
    "missing_answer": -2.0,
    "code_broken": -1.0,
    "repetition": -1.0,
    "log_chars": 0.0,
    "unfinished": -1.0,
    # A stated computation that does not recompute is a slip a reader would catch; one that does is
    # weaker news than a final answer checked against the one the question determines.
    "calc_wrong": -1.5,
    "calc_right": 0.5,
    "final_mismatch": -1.0,
    "echo_number": -0.5,
    "answer_wrong": -2.5,
    "answer_right": 1.5,
}
INPUTS = TEXT_FEATURES
CLIP = 0.01  # as classify.verifier.Prior: a prior of 0 or 1 would overrule any evidence
PLATT_LAMBDA = 100.0
PSEUDO = 20.0  # labels of a family at which a prior's level shift has halved (the scorer's shrinkage)
LAMBDAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
MIN_SUPPORT = 20
TASKS = ("arc-challenge", "mbpp", "winogrande")


@dataclass(frozen=True, slots=True)
class Answered:
    example: Example
    answer: str  # the small model's answer text

    @property
    def correct(self) -> int:
        return int(self.example.q_small >= 1.0)


def load_answered(path: Path) -> list[Answered]:
    """RouterBench rows with Mistral-7B's answer; the same rows, in the same order, as load_routerbench."""
    from gateway.offline.data import RB_LARGE, RB_MEDIUM

    out = []
    with open_text(path) as f:
        for row in csv.DictReader(f):
            qs, qm, ql = as_float(row[RB_SMALL]), as_float(row[RB_MEDIUM]), as_float(row[RB_LARGE])
            if qs != qs or ql != ql:  # NaN: a few ARC rows have no score
                continue
            ex = Example(
                chat_body(unlist(row["prompt"])),
                int(qs < 1.0),
                row["eval_name"],
                row["routerdc_split"],
                q_small=qs,
                q_medium=qm,
                q_large=ql,
            )
            out.append(Answered(ex, unlist(row[f"{RB_SMALL}|model_response"])))
    return out


# ---- the pre-generation score, cross-fitted ---------------------------------------------------------
ScorerFactory = Callable[[Sequence[Example]], Callable[[Example], float]]


def linear_scorer_factory(examples: Sequence[Example]) -> Callable[[Example], float]:
    """A v2 difficulty scorer fitted on `examples` by its trainer (offline/scorer_train.py), with the
    hyperparameters the v2 weights were selected with (no selection per fold: minutes each). v2, for
    its Mistral-7B label: the shared answers the text model is fitted on are Mistral-7B's."""
    import numpy as np

    from gateway.classify.scorer import DifficultyScorer, v2_scorer
    from gateway.offline.scorer_train import Hyper, encode, fit

    m = v2_scorer().meta
    hp = Hyper(str(m["target"]), float(m["lexical"]), float(m["embedding"]), float(m["ridge"]))
    enc = encode(examples)
    scorer = DifficultyScorer(fit(enc, np.ones(len(examples), dtype=bool), hp, name="cross-fit"))

    def score(e: Example) -> float:
        return scorer.score(e.view)

    return score


def cross_fitted_difficulty(
    rows: Sequence[Answered],
    extra: Sequence[Example],
    factory: ScorerFactory,
    *,
    by_task: bool,
    folds: int = 5,
) -> list[float]:
    """Each row's difficulty from a scorer that never saw it: trained on the other folds (or, with
    `by_task`, the other tasks) plus `extra` (the arena training rows, as `gateway train` uses)."""
    groups = [r.example.task for r in rows] if by_task else [str(i % folds) for i in range(len(rows))]
    out = [0.0] * len(rows)
    for g in sorted(set(groups)):
        train = [r.example for r, h in zip(rows, groups, strict=True) if h != g] + list(extra)
        score = factory(train)
        for i, h in enumerate(groups):
            if h == g:
                out[i] = score(rows[i].example)
    return out


# ---- features and the regularised fit --------------------------------------------------------------
def feature_rows(rows: Sequence[Answered], *, parse: bool = True) -> list[dict[str, float]]:
    """Each row's text features; `parse=False`: broken code by bracket counts alone (no parsers)."""
    out = []
    for r in rows:
        expect = checks.expectation(r.example.view)
        x = text_features(Draft(r.answer), expect, checks.final_answer(r.answer, expect))
        if not parse:
            x["code_broken"] = float(expect.code and checks.code_broken(r.answer, expect, parse=False))
        out.append(x)
    return out


def prior_offset(prior_right: Sequence[float] | np.ndarray) -> np.ndarray:
    """The priors' log-odds, clipped as the verifier clips them."""
    import numpy as np

    p = np.clip(np.asarray(prior_right, dtype=np.float64), CLIP, 1 - CLIP)
    return np.asarray(np.log(p / (1 - p)))


def family_rate(y: np.ndarray, families: Sequence[str], prior_right: np.ndarray) -> np.ndarray:
    """Each row's prior from every other label of its family, shrunk towards its own prior by PSEUDO
    pseudo-labels (the family counts' rule): the offset evidence is fitted against. Fitted against the
    family's rate, the evidence learns what a draft says *within* its family; against the prompt-only
    prior, it would also learn which families are hard (long answers in a hard task), which does not
    carry to the next family."""
    import numpy as np

    fam = np.asarray(families)
    out = np.empty(len(y))
    for f in np.unique(fam):
        m = fam == f
        k, n = y[m].sum(), m.sum()
        out[m] = (k - y[m] + PSEUDO * prior_right[m]) / (n - 1 + PSEUDO)
    return out


def matrix(xs: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    import numpy as np

    return np.array([[x.get(k, 0.0) for k in names] for x in xs], dtype=np.float64)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    lam: float,
    prior: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Logistic regression by Newton's method (a fixed `offset` added to each row's logit), penalised
    lam/2 * (w - prior)^2, none on the bias; exact and deterministic, which a dozen inputs allow.
    The inputs are not standardised: they are built on about [0, 1] already, and standardising would
    leave a cue seen twice all but unpenalised (its standard deviation is tiny)."""
    import numpy as np

    n, d = x.shape
    xb = np.hstack([np.ones((n, 1)), x])
    mu = np.concatenate([[0.0], prior if prior is not None else np.zeros(d)])
    pen = np.concatenate([[0.0], np.full(d, lam)])
    off = offset if offset is not None else np.zeros(n)
    w = mu.copy()
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w + off, -40, 40)))
        g = xb.T @ (p - y) + pen * (w - mu)
        h = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(pen + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return float(w[0]), w[1:]


def _fit(
    xs: Sequence[dict[str, float]],
    y: np.ndarray,
    names: Sequence[str],
    lam: float,
    tasks: Sequence[str],
    base: np.ndarray,
) -> Head:
    """The regularised fit, after screening. Not fitted, kept at its prior: an input the training rows
    show fewer than MIN_SUPPORT times (a cue seen twice is an anecdote), and one whose effect changes
    sign between the training tasks, each fitted alone (../shared/data/README.md)."""
    import numpy as np

    prior = np.array([PRIORS.get(k, 0.0) for k in names])
    x = matrix(xs, names)
    task_arr = np.array(tasks)
    keep = (x != 0).sum(axis=0) >= MIN_SUPPORT
    signs: list[np.ndarray] = []
    for t in sorted(set(tasks)):
        m = task_arr == t
        if m.sum() >= 50 and 0 < y[m].mean() < 1:
            _, w = fit_logistic(x[m][:, keep], y[m], lam, prior[keep], offset=base[m])
            varies = x[m][:, keep].std(axis=0) > 1e-9
            sign = np.zeros(len(names))
            sign[keep] = np.where(varies, np.sign(w), 0.0)
            signs.append(sign)
    if len(signs) >= 2:
        s = np.array(signs)
        keep &= ~((s > 0).any(axis=0) & (s < 0).any(axis=0))
    weights = prior.copy()
    # The fixed inputs enter as an offset: fitting the bias on x·prior would be the same, folded in.
    offset = base + x[:, ~keep] @ prior[~keep]
    bias, w = fit_logistic(x[:, keep], y, lam, prior[keep], offset=offset)
    weights[keep] = w
    return Head(round(bias, 5), {k: round(float(v), 5) for k, v in zip(names, weights, strict=True)})


def _platt(head: Head, xs: Sequence[dict[str, float]], y: np.ndarray, base: np.ndarray) -> Head:
    """Rescale the evidence (a * e + b, fitted on the same rows, the prior still a fixed offset): the
    inputs held at their priors need not be calibrated together with the fitted ones."""
    import numpy as np

    z = np.array([head.logit(x) - head.bias for x in xs])
    # Pulled towards 1 (the fit as it is) and kept in [0, 2]: rows whose evidence hardly varies (one
    # letter answers) would otherwise scale it by whatever fits a handful of rare cues.
    b, (a,) = fit_logistic(z[:, None], y, PLATT_LAMBDA, np.array([1.0]), offset=base)
    a = min(max(a, 0.0), 2.0)
    b, _ = fit_logistic(np.zeros((len(y), 0)), y, 0.0, offset=base + a * z)
    return Head(round(b, 5), {k: round(a * w, 5) for k, w in head.weights.items()})


def choose_lambda(
    xs: Sequence[dict[str, float]],
    y: np.ndarray,
    tasks: Sequence[str],
    names: Sequence[str],
    base: np.ndarray,
) -> tuple[float, dict[float, float]]:
    """Nested leave-one-task-out over the training tasks: the strength with the best mean inner AUC
    of prior and evidence together (the strongest on a tie, within 0.002)."""
    import numpy as np

    task_arr = np.array(tasks)
    mean_auc: dict[float, float] = {}
    for lam in LAMBDAS:
        scores = []
        for t in sorted(set(tasks)):
            tr, te = task_arr != t, task_arr == t
            head = _fit(
                [x for x, k in zip(xs, tr, strict=True) if k], y[tr], names, lam, list(task_arr[tr]), base[tr]
            )
            s = np.array([head.logit(x) for x, k in zip(xs, te, strict=True) if k]) + base[te]
            scores.append(auc(s, y[te]))
        mean_auc[lam] = float(np.nanmean(scores))
    best = max(mean_auc.values())
    return max(lam for lam, a in mean_auc.items() if a >= best - 0.002), mean_auc


def fit_text(
    rows: Sequence[Answered],
    prior_right: Sequence[float] | None,
    *,
    drop: Sequence[str] = (),
    lam: float | None = None,
    name: str = "verifier",
    parse: bool = True,
) -> Verifier:
    """The text model, fitted on `rows` with their task's rate (family_rate, shrunk towards their
    priors) as a fixed offset (None: no prior, the rows' mean rate for every row); a `lam` of None is
    chosen by nested leave-one-task-out; `parse=False`: without the parsers (feature_rows)."""
    import numpy as np

    names = [k for k in INPUTS if k not in drop]
    xs = feature_rows(rows, parse=parse)
    y = np.array([r.correct for r in rows], dtype=np.float64)
    tasks = [r.example.task for r in rows]
    if prior_right is None:  # no prior: the evidence alone, against the training rows' mean rate
        default = float(y.mean())
        base = prior_offset(np.full(len(rows), default))
    else:
        default = float(np.mean(prior_right))
        base = prior_offset(family_rate(y, tasks, np.asarray(prior_right, dtype=np.float64)))
    curve: dict[float, float] = {}
    if lam is None:
        lam, curve = choose_lambda(xs, y, tasks, names, base)
    head = _platt(_fit(xs, y, names, lam, tasks, base), xs, y, base)
    # String keys in a fixed order: the file reads the same whoever wrote it last.
    inner = {f"{k:g}": round(v, 4) for k, v in sorted(curve.items())}
    meta: dict[str, Any] = {"rows": len(rows), "lambda": lam, "inner_auc": inner}
    return Verifier(name, {"text": head}, meta=meta, prior=Prior(round(default, 5), PSEUDO, CLIP))


def arena_train(data_dir: Path) -> list[Example]:
    return [e for e in load_arena(next(data_dir.glob("arenabench*.csv.gz"))) if e.split == "train"]


# ---- the live models (logprobs, samples): fitted on the embedded model's own drafts ----------------
# The low quantile and the minimum are computed (explain shows them) but not read: on the embedded
# model's drafts they added nothing to the mean and took fitted weights of the wrong sign
# (docs/verifier-eval.md, "What each live input adds").
LIVE_INPUTS = {
    "logprobs": ("text", "lp_mean"),
    "samples": ("text", "agree"),
    "logprobs+samples": ("text", "lp_mean", "agree"),
}
# The text model's logit is taken at face value until the data says otherwise; the rest start at 0.
LIVE_PRIORS = {"text": 1.0}
# Weaker than the text model's: a few hundred live drafts, and logprob inputs whose spread is a
# fraction of a nat, which a strength of 1 or more would flatten to nothing.
LIVE_LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def fit_head(
    xs: Sequence[dict[str, float]], y: np.ndarray, inputs: Sequence[str], lam: float | None = None
) -> tuple[Head, float]:
    """A live model over `inputs`; a `lam` of None is chosen by 5-fold cross-validated log loss on
    these (training) rows. Every live input can only raise confidence (the text model's verdict, the
    model's own certainty, the samples backing it): one fitted with a negative weight is noise on a
    few hundred drafts, and is dropped (weight 0) and the rest refitted. Returns the model and its
    strength."""
    import numpy as np

    prior = np.array([LIVE_PRIORS.get(k, 0.0) for k in inputs])
    x = matrix(xs, inputs)
    if lam is None:
        folds = np.arange(len(y)) % 5
        losses = {}
        for cand in LIVE_LAMBDAS:
            p = np.zeros(len(y))
            for f in range(5):
                tr, te = folds != f, folds == f
                b, w = fit_logistic(x[tr], y[tr], cand, prior)
                p[te] = 1.0 / (1.0 + np.exp(-(b + x[te] @ w)))
            losses[cand] = log_loss(p, y)
        lam = min(losses, key=lambda k: (losses[k], -k))
    used = np.ones(len(inputs), dtype=bool)
    while True:
        bias, w = fit_logistic(x[:, used], y, lam, prior[used])
        weights = np.zeros(len(inputs))
        weights[used] = w
        if not (weights < 0).any():
            break
        used &= weights >= 0
    return Head(round(bias, 5), {k: round(float(v), 5) for k, v in zip(inputs, weights, strict=True)}), lam
