"""Fit and report the verifier's live models from the embedded model's drafts (offline; numpy).

Input: rows made by `gateway calibrate-verifier`, one per question: its prompt, the right answer
(`gold`), and chat choices (with logprobs) — the greedy draft first, then the sampled ones. Each draft
is right when its final answer (checks.final_answer) is the gold one.

The questions are split 60/40 by a seeded shuffle; the models are fitted on the 60 (strength by 5-fold
cross-validation inside it) and every number reported is on the 40.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify import checks
from gateway.classify.draft import Draft, draft_of
from gateway.classify.scorer import default_scorer
from gateway.classify.verifier import Head, Verifier, load_verifier
from gateway.protocol import chat_view

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ESCALATED", "Live", "live_rows", "report"]

ESCALATED = (0.0, 0.1, 0.2, 0.3, 0.5)  # shares of drafts sent on to a larger tier
SPLIT_SEED = 7
SAMPLES = 3
THRESHOLD = 0.5


class Live:
    """One configuration's drafts as the verifier reads them: inputs and labels, train and test."""

    def __init__(self, xs: list[dict[str, float]], y: list[int], test: list[bool]) -> None:
        self.xs, self.y, self.test = xs, y, test
        self.heldout: list[dict[str, Any]] = []  # the held-out drafts, compact, for a regression test

    def part(self, test: bool) -> tuple[list[dict[str, float]], np.ndarray]:
        import numpy as np

        idx = [i for i, t in enumerate(self.test) if t == test]
        return [self.xs[i] for i in idx], np.array([self.y[i] for i in idx], dtype=np.float64)


def _compact(d: Draft) -> dict[str, Any]:
    return {
        "content": d.content,
        "finish_reason": d.finish_reason,
        "logprobs": [round(v, 4) for v in d.logprobs or ()],
    }


def live_rows(rows: Sequence[dict[str, Any]], verifier: Verifier) -> tuple[Live, Live, dict[str, float]]:
    """(1 sample: the greedy draft; 3 samples: the greedy draft judged with two sampled ones), and the
    accuracy of each kind of draft (greedy, one sample, the majority of the sampled ones)."""
    scorer = default_scorer()
    ids = sorted(r["id"] for r in rows)
    random.Random(SPLIT_SEED).shuffle(ids)  # noqa: S311 - a reproducible split, not a secret
    held = set(ids[: int(0.4 * len(ids))])
    one_x, one_y, many_x, many_y, test = [], [], [], [], []
    right = {"greedy": 0, "sampled": 0, "majority": 0}
    heldout: list[dict[str, Any]] = []
    for r in rows:
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": r["prompt"]}]}, 0)
        difficulty = scorer.score(view)
        expect = checks.expectation(view)
        drafts = [draft_of(c) for c in r["drafts"]]

        def ok(d: Draft, expect: checks.Expectation = expect, gold: str = r["gold"]) -> int:
            return int(checks.final_answer(d.content, expect) == gold)

        greedy, sampled = drafts[0], drafts[1:]
        # k samples: the greedy answer, backed (or not) by k - 1 samples at temperature 0.7. Answering
        # with the samples' majority instead loses accuracy on a model this small (see `acc`).
        three = [greedy, *sampled[: SAMPLES - 1]]
        _, x1 = verifier.features(view, [greedy], difficulty)
        _, xk = verifier.features(view, three, difficulty)
        majority = sampled[verifier.best(view, sampled)]
        one_x.append(x1)
        one_y.append(ok(greedy))
        many_x.append(xk)
        many_y.append(ok(greedy))
        test.append(r["id"] in held)
        if r["id"] in held:
            heldout.append(
                {
                    "prompt": r["prompt"],
                    "difficulty": difficulty,
                    "one": [_compact(greedy)],
                    "one_right": ok(greedy),
                    "three": [_compact(d) for d in three],
                    "three_right": ok(greedy),
                }
            )
        right["greedy"] += ok(greedy)
        right["sampled"] += sum(ok(d) for d in sampled)
        right["majority"] += ok(majority)
    n = len(rows)
    acc = {
        "greedy": right["greedy"] / n,
        "sampled": right["sampled"] / (n * max(1, len(rows[0]["drafts"]) - 1)),
        "majority": right["majority"] / n,
    }
    one = Live(one_x, one_y, test)
    one.heldout = heldout
    return one, Live(many_x, many_y, test), acc


def _conf(head: Head | None, xs: Sequence[dict[str, float]]) -> np.ndarray:
    import numpy as np

    z = np.array([x["text"] if head is None else head.logit(x) for x in xs])
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _accepted(conf: np.ndarray, y: np.ndarray, share: float) -> float:
    import numpy as np

    keep = np.argsort(-conf, kind="stable")[: len(y) - round(share * len(y))]
    return float(y[keep].mean()) if len(keep) else float("nan")


def _row(name: str, conf: np.ndarray, y: np.ndarray, n_boot: int) -> str:
    from gateway.offline.stats import auc, boot_ci, ece

    cells = [f"{_accepted(conf, y, s):.3f}" for s in ESCALATED]
    a = f"{auc(conf, y):.3f} {boot_ci(lambda i: auc(conf[i], y[i]), n_boot, len(y))}"
    e = f"{ece(conf, y):.3f} {boot_ci(lambda i: ece(conf[i], y[i]), n_boot, len(y))}"
    # A threshold an operator would set: escalate below confidence 0.5 (calibrated: "likely wrong").
    keep = conf >= THRESHOLD
    at = f"{1 - keep.mean():.2f} / {y[keep].mean():.3f}" if keep.any() else f"{1 - keep.mean():.2f} / -"
    return f"| {name} | {a} | {e} | " + " | ".join(cells) + f" | {at} |"


