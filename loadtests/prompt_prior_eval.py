"""The drafting model's own prompt prior, judged with the verifier's evidence on question sets left out.

Drafts each question of the blind sets on the embedded model (greedy, with its token logprobs, the
calibration's own path and seeds; cached in loadtests/results/blind-drafts.jsonl), grades each
draft with blind_grade.py, and writes the graded questions (`--labels`, the rows `gateway
fit-prompt-prior --labels` reads). Then, each set left out in turn, the prompt prior is fitted on the
calibration families and the other sets, and the drafts are ranked by the verifier's evidence (the
shipped `logprobs` model, fitted on the calibration families only) plus weight · the prior's
centred logit, for each weight: the table that chose the shipped weight.

    .venv/bin/python loadtests/prompt_prior_eval.py [--sets blind blind2 blind3] [--labels FILE]

About 6 minutes for three sets from an empty cache on this 2-core machine; seconds once cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import numpy as np
from blind_grade import grade

from gateway.classify.draft import draft_of
from gateway.classify.verifier import default_verifier
from gateway.offline.prompt_prior_fit import Labelled, calibration_rows, fit
from gateway.offline.stats import auc, boot_ci
from gateway.offline.verifier_calibrate import DEFAULT_CACHE, cached, generate
from gateway.protocol import chat_view

HERE = Path(__file__).resolve().parent
DRAFTS = HERE / "results" / "blind-drafts.jsonl"
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)


def drafted(sets: list[str]) -> list[dict]:
    qs = []
    for s in sets:
        for line in (HERE / f"{s}_questions.jsonl").read_text().splitlines():
            item = json.loads(line)
            qs.append({**item, "prompt": item["question"], "set": s})
    DRAFTS.parent.mkdir(exist_ok=True)
    done = cached(DRAFTS)
    asyncio.run(generate(qs, done, DRAFTS, 1))
    return [{**q, "draft": done[q["prompt"]]["drafts"][0]} for q in qs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["blind", "blind2", "blind3"])
    ap.add_argument("--labels", type=Path, help="write the graded questions here")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="calibrate-verifier's drafts")
    args = ap.parse_args()
    rows = drafted(args.sets)
    verifier = default_verifier()
    labelled, evidence = [], []
    for r in rows:
        d = draft_of(r["draft"])
        labelled.append(
            Labelled(r["set"], f"{r['set']}:{r['family']}", r["question"], int(grade(r, d.content)))
        )
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": r["question"]}]}, 0)
        evidence.append(verifier.verdict(view, [d]).features["evidence"])
    if args.labels:
        args.labels.write_text(
            "".join(
                json.dumps(
                    {
                        "set": r.set,
                        "family": r.family.split(":", 1)[1],
                        "question": r.question,
                        "right": r.right,
                    }
                )
                + "\n"
                for r in labelled
            )
        )
    calibration = calibration_rows(args.cache)
    e = np.array(evidence)
    y = np.array([r.right for r in labelled], dtype=np.float64)
    sets = np.array([r.set for r in labelled])
    prompt = np.zeros(len(labelled))
    for s in args.sets:
        prior = fit(calibration + [r for r in labelled if r.set != s], 1.0)
        for i, r in enumerate(labelled):
            if r.set == s:
                prompt[i] = prior.logit(r.question) - prior.center
    print(
        "| drafts of | drafts (right) | evidence alone | prior alone | "
        + " | ".join(f"evidence + {w:g} · prior" for w in WEIGHTS[1:])
        + " |"
    )
    print("|---|---|---|---|" + "---|" * (len(WEIGHTS) - 1))
    for s in [*args.sets, "pooled mean"]:
        m = sets == s if s != "pooled mean" else None
        cells = []
        for z in [e, prompt, *(e + w * prompt for w in WEIGHTS[1:])]:
            if m is None:
                cells.append(f"{np.mean([auc(z[sets == t], y[sets == t]) for t in args.sets]):.3f}")
            else:
                cells.append(f"{auc(z[m], y[m]):.3f}")
        count = f"{int(m.sum())} ({int(y[m].sum())})" if m is not None else ""
        print(f"| {s} | {count} | " + " | ".join(cells) + " |")
    for s in args.sets:
        m = sets == s
        diff = boot_ci(
            lambda i, m=m: auc((e + 0.5 * prompt)[m][i], y[m][i]) - auc(e[m][i], y[m][i]), 500, int(m.sum())
        )
        print(f"{s}: evidence + 0.5 · prior - evidence alone, paired 95% CI {diff}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
