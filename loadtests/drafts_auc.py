"""The shipped verifier on the stored greedy drafts of the blind question sets: AUC per set, with the
draft's token logprobs and from its text alone, and the drafts a given feature fires on.

Reads loadtests/results/blind-drafts.jsonl (written by prompt_prior_eval.py / stacked_eval.py; no
model runs here) and grades each draft with blind_grade.py. A fresh gateway judges a family without
labels the same way (the verifier's own prior, no difficulty given), so a change to the answer
checks is measured in seconds: run it on each tree and compare.

    .venv/bin/python loadtests/drafts_auc.py [--fires answer_wrong]
    cd <tree before> && PYTHONPATH=. <this venv>/bin/python loadtests/drafts_auc.py
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from blind_grade import grade

from gateway.classify.draft import Draft, draft_of
from gateway.classify.verifier import default_verifier
from gateway.offline.stats import auc
from gateway.protocol import chat_view

DRAFTS = Path(__file__).resolve().parent / "results" / "blind-drafts.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drafts", type=Path, default=DRAFTS)
    ap.add_argument("--fires", help="also count the drafts with this feature set, and how many are right")
    args = ap.parse_args()
    verifier = default_verifier()
    sets: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    fired: dict[str, list[int]] = defaultdict(list)
    for line in args.drafts.read_text().splitlines():
        r = json.loads(line)
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": r["prompt"]}]}, 0)
        d = draft_of(r["drafts"][0])
        right = int(grade(r, d.content))
        with_lp = verifier.verdict(view, [d])
        text = verifier.verdict(view, [Draft(d.content, d.finish_reason)])
        sets[r["set"]].append((right, with_lp.confidence, text.confidence))
        if args.fires and with_lp.features.get(args.fires):
            fired[r["set"]].append(right)
    for name, rows in sorted(sets.items()):
        y, lp, tx = (np.array(c) for c in zip(*rows, strict=True))
        out = {"set": name, "drafts": len(y), "right": int(y.sum())}
        out |= {"auc_logprobs": round(auc(lp, y), 4), "auc_text": round(auc(tx, y), 4)}
        if args.fires:
            out |= {"fires": len(fired[name]), "fires_right": sum(fired[name])}
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
