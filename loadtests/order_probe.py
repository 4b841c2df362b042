"""How the shipped pre-generation score orders prompts of kinds it never saw, against prompt length.

No labels: the prompts (loadtests/probe_*.jsonl, written by a helper from general knowledge, not
taken from any benchmark) carry only their writer's own notes: a word problem's arithmetic steps, a
multiple-choice question's "hard" flag. What it shows is how far the score's order departs from
prompt length's, the floor issue 21 holds it to, and on which kind of text: each set as plain
prompts, and in a RouterBench-style few-shot template (two solved examples and an answer
instruction), the form of the labelled data the family model was fitted and judged on.

    .venv/bin/python loadtests/order_probe.py

Per set and form: the top-level families its prompts land in, Kendall's tau of the score with the
prompt's length, and against the writer's notes (tau with the steps; AUC of the hard flags) the
score beside length.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gateway.classify.families import FamilyHit
from gateway.classify.features import profile
from gateway.classify.scorer import Scorer, default_scorer
from gateway.classify.view import view_of_body
from gateway.offline.stats import auc, kendall_tau

HERE = Path(__file__).resolve().parent
_CHOICE = 'Print only a single choice  from "A" or "B" or "C" or "D" without explanation.\nAnswer:'
_MC_SHOTS = (
    f"Which gas do plants take in from the air?\nA) oxygen\nB) carbon dioxide\nC) nitrogen\nD) helium\n"
    f"{_CHOICE}\nB\n\nWhat is the boiling point of water at sea level?\nA) 50 C\nB) 90 C\nC) 100 C\n"
    f"D) 120 C\n{_CHOICE}\nC\n\n"
)
_MATH_SHOTS = (
    "Question: Tom has 3 boxes of 4 pencils and gives away 5. How many pencils are left?\n"
    "Answer: Tom has 3*4=12 pencils. 12-5=7. The answer is 7.\n\n"
    "Question: A shirt costs $20 and is 25% off. What is the sale price?\n"
    "Answer: 25% of 20 is 5. 20-5=15. The answer is 15.\n\n"
)


def _mc(prompt: str) -> str:
    return _MC_SHOTS + re.sub(r"\n([A-D])\. ", r"\n\1) ", prompt) + "\n" + _CHOICE


def _math(prompt: str) -> str:
    return f"{_MATH_SHOTS}Question: {prompt}\nAnswer:"


TEMPLATES: dict[str, Callable[[str], str]] = {"math": _math, "mc": _mc}


def measured(
    scorer: Scorer, items: list[dict], wrap: Callable[[str], str]
) -> tuple[np.ndarray, np.ndarray, list[FamilyHit | None]]:
    """(score, prompt length, family hit) of each prompt, wrapped."""
    views = [view_of_body({"messages": [{"role": "user", "content": wrap(it["prompt"])}]}) for it in items]
    scored = [scorer.scored(v) for v in views]
    score = np.array([s for s, _ in scored])
    length = np.array([profile(v).prompt_tokens for v in views], dtype=np.float64)
    return score, length, [hit for _, hit in scored]


def notes(items: list[dict], score: np.ndarray, length: np.ndarray) -> str:
    """The score beside length against the writer's notes, where the set has them."""
    if "steps" in items[0]:
        steps = np.array([it["steps"] for it in items], dtype=np.float64)
        tau = kendall_tau(length, steps), kendall_tau(score, steps)
        return f"tau with steps: length {tau[0]:.2f}, score {tau[1]:.2f}"
    if "hard" in items[0]:
        hard = np.array([it["hard"] for it in items], dtype=np.float64)
        return f"AUC of hard: length {auc(length, hard):.2f}, score {auc(score, hard):.2f}"
    return "-"


def probes() -> dict[str, list[dict]]:
    return {
        name: [json.loads(line) for line in (HERE / f"probe_{name}.jsonl").read_text().splitlines() if line]
        for name in ("math", "mc", "chat")
    }


def row(name: str, form: str, items: list[dict], wrap: Callable[[str], str]) -> str:
    score, length, hits = measured(default_scorer(), items, wrap)
    tops = Counter(hit.family.split(".")[0] for hit in hits if hit is not None)
    return (
        f"| {name} | {form} | {len(items)} | {len(tops)} | {kendall_tau(score, length):.2f} | "
        f"{notes(items, score, length)} |"
    )


def main() -> None:
    out = [
        "| set | form | prompts | top-level families | tau, score with length | against the writer's notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, items in probes().items():
        out.append(row(name, "plain", items, lambda p: p))
        if name in TEMPLATES:
            out.append(row(name, "few-shot template", items, TEMPLATES[name]))
    print("\n".join(out))


if __name__ == "__main__":
    main()
