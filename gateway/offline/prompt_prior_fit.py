"""Fit the drafting model's own prompt prior (classify/prompt_prior.py) on its graded drafts (numpy).

Rows: the calibration families' greedy drafts (`gateway calibrate-verifier`'s cache, graded by
live_labels.py) and any labelled question sets (JSONL rows {"set", "family", "question", "right"},
such as loadtests/blind_labels.jsonl, which loadtests/prompt_prior_eval.py writes). The model: a
logistic regression on the fifteen cues, standardised, L2-penalised (LAMBDA), each family weighing
the same in total so that a family of 250 templated questions does not outvote one of 20; the
weights are then folded back to the cues' own units.

The report ranks the drafts of what was left out: each family in turn (its rows scored by a fit on
the others), and each set in turn (a fit on the other sets), against the pre-generation difficulty
of the v2 weights and prompt length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify.prompt_prior import INPUTS, PromptPrior, prompt_inputs

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LAMBDA",
    "Labelled",
    "calibration_rows",
    "fit",
    "fit_command",
    "held_out",
    "read_labels",
    "report",
]

LAMBDA = 1.0  # chosen by nested leave-family-out inside the training families: 1 in 47 of 47 folds
CALIBRATION = "calibration"


@dataclass(frozen=True, slots=True)
class Labelled:
    """One question and whether the drafting model's greedy draft of it was right."""

    set: str  # the question set it came from ("calibration", a blind set's name)
    family: str
    question: str
    right: int


def calibration_rows(cache: Path, per_family: int = 90) -> list[Labelled]:
    """The calibration families' greedy drafts, graded; a question not in the cache is skipped."""
    from gateway.offline.live_labels import grade
    from gateway.offline.verifier_calibrate import cached, questions

    done = cached(cache)
    out = []
    for q in questions(per_family):
        row = done.get(q["prompt"])
        if row and row["drafts"]:
            first = row["drafts"][0]
            text = (first.get("message") or {}).get("content") or ""
            out.append(Labelled(CALIBRATION, q["family"], q["prompt"], grade(q, text)))
    return out


def read_labels(path: Path) -> list[Labelled]:
    import json

    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            # a set's families are its own: two sets may each have a "world_geography"
            out.append(Labelled(r["set"], f"{r['set']}:{r['family']}", r["question"], int(r["right"])))
    return out


def _matrix(rows: Sequence[Labelled]) -> np.ndarray:
    import numpy as np

    return np.array([[prompt_inputs(r.question)[k] for k in INPUTS] for r in rows], dtype=np.float64)


def _family_weights(families: Sequence[str]) -> np.ndarray:
    import numpy as np

    counts: dict[str, int] = {}
    for f in families:
        counts[f] = counts.get(f, 0) + 1
    w = np.array([1.0 / counts[f] for f in families])
    return np.asarray(w * len(w) / w.sum())