def report(
    rows: Sequence[dict[str, Any]], weights: Path, n_boot: int = 500
) -> tuple[str, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Markdown tables, the fitted live models (JSON), what they were fitted on, and the held-out
    drafts (compact, for the shipped weights' regression test)."""
    from gateway.offline.stats import reliability_table
    from gateway.offline.verifier_fit import LIVE_INPUTS, fit_head

    verifier = load_verifier(weights)
    text_only = Verifier(verifier.name, {"text": verifier.heads["text"]}, verifier.difficulty_center)
    one, many, acc = live_rows(rows, text_only)
    heads: dict[str, Head] = {}
    lams: dict[str, float] = {}
    for name, data in (("logprobs", one), ("samples", many), ("logprobs+samples", many)):
        heads[name], lams[name] = fit_head(*data.part(test=False), LIVE_INPUTS[name])
    n_test = sum(one.test)
    header = (
        "| drafts, model | AUC [95% CI] | ECE [95% CI] | "
        + " | ".join(f"accepted right, {int(s * 100)}% escalated" for s in ESCALATED)
        + f" | escalated / accepted right at confidence < {THRESHOLD} |\n|---|---|---|"
        + "---|" * (len(ESCALATED) + 1)
    )
    x1, y1 = one.part(test=True)
    xk, yk = many.part(test=True)
    lines = [
        f"Embedded SmolLM2-135M-Instruct (Q4_1, one thread) on {len(rows)} scripted questions "
        f"({sum(r['kind'] == 'arithmetic' for r in rows)} arithmetic, "
        f"{sum(r['kind'] != 'arithmetic' for r in rows)} multiple choice); held out: {n_test} questions. "
        f"Right answers over all questions: greedy {acc['greedy']:.3f}, a sample at temperature 0.7 "
        f"{acc['sampled']:.3f}, the majority answer of three such samples {acc['majority']:.3f}: so with 3 "
        "samples the answer stays the greedy one and the two others only vote on it.",
        "",
        header,
        _row("1 sample (greedy), `text` (RouterBench-fitted)", _conf(None, x1), y1, n_boot),
        _row("1 sample (greedy), `logprobs`", _conf(heads["logprobs"], x1), y1, n_boot),
        _row("3 samples (greedy + 2 at T 0.7), `text`", _conf(None, xk), yk, n_boot),
        _row("3 samples, `samples` (agreement, no logprobs)", _conf(heads["samples"], xk), yk, n_boot),
        _row("3 samples, `logprobs+samples`", _conf(heads["logprobs+samples"], xk), yk, n_boot),
        "",
        "What each live input adds (the model refitted with only `text` and that input; held-out rows):",
        "",
        "| drafts | inputs | AUC | ECE |",
        "|---|---|---|---|",
    ]
    from gateway.offline.stats import auc, ece

    xtr1, ytr1 = one.part(test=False)
    xtrk, ytrk = many.part(test=False)
    for label, xtr, ytr, xte, yte, inputs in (
        ("1 sample", xtr1, ytr1, x1, y1, ("text",)),
        ("1 sample", xtr1, ytr1, x1, y1, ("text", "lp_mean")),
        ("1 sample", xtr1, ytr1, x1, y1, ("text", "lp_q10")),
        ("1 sample", xtr1, ytr1, x1, y1, ("text", "lp_min")),
        ("1 sample", xtr1, ytr1, x1, y1, ("text", "lp_mean", "lp_q10", "lp_min")),
        ("1 sample", xtr1, ytr1, x1, y1, ("lp_mean",)),
        ("3 samples", xtrk, ytrk, xk, yk, ("text",)),
        ("3 samples", xtrk, ytrk, xk, yk, ("text", "agree")),
        ("3 samples", xtrk, ytrk, xk, yk, ("text", "lp_mean")),
        ("3 samples", xtrk, ytrk, xk, yk, ("text", "lp_mean", "agree")),
    ):
        head, _ = fit_head(xtr, ytr, inputs)
        c = _conf(head, xte)
        lines.append(f"| {label} | {', '.join(inputs)} | {auc(c, yte):.3f} | {ece(c, yte):.3f} |")
    lines += [
        "",
        f"Reliability of `logprobs` on the held-out greedy drafts ({len(y1)}):",
        "",
        reliability_table(_conf(heads["logprobs"], x1), y1),
        "",
        "Fitted live models (logit of P(right); `text` is the text model's logit):",
        "",
        "| model | bias | weights | strength (5-fold CV) |",
        "|---|---|---|---|",
    ]
    for name, h in heads.items():
        ws = ", ".join(f"{k} {v:+.2f}" for k, v in h.weights.items())
        lines.append(f"| {name} | {h.bias:+.2f} | {ws} | {lams[name]} |")
    meta = {
        "data": "scripted arithmetic and multiple choice, SmolLM2-135M-Instruct Q4_1 drafts",
        "questions": len(rows),
        "train_questions": len(rows) - n_test,
        "accuracy": {k: round(v, 4) for k, v in acc.items()},
        "lambda": lams,
    }
    return (
        "\n".join(lines) + "\n",
        {k: {"bias": h.bias, "weights": h.weights} for k, h in heads.items()},
        meta,
        one.heldout,
    )
