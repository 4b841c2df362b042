"""The verifier on the shared RouterBench answers: tables for docs/verifier-eval.md, and the text weights.

The verifier's 1 - confidence ranks the prompts to escalate, against its prior alone (1 - the
pre-generation score), its evidence alone, prompt length and draft length, on the held-out split
(routerdc_split = test) and on each leave-one-task-out split (trained on two tasks' training rows,
tested on every row of the third). Arena has no answer text, so it has no verifier rows (its prompts
still train the difficulty scorer).

    gateway fit-verifier --data-dir ../shared/data \\
        --doc docs/verifier-eval.md --weights gateway/classify/weights/verifier.json

The answers are Mistral-7B's, so the prior is a Mistral-7B-label scorer's: cross-fitted with the v2
trainer, and the held-out rows scored by the v2 weights (`v2_scorer()`, shipped before issue 21).
Rerun it after that recipe changes; then rerun the live calibration (`gateway calibrate-verifier`),
whose models read this text model's evidence and whose prior is the v2 scorer's too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.verifier import Verifier
    from gateway.offline.verifier_fit import Answered

__all__ = ["CHECKS", "GROUPS", "replace_section", "report"]

# The answer checks of issue 21 (recomputed arithmetic; the parsers are switched off apart).
CHECKS = ("calc_wrong", "calc_right", "final_mismatch", "echo_number", "answer_wrong", "answer_right")
# Feature groups for the ablation (each refitted without the group).
GROUPS: dict[str, tuple[str, ...]] = {
    "draft length": ("log_chars",),
    "repetition": ("repetition",),
    "answer form (missing answer, broken code)": ("missing_answer", "code_broken"),
    "refusal, hedging, finish_reason length (priors)": ("refusal", "hedging", "finish_length"),
}
HEADER = "| score | APGR [95% CI] | CPT(50%) | CPT(80%) | calls@95% |\n|---|---|---|---|---|"


class Split:
    """One evaluation: the test rows, their priors and the quality arrays the metrics read."""

    def __init__(self, name: str, test: Sequence[Answered], prior: Sequence[float], n_boot: int) -> None:
        import numpy as np

        self.name, self.test, self.n_boot = name, test, n_boot
        self.prior = np.asarray(prior, dtype=np.float64)
        self.y = np.array([r.correct for r in test], dtype=np.float64)
        self.qs = np.array([r.example.q_small for r in test])
        self.ql = np.array([r.example.q_large for r in test])

    def row(self, label: str, scores: Sequence[float] | np.ndarray) -> str:
        """One markdown row: the routing metrics of `scores` (escalate first) and their intervals."""
        import numpy as np

        from gateway.offline.stats import bootstrap, interval, metrics

        s = np.asarray(scores, dtype=np.float64)
        m, boot = metrics(s, self.qs, self.ql), bootstrap(s, self.qs, self.ql, self.n_boot, seed=7)
        cells = []
        for key in ("apgr", "cpt50", "cpt80", "calls95"):
            lo, hi = interval([getattr(b, key) for b in boot])
            digits = 3 if key == "apgr" else 2
            cells.append(f"{getattr(m, key):.{digits}f} [{lo:.2f}, {hi:.2f}]")
        return f"| {label} | " + " | ".join(cells) + " |"

    def quality(self, conf: np.ndarray) -> tuple[float, str, float, str, float]:
        """AUC (confidence vs right), its CI, ECE, its CI, APGR."""
        from gateway.offline.stats import auc, boot_ci, ece, metrics

        y, n = self.y, self.n_boot
        return (
            auc(conf, y),
            boot_ci(lambda i: auc(conf[i], y[i]), n, len(y)),
            ece(conf, y),
            boot_ci(lambda i: ece(conf[i], y[i]), n, len(y)),
            metrics(1 - conf, self.qs, self.ql).apgr,
        )

    def against_prior(self, conf: np.ndarray) -> str:
        """The verifier minus its prior alone, AUC and APGR, with paired-bootstrap intervals (the
        same resampled rows for both)."""
        import numpy as np

        from gateway.offline.stats import auc, metrics

        def both(i: np.ndarray) -> tuple[float, float]:
            y, qs, ql = self.y[i], self.qs[i], self.ql[i]
            return (
                auc(conf[i], y) - auc(self.prior[i], y),
                metrics(1 - conf[i], qs, ql).apgr - metrics(1 - self.prior[i], qs, ql).apgr,
            )

        rng = np.random.default_rng(3)
        n = len(self.y)
        boot = np.array([both(rng.integers(0, n, n)) for _ in range(self.n_boot)])
        (a, p), (lo, hi) = both(np.arange(n)), np.nanpercentile(boot, [2.5, 97.5], axis=0)
        return (
            f"| {self.name} | {a:+.3f} [{lo[0]:+.3f}, {hi[0]:+.3f}] | {p:+.3f} [{lo[1]:+.3f}, {hi[1]:+.3f}] |"
        )


def _conf(v: Verifier, xs: Sequence[dict[str, float]], prior: np.ndarray | None) -> np.ndarray:
    """The text model's confidences on feature rows (None: no prior, the file's default for all)."""
    import numpy as np

    assert v.prior is not None
    head = v.heads["text"]
    z = np.array([v.prior.logit(None if prior is None else float(prior[i])) for i in range(len(xs))])
    z += np.array([head.logit(x) for x in xs])
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _prompt_tokens(r: Answered) -> float:
    from gateway.classify.features import profile

    return float(profile(r.example.view).prompt_tokens)


def _split(
    split: Split,
    train: Sequence[Answered],
    p_train: Sequence[float],
    out: list[str],
    calib: list[str],
    ablation: list[str],
    guard: list[str],
) -> Verifier:
    from gateway.offline.verifier_fit import feature_rows, fit_text

    xs, xs_old = feature_rows(split.test), feature_rows(split.test, parse=False)
    full = fit_text(train, p_train)
    conf = _conf(full, xs, split.prior)
    old = fit_text(train, p_train, drop=CHECKS, parse=False)
    conf_old = _conf(old, xs_old, split.prior)
    evidence = fit_text(train, None)
    conf_ev = _conf(evidence, xs, None)
    test = split.test
    out += [
        split.row("verifier (prior + evidence, 1 - confidence)", 1 - conf),
        split.row("verifier without the answer checks (arithmetic, parsers)", 1 - conf_old),
        split.row("evidence alone (no prior)", 1 - conf_ev),
        split.row("prior alone (pre-generation score)", 1 - split.prior),
        split.row("prompt length", [_prompt_tokens(r) for r in test]),
        split.row("draft length", [float(len(r.answer)) for r in test]),
    ]
    for label, c in (
        ("verifier", conf),
        ("without the answer checks", conf_old),
        ("evidence alone", conf_ev),
        ("prior alone", split.prior),
    ):
        a, a_ci, e, e_ci, _ = split.quality(c)
        calib.append(f"| {split.name} | {label} | {a:.3f} {a_ci} | {e:.3f} {e_ci} |")
    guard.append(split.against_prior(conf))
    a0, _, _, _, p0 = split.quality(conf)
    ablation.append(f"| {split.name} | all features | {a0:.3f} | {p0:.3f} |")
    for group, names in GROUPS.items():
        v = fit_text(train, p_train, drop=names)
        a, _, _, _, p = split.quality(_conf(v, xs, split.prior))
        ablation.append(
            f"| {split.name} | without {group} | {a:.3f} ({a - a0:+.3f}) | {p:.3f} ({p - p0:+.3f}) |"
        )
    return full


def report(data_dir: Path, n_boot: int = 500) -> tuple[str, Verifier]:
    """The markdown tables, and the text model fitted on every training row (the one to ship)."""

    from gateway.classify.scorer import v2_scorer
    from gateway.offline.stats import reliability_table
    from gateway.offline.verifier_fit import (
        PRIORS,
        TASKS,
        arena_train,
        cross_fitted_difficulty,
        feature_rows,
        linear_scorer_factory,
        load_answered,
    )

    rows = load_answered(next(data_dir.glob("routerbench*.csv.gz")))
    arena = arena_train(data_dir)
    train = [r for r in rows if r.example.split == "train"]
    test = [r for r in rows if r.example.split == "test"]
    scorer = v2_scorer()
    p_train = [1 - d for d in cross_fitted_difficulty(train, arena, linear_scorer_factory, by_task=False)]
    held = Split("held-out", test, [1 - scorer.score(r.example.view) for r in test], n_boot)
    out = [
        f"### RouterBench held-out split (routerdc_split = test, {len(test)} answers; small = Mistral-7B, "
        "large = GPT-4)",
        "",
        HEADER,
    ]
    calib = ["| split | model | AUC (right vs wrong) [95% CI] | ECE [95% CI] |", "|---|---|---|---|"]
    ablation = ["| split | features | AUC (change) | APGR (change) |", "|---|---|---|---|"]
    guard = ["| split | AUC, verifier - prior [95% CI] | APGR, verifier - prior [95% CI] |", "|---|---|---|"]
    shipped = _split(held, train, p_train, out, calib, ablation, guard)
    conf = _conf(shipped, feature_rows(test), held.prior)
    weights: dict[str, list[float]] = {k: [v] for k, v in shipped.heads["text"].weights.items()}
    for task in TASKS:
        tr = [r for r in rows if r.example.task != task and r.example.split == "train"]
        left = [r for r in rows if r.example.task == task]
        p_tr = [1 - d for d in cross_fitted_difficulty(tr, arena, linear_scorer_factory, by_task=True)]
        score = linear_scorer_factory([r.example for r in tr] + arena)
        split = Split(task, left, [1 - score(r.example) for r in left], n_boot)
        out += [
            "",
            f"### Cross-task: trained on the other two tasks, tested on {task} ({len(left)})",
            "",
            HEADER,
        ]
        v = _split(split, tr, p_tr, out, calib, ablation, guard)
        for k, w in v.heads["text"].weights.items():
            weights[k].append(w)
    table = [
        "| input | shipped | without arc | without mbpp | without winogrande | prior |",
        "|---|---|---|---|---|---|",
    ]
    for k, ws in weights.items():
        table.append(f"| {k} | " + " | ".join(f"{w:+.2f}" for w in ws) + f" | {PRIORS.get(k, 0.0):+.1f} |")
    text = "\n".join(
        [
            *out,
            "",
            "### The verifier against its prior alone (paired bootstrap; a difference whose interval holds 0 "
            "is a tie)",
            "",
            *guard,
            "",
            "### Calibration of P(the draft is right)",
            "",
            *calib,
            "",
            f"Reliability on the held-out split ({len(test)} answers):",
            "",
            reliability_table(conf, held.y),
            "",
            "### Ablation: each feature group removed and the model refitted (point estimates)",
            "",
            *ablation,
            "",
            "### Fitted evidence weights (log-odds of right per unit, the prior's log-odds a fixed offset)",
            "",
            *table,
            "",
            f"Shipped text model: lambda {shipped.meta['lambda']}, chosen by nested leave-one-task-out "
            f"(inner mean AUC of prior + evidence by lambda: {json.dumps(shipped.meta['inner_auc'])}); "
            f"bias {shipped.heads['text'].bias:+.3f}; "
            f"prior default {shipped.prior.default if shipped.prior else ''}.",
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
    """Replace the text model in a weights file, keeping the live-calibrated ones and their prior."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    fresh = fitted.to_json()
    heads = dict(data.get("heads", {}))
    heads["text"] = fresh["heads"]["text"]
    meta = dict(data.get("meta", {}))
    meta["text"] = {**fitted.meta, "data": "RouterBench train split, Mistral-7B answers"}
    data.pop("difficulty_center", None)
    if data.get("format") != fresh["format"]:
        # A first-format file's live models read the difficulty: they cannot stack on this text model.
        heads = {"text": heads["text"]}
        data["prior"] = fresh["prior"]
    data.update(format=fresh["format"], name=data.get("name", "default"), heads=heads, meta=meta)
    data.setdefault("prior", fresh["prior"])
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
