"""The verifier on the shared RouterBench answers: tables for docs/verifier-eval.md, and the text weights.

The verifier's 1 - confidence ranks the prompts to escalate, against the pre-generation score alone,
prompt length and draft length, on the held-out split (routerdc_split = test) and on each
leave-one-task-out split (trained on two tasks' training rows, tested on every row of the third).
Arena has no answer text, so it has no verifier rows (its prompts still train the difficulty scorer).

    gateway fit-verifier --data-dir ../shared/data \\
        --doc docs/verifier-eval.md --weights gateway/classify/weights/verifier.json

Rerun it after the difficulty scorer changes: the difficulty input is cross-fitted with the shipped
trainer and the held-out rows are scored by `default_scorer()`; then rerun the live calibration
(`gateway calibrate-verifier`), whose models read this text model's logit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify.draft import Draft

if TYPE_CHECKING:
    from gateway.classify.verifier import Verifier
    from gateway.offline.verifier_fit import Answered

__all__ = ["GROUPS", "replace_section", "report"]

# Feature groups for the ablation (each refitted without the group).
GROUPS: dict[str, tuple[str, ...]] = {
    "pre-generation score": ("difficulty",),
    "draft length": ("log_chars",),
    "repetition": ("repetition",),
    "answer form (missing answer, broken code)": ("missing_answer", "code_broken"),
    "refusal, hedging, finish_reason length (priors)": ("refusal", "hedging", "finish_length"),
}
HEADER = "| score | APGR [95% CI] | CPT(50%) | CPT(80%) | calls@95% |\n|---|---|---|---|---|"


def _scores_row(name: str, scores: Sequence[float], rows: Sequence[Answered], n_boot: int) -> str:
    """One markdown row: the metrics on `rows` and their bootstrap 95% intervals."""
    import numpy as np

    from gateway.offline.stats import bootstrap, interval, metrics

    s = np.asarray(scores, dtype=np.float64)
    qs = np.array([r.example.q_small for r in rows])
    ql = np.array([r.example.q_large for r in rows])
    m, boot = metrics(s, qs, ql), bootstrap(s, qs, ql, n_boot, seed=7)
    cells = []
    for key in ("apgr", "cpt50", "cpt80", "calls95"):
        lo, hi = interval([getattr(b, key) for b in boot])
        digits = 3 if key == "apgr" else 2
        cells.append(f"{getattr(m, key):.{digits}f} [{lo:.2f}, {hi:.2f}]")
    return f"| {name} | " + " | ".join(cells) + " |"


def _prompt_tokens(r: Answered) -> float:
    from gateway.classify.features import profile

    return float(profile(r.example.view).prompt_tokens)


def _confidences(v: Verifier, rows: Sequence[Answered], difficulty: Sequence[float] | None) -> list[float]:
    return [
        v.confidence(r.example.view, [Draft(r.answer)], None if difficulty is None else difficulty[i])
        for i, r in enumerate(rows)
    ]


def _quality(
    conf: Sequence[float], rows: Sequence[Answered], n_boot: int
) -> tuple[float, str, float, str, float, str]:
    """AUC (confidence vs right), its CI, ECE, its CI, APGR, its CI."""
    import numpy as np

    from gateway.offline.stats import auc, boot_ci, ece, metrics

    c = np.asarray(conf)
    y = np.array([r.correct for r in rows], dtype=np.float64)
    qs = np.array([r.example.q_small for r in rows])
    ql = np.array([r.example.q_large for r in rows])
    return (
        auc(c, y),
        boot_ci(lambda i: auc(c[i], y[i]), n_boot, len(c)),
        ece(c, y),
        boot_ci(lambda i: ece(c[i], y[i]), n_boot, len(c)),
        metrics(1 - c, qs, ql).apgr,
        boot_ci(lambda i: metrics(1 - c[i], qs[i], ql[i]).apgr, n_boot, len(c)),
    )


def _split(
    name: str,
    train: Sequence[Answered],
    d_train: Sequence[float],
    test: Sequence[Answered],
    d_test: Sequence[float],
    n_boot: int,
    out: list[str],
    calib: list[str],
    ablation: list[str],
) -> Verifier:
    from gateway.offline.verifier_fit import fit_text

    full = fit_text(train, d_train)
    conf = _confidences(full, test, d_test)
    text_only = fit_text(train, None)
    conf_text = _confidences(text_only, test, None)
    out += [
        _scores_row("verifier (1 - confidence)", [1 - c for c in conf], test, n_boot),
        _scores_row("verifier without the pre-generation score", [1 - c for c in conf_text], test, n_boot),
        _scores_row("pre-generation score alone", d_test, test, n_boot),
        _scores_row("prompt length", [_prompt_tokens(r) for r in test], test, n_boot),
        _scores_row("draft length", [float(len(r.answer)) for r in test], test, n_boot),
    ]
    for label, c in (("verifier", conf), ("verifier without the pre-generation score", conf_text)):
        a, a_ci, e, e_ci, _, _ = _quality(c, test, n_boot)
        calib.append(f"| {name} | {label} | {a:.3f} {a_ci} | {e:.3f} {e_ci} |")
    a0, _, _, _, p0, _ = _quality(conf, test, 0)
    ablation.append(f"| {name} | all features | {a0:.3f} | {p0:.3f} |")
    for group, names in GROUPS.items():
        v = fit_text(train, d_train, drop=names)
        a, _, _, _, p, _ = _quality(_confidences(v, test, d_test), test, 0)
        ablation.append(f"| {name} | without {group} | {a:.3f} ({a - a0:+.3f}) | {p:.3f} ({p - p0:+.3f}) |")
    return full


def report(data_dir: Path, n_boot: int = 500) -> tuple[str, Verifier]:
    """The markdown tables, and the text model fitted on every training row (the one to ship)."""
    import numpy as np

    from gateway.classify.scorer import default_scorer
    from gateway.offline.stats import reliability_table
    from gateway.offline.verifier_fit import (
        TASKS,
        arena_train,
        cross_fitted_difficulty,
        linear_scorer_factory,
        load_answered,
    )

    rows = load_answered(next(data_dir.glob("routerbench*.csv.gz")))
    arena = arena_train(data_dir)
    train = [r for r in rows if r.example.split == "train"]
    test = [r for r in rows if r.example.split == "test"]
    scorer = default_scorer()
    d_train = cross_fitted_difficulty(train, arena, linear_scorer_factory, by_task=False)
    d_test = [scorer.score(r.example.view) for r in test]
    out = [
        f"### RouterBench held-out split (routerdc_split = test, {len(test)} answers; small = Mistral-7B, "
        "large = GPT-4)",
        "",
        HEADER,
    ]
    calib = ["| split | model | AUC (right vs wrong) [95% CI] | ECE [95% CI] |", "|---|---|---|---|"]
    ablation = ["| split | features | AUC (change) | APGR (change) |", "|---|---|---|---|"]
    shipped = _split("held-out", train, d_train, test, d_test, n_boot, out, calib, ablation)
    conf = np.asarray(_confidences(shipped, test, d_test))
    y = np.array([r.correct for r in test], dtype=np.float64)
    signs: dict[str, list[float]] = {k: [v] for k, v in shipped.heads["text"].weights.items()}
    for task in TASKS:
        tr = [r for r in rows if r.example.task != task and r.example.split == "train"]
        held = [r for r in rows if r.example.task == task]
        d_tr = cross_fitted_difficulty(tr, arena, linear_scorer_factory, by_task=True)
        score = linear_scorer_factory([r.example for r in tr] + arena)
        d_held = [score(r.example) for r in held]
        out += [
            "",
            f"### Cross-task: trained on the other two tasks, tested on {task} ({len(held)})",
            "",
            HEADER,
        ]
        v = _split(task, tr, d_tr, held, d_held, n_boot, out, calib, ablation)
        for k, w in v.heads["text"].weights.items():
            signs[k].append(w)
    weights = [
        "| input | shipped | without arc | without mbpp | without winogrande | prior |",
        "|---|---|---|---|---|---|",
    ]
    from gateway.offline.verifier_fit import PRIORS

    for k, ws in signs.items():
        weights.append(f"| {k} | " + " | ".join(f"{w:+.2f}" for w in ws) + f" | {PRIORS.get(k, 0.0):+.1f} |")
    text = "\n".join(
        [
            *out,
            "",
            "### Calibration of P(the draft is right)",
            "",
            *calib,
            "",
            f"Reliability on the held-out split ({len(test)} answers):",
            "",
            reliability_table(conf, y),
            "",
            "### Ablation: each feature group removed and the model refitted (point estimates)",
            "",
            *ablation,
            "",
            "### Fitted weights (logit of P(right) per unit; difficulty = the scorer's centred logit)",
            "",
            *weights,
            "",
            f"Shipped text model: lambda {shipped.meta['lambda']}, chosen by nested leave-one-task-out "
            f"(inner mean AUC by lambda: {json.dumps(shipped.meta['inner_auc'])}); difficulty centre "
            f"{shipped.difficulty_center}.",
        ]
    )
    return text + "\n", shipped


def replace_section(path: Path, tag: str, text: str) -> None:
    """Put `text` between `<!-- tag:begin -->` and `<!-- tag:end -->` in `path` (appended if absent)."""
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    doc = pattern.sub(lambda _m: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def write_text_model(path: Path, fitted: Verifier) -> None:
    """Replace the text model (and difficulty centre) in a weights file, keeping the live-calibrated ones."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    heads = dict(data.get("heads", {}))
    heads["text"] = fitted.to_json()["heads"]["text"]
    meta = dict(data.get("meta", {}))
    meta["text"] = {**fitted.meta, "data": "RouterBench train split, Mistral-7B answers"}
    data.update(
        format=fitted.to_json()["format"],
        name=data.get("name", "default"),
        difficulty_center=fitted.difficulty_center,
        heads=heads,
        meta=meta,
    )
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
