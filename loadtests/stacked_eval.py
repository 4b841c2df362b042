"""The weights of the inputs stacked on the verifier's fitted logprob models, chosen with each question
set left out: `lp_head` (the least sure token of the draft's first statement) and `missing_answer` (the
question asks for a letter, a number, yes or no, JSON or code, and the draft gives none).

`gateway calibrate-verifier` fits those models on the calibration families, where neither earns
weight: there most drafts are a number or a letter alone, so the first statement is the whole draft,
and a draft without the answer asked for was also unsure, token by token (its `missing_answer` comes
out with the wrong sign and is dropped). On questions written by others the least sure token of the
first statement, and a draft that never gives the answer asked for (none of 76 such drafts in the
blind sets was right), tell what the mean logprob does not.

Drafts each question of the blind sets on the embedded model as prompt_prior_eval.py does (greedy,
with token logprobs, the calibration's path and seeds; cached in loadtests/results/blind-drafts.jsonl)
and grades them with blind_grade.py; the calibration families' greedy drafts (`gateway
calibrate-verifier`'s cache) are one more set. A draft is ranked by the shipped verifier's log-odds
without the stacked inputs, plus each one's weight · (its value - its centre): the mean for `lp_head`,
0 for `missing_answer`. For each set left out, the pair of weights is the one whose mean AUC over the
other sets (each set weighing the same) is highest, the lightest within 0.001 of it; the table gives
the left-out set's AUC with it. The shipped pair is chosen the same way on every set; `--weights FILE`
writes it, and the centre, into the file's `logprobs` and `logprobs+samples` models (a draft at the
centre, with its answer, or whose question asks for code or JSON, which reads no lp_head, is judged as
the fitted model judges it).

    .venv/bin/python loadtests/stacked_eval.py [--weights gateway/classify/weights/verifier.json]

About 20 minutes for the six sets from an empty cache on this 2-core machine; seconds once cached.
Run it after `gateway calibrate-verifier` and `gateway fit-prompt-prior`, which it stacks on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from blind_grade import grade
from prompt_prior_eval import drafted

from gateway.classify.draft import draft_of
from gateway.classify.verifier import Verifier, default_verifier, load_verifier
from gateway.offline.live_labels import grade as grade_live
from gateway.offline.stats import auc
from gateway.offline.verifier_calibrate import DEFAULT_CACHE, cached, questions
from gateway.protocol import chat_view

SETS = ["blind", "blind2", "blind3", "blind4", "blind5", "blind6"]
# Log-odds per unit of each stacked input: per nat of lp_head, for a draft without its answer.
GRIDS = {
    "lp_head": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5),
    "missing_answer": (0.0, -0.5, -1.0, -2.0, -3.0, -4.0),
}
STACKED = tuple(GRIDS)
HEADS = ("logprobs", "logprobs+samples")
TIE = 0.001


@dataclass(frozen=True)
class Row:
    right: int
    base: float  # the verifier's log-odds without the stacked inputs
    values: tuple[float | None, ...]  # each stacked input as it reads it (None: not read)


Sets = dict[str, list[Row]]
Weights = tuple[float, ...]


def without_stacked(v: Verifier) -> Verifier:
    heads = {
        k: replace(h, weights={n: w for n, w in h.weights.items() if n not in STACKED}) if k in HEADS else h
        for k, h in v.heads.items()
    }
    return replace(v, heads=heads)


def rows(verifier: Verifier, sets: list[str], cache: Path) -> Sets:
    """Per set, each greedy draft the logprob models judge: right, its log-odds without the stacked
    inputs, and their values (lp_head None where code or JSON was asked for)."""
    out: Sets = {}

    def add(name: str, prompt: str, choice: dict, right: bool) -> None:
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": prompt}]}, 0)
        v = verifier.verdict(view, [draft_of(choice)])
        if v.head in HEADS:
            values = tuple(v.features.get(k) for k in STACKED)
            out.setdefault(name, []).append(Row(int(right), v.features["logit"], values))

    done = cached(cache)
    for q in questions(90):
        row = done.get(q["prompt"])
        if row and row["drafts"]:
            add(
                "calibration",
                q["prompt"],
                row["drafts"][0],
                grade_live(q, draft_of(row["drafts"][0]).content),
            )
    for r in drafted(sets):
        add(r["set"], r["question"], r["draft"], grade(r, draft_of(r["draft"]).content))
    return out


def centres(data: Sets, names: list[str]) -> Weights:
    """lp_head's mean over these sets' drafts that read it; missing_answer's 0 (a draft with its
    answer reads as before)."""
    heads = [r.values[0] for n in names for r in data[n] if r.values[0] is not None]
    return (float(np.mean(heads)), 0.0)


def _mean_auc(data: Sets, names: list[str], w: Weights, c: Weights) -> float:
    def score(r: Row) -> float:
        return r.base + sum(wi * (x - ci) for wi, x, ci in zip(w, r.values, c, strict=True) if x is not None)

    return float(
        np.mean(
            [auc(np.array([score(r) for r in data[n]]), np.array([r.right for r in data[n]])) for n in names]
        )
    )


def choose(data: Sets, names: list[str]) -> tuple[Weights, Weights]:
    """(weights, centres) chosen on these sets: the best mean AUC, the lightest within TIE of it."""
    c = centres(data, names)
    scored = [(_mean_auc(data, names, w, c), w) for w in itertools.product(*GRIDS.values())]
    best = max(s for s, _ in scored)
    return min((w for s, w in scored if s >= best - TIE), key=lambda w: (sum(map(abs, w)), w)), c


def write_weights(path: Path, w: Weights, c: Weights, names: list[str]) -> None:
    """The weights and lp_head's centre into the file's logprob models; their fitted bias is left alone."""
    spec = json.loads(path.read_text())
    chosen = dict(zip(STACKED, w, strict=True))
    for k in HEADS:
        head = spec["heads"][k]
        head["weights"].update(chosen)
        head.setdefault("centre", {})["lp_head"] = round(c[0], 5)  # a draft at the mean reads as before
    spec.setdefault("meta", {})["stacked"] = {**chosen, "chosen_on": names}
    path.write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="calibrate-verifier's drafts")
    ap.add_argument("--weights", type=Path, help="write the chosen weights into this verifier file")
    args = ap.parse_args()
    given = load_verifier(args.weights) if args.weights else default_verifier()
    head = given.heads["logprobs"]
    now = tuple(head.weights.get(k, 0.0) for k in STACKED)
    now_c = (head.centre.get("lp_head", 0.0), 0.0)
    data = rows(without_stacked(given), args.sets, args.cache)
    names = sorted(data)
    zero = (0.0,) * len(STACKED)
    print(f"Weights as the file reads them: {now[0]} per nat of lp_head, {now[1]} for missing_answer.\n")
    print("| left out | drafts | right | chosen (lp_head, missing) | AUC without | as the file | chosen |")
    print("|---|---|---|---|---|---|---|")
    for held in names:
        w, c = choose(data, [n for n in names if n != held])
        before, file, after = (
            _mean_auc(data, [held], zero, c),
            _mean_auc(data, [held], now, now_c),
            _mean_auc(data, [held], w, c),
        )
        n, right = len(data[held]), sum(r.right for r in data[held])
        print(
            f"| {held} | {n} | {right} | {w[0]}, {w[1]} | {before:.3f} | {file:.3f} | "
            f"{after:.3f} ({after - file:+.3f}) |"
        )
    w, c = choose(data, names)
    print(f"\nchosen on every set: lp_head {w[0]} per nat (centre {c[0]:.3f}), missing_answer {w[1]}")
    if args.weights:
        write_weights(args.weights, w, c, names)
        print(f"wrote {args.weights}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
