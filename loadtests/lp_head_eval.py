"""The weight of `lp_head` (the least sure token of the draft's first statement) in the verifier's
logprob models, chosen with each question set left out.

Drafts each question of the blind sets on the embedded model as prompt_prior_eval.py does (greedy,
with token logprobs, the calibration's path and seeds; cached in loadtests/results/blind-drafts.jsonl)
and grades them with blind_grade.py; the calibration families' greedy drafts (`gateway
calibrate-verifier`'s cache) are one more set. A draft is ranked by the shipped verifier's log-odds
without `lp_head`, plus weight · (lp_head - its mean). For each set left out, the weight is the one
whose mean AUC over the other sets (each set weighing the same) is highest, the smaller on a tie
within 0.001; the table gives the left-out set's AUC with it. The shipped weight is chosen the same
way on every set; `--weights FILE` writes it, and the mean it is centred on, into the file's
`logprobs` and `logprobs+samples` models (a draft at the mean, or one whose question asks for code or
JSON, which reads no lp_head, is judged as before).

    .venv/bin/python loadtests/lp_head_eval.py [--weights gateway/classify/weights/verifier.json]

About 20 minutes for the six sets from an empty cache on this 2-core machine; seconds once cached.
Run it after `gateway calibrate-verifier` and `gateway fit-prompt-prior`, which it stacks on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
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
WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5)  # log-odds per nat of lp_head
HEADS = ("logprobs", "logprobs+samples")
TIE = 0.001


def without_head(v: Verifier) -> Verifier:
    heads = {
        k: replace(h, weights={n: w for n, w in h.weights.items() if n != "lp_head"}) if k in HEADS else h
        for k, h in v.heads.items()
    }
    return replace(v, heads=heads)


def rows(
    verifier: Verifier, sets: list[str], cache: Path
) -> dict[str, list[tuple[int, float, float | None]]]:
    """Per set: (right, the verifier's log-odds without lp_head, lp_head as it reads it: None where
    it reads none, code or JSON asked for) of each greedy draft."""
    out: dict[str, list[tuple[int, float, float | None]]] = {}

    def add(name: str, prompt: str, choice: dict, right: bool) -> None:
        d = draft_of(choice)
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": prompt}]}, 0)
        v = verifier.verdict(view, [d])
        if v.head not in HEADS:
            return
        out.setdefault(name, []).append((int(right), v.features["logit"], v.features.get("lp_head")))

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


def _mean_auc(
    data: dict[str, list[tuple[int, float, float | None]]], names: list[str], w: float, m: float
) -> float:
    def score(z: float, h: float | None) -> float:
        return z if h is None else z + w * (h - m)

    return float(
        np.mean(
            [
                auc(np.array([score(z, h) for _, z, h in data[n]]), np.array([y for y, _, _ in data[n]]))
                for n in names
            ]
        )
    )


def choose(data: dict[str, list[tuple[int, float, float | None]]], names: list[str]) -> tuple[float, float]:
    """(weight, the mean lp_head) chosen on these sets."""
    m = float(np.mean([h for n in names for _, _, h in data[n] if h is not None]))
    scored = [(_mean_auc(data, names, w, m), w) for w in WEIGHTS]
    best = max(s for s, _ in scored)
    return min(w for s, w in scored if s >= best - TIE), m


def write_weight(path: Path, w: float, m: float, names: list[str]) -> None:
    """The weight and its centre into the file's logprob models; their fitted bias is left alone."""
    spec = json.loads(path.read_text())
    for k in HEADS:
        head = spec["heads"][k]
        head["weights"]["lp_head"] = w
        head.setdefault("centre", {})["lp_head"] = round(m, 5)  # a draft at the mean reads as before
    spec.setdefault("meta", {})["lp_head"] = {"weight": w, "chosen_on": names}
    path.write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=SETS)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="calibrate-verifier's drafts")
    ap.add_argument("--weights", type=Path, help="write the chosen weight into this verifier file")
    args = ap.parse_args()
    base = without_head(load_verifier(args.weights) if args.weights else default_verifier())
    data = rows(base, args.sets, args.cache)
    names = sorted(data)
    print("| left out | drafts | right | weight (per nat) | AUC without lp_head | with it | change |")
    print("|---|---|---|---|---|---|---|")
    for held in names:
        w, m = choose(data, [n for n in names if n != held])
        before, after = _mean_auc(data, [held], 0.0, m), _mean_auc(data, [held], w, m)
        n, right = len(data[held]), sum(y for y, _, _ in data[held])
        print(f"| {held} | {n} | {right} | {w} | {before:.3f} | {after:.3f} | {after - before:+.3f} |")
    w, m = choose(data, names)
    print(f"\nchosen on every set: {w} per nat of lp_head (mean {m:.3f})")
    if args.weights:
        write_weight(args.weights, w, m, names)
        print(f"wrote {args.weights}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