def _newton(x: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Weighted logistic regression, penalised lam/2 · |weights|² (not the bias, last)."""
    import numpy as np

    xb = np.hstack([x, np.ones((len(x), 1))])
    pen = np.full(xb.shape[1], lam)
    pen[-1] = 1e-6
    b = np.zeros(xb.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ b, -40, 40)))
        g = xb.T @ (w * (p - y)) + pen * b
        h = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(pen)
        step = np.linalg.solve(h, g)
        b -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return b


def fit(rows: Sequence[Labelled], weight: float, lam: float = LAMBDA) -> PromptPrior:
    """The prior on `rows`, in the cues' own units; `center` is its mean logit on them."""
    import numpy as np

    x = _matrix(rows)
    y = np.array([r.right for r in rows], dtype=np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0  # a cue that never varies here gets no weight either way
    b = _newton((x - mu) / sd, y, _family_weights([r.family for r in rows]), lam)
    weights = b[:-1] / sd
    bias = float(b[-1] - weights @ mu)
    logits = bias + x @ weights
    return PromptPrior(
        round(bias, 5),
        {k: round(float(v), 5) for k, v in zip(INPUTS, weights, strict=True)},
        weight,
        round(float(logits.mean()), 5),
    )


def held_out(rows: Sequence[Labelled], key: str) -> np.ndarray:
    """Each row's logit from a fit without its group (`key`: "family" or "set")."""
    import numpy as np

    groups = [getattr(r, key) for r in rows]
    out = np.zeros(len(rows))
    for g in sorted(set(groups)):
        train = [r for r, h in zip(rows, groups, strict=True) if h != g]
        prior = fit(train, 1.0)
        for i, (r, h) in enumerate(zip(rows, groups, strict=True)):
            if h == g:
                out[i] = prior.logit(r.question)
    return out


def report(rows: Sequence[Labelled], n_boot: int = 500) -> tuple[str, dict[str, Any]]:
    """Markdown: how the prior ranks each set's drafts left out, against the v2 difficulty and
    prompt length; and the fit on every row, as JSON."""
    import numpy as np

    from gateway.classify.scorer import v2_scorer
    from gateway.offline.stats import auc, boot_ci
    from gateway.protocol import chat_view

    scorer = v2_scorer()
    y = np.array([r.right for r in rows], dtype=np.float64)
    sets = np.array([r.set for r in rows])
    by_family, by_set = held_out(rows, "family"), held_out(rows, "set")
    v2 = np.array(
        [
            -scorer.score(
                chat_view({"model": "auto", "messages": [{"role": "user", "content": r.question}]}, 0)
            )
            for r in rows
        ]
    )
    length = -np.array([len(r.question) for r in rows], dtype=np.float64)
    lines = [
        "| drafts of | drafts (right) | prior, family left out | prior, set left out [95% CI] | "
        "v2 pre-generation difficulty | prompt length |",
        "|---|---|---|---|---|---|",
    ]
    for s in sorted(set(sets), key=lambda k: (k != CALIBRATION, k)):
        m = sets == s
        ym = y[m]
        part, truth = by_set[m], y[m]

        def resampled(i: np.ndarray, part: np.ndarray = part, truth: np.ndarray = truth) -> float:
            return auc(part[i], truth[i])

        ci = boot_ci(resampled, n_boot, int(m.sum()))
        lines.append(
            f"| {s} | {int(m.sum())} ({int(ym.sum())}) | {auc(by_family[m], ym):.3f} | "
            f"{auc(by_set[m], ym):.3f} {ci} | {auc(v2[m], ym):.3f} | {auc(length[m], ym):.3f} |"
        )
    shipped = fit(rows, 1.0)
    lines += [
        "",
        "Fitted on every row (log-odds per unit of each cue): "
        + ", ".join(f"{k} {v:+.2f}" for k, v in shipped.weights.items())
        + f"; bias {shipped.bias:+.2f}.",
    ]
    return "\n".join(lines) + "\n", shipped.to_json()


def fit_command(
    cache: Path,
    labels: Sequence[Path],
    weight: float,
    n_boot: int = 500,
    doc: Path | None = None,
    weights: Path | None = None,
) -> str:
    """`gateway fit-prompt-prior`: fit on the cached calibration drafts and the labelled sets, replace
    `doc`'s prompt-prior section and `weights`' prompt prior when given; the markdown. ValueError,
    before anything is written, for a weight out of range, a file without a prior or too few families."""
    import json

    from gateway.offline.verifier_eval import replace_section

    if not 0.0 <= weight <= 2.0:
        raise ValueError("--weight is in [0, 2]")
    data = json.loads(weights.read_text()) if weights else None
    if data is not None and "prior" not in data:
        raise ValueError(f"{weights} has no prior (a {data.get('format')} file)")
    rows = calibration_rows(cache)
    for path in labels:
        rows += read_labels(path)
    if len({r.family for r in rows}) < 2:
        raise ValueError("no graded drafts of two families or more (--cache, --labels)")
    text, prior = report(rows, n_boot)
    if doc:
        replace_section(doc, "prompt-prior", text)
    if weights and data is not None:
        data["prior"]["prompt"] = {**prior, "weight": weight}
        weights.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return text
