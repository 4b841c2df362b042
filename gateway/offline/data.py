"""Labelled routing data: the shared benchmark files, and an operator's own CSV/JSONL traffic.

Each example carries the request body the gateway would see (and its view), the label the scorer
learns (1 = the 7B small model fell short), the item's difficulty (the share of the 7B-13B models
among the reference models that fell short: RouterBench has 11 models' outcomes per prompt, two of
them that small; arena-bench 15 models' grades, four) and, where known, the small, medium and large
models' quality for evaluation.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.classify.view import view_of_body
from gateway.protocol import RequestView

__all__ = [
    "ARENA_GOOD",
    "ARENA_LARGE",
    "ARENA_SMALL",
    "ARENA_SMALL_CLASS",
    "RB_LARGE",
    "RB_MEDIUM",
    "RB_SMALL",
    "RB_SMALL_CLASS",
    "Example",
    "load_arena",
    "load_labelled",
    "load_routerbench",
    "operator_example",
]

RB_SMALL, RB_MEDIUM, RB_LARGE = (
    "mistralai/mistral-7b-chat",
    "mistralai/mixtral-8x7b-chat",
    "gpt-4-1106-preview",
)
# The 7B-13B models among the reference models: the item's difficulty is the share of them that fell
# short, a smoother "a 7B-class model falls short" than one model's single answer.
RB_SMALL_CLASS = ("mistralai/mistral-7b-chat", "WizardLM/WizardLM-13B-V1.2")
ARENA_SMALL, ARENA_MEDIUM, ARENA_LARGE = (
    "Mistral-7B-Instruct-v0.1",
    "Mixtral-8x7B-Instruct-v0.1",
    "gpt-4-1106-preview",
)
ARENA_SMALL_CLASS = ("Mistral-7B-Instruct-v0.1", "Starling-LM-7B-alpha", "openchat_3.5", "llama-13b")
# An arena answer graded below 7 of 10 by GPT-4 (against a reference answer) falls short.
ARENA_GOOD = 7.0


@dataclass(frozen=True, slots=True)
class Example:
    body: dict[str, Any]
    label: int  # 1: the small (7B-class) model fell short
    task: str
    split: str  # "train" or "test"
    difficulty: float = float("nan")  # share of the 7B-13B reference models that fell short
    q_small: float = float("nan")
    q_medium: float = float("nan")
    q_large: float = float("nan")

    @property
    def view(self) -> RequestView:
        return view_of_body(self.body)


def open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    return path.open(encoding="utf-8")


def chat_body(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


def unlist(prompt: str) -> str:
    # The published files store each prompt as a Python list literal of one string.
    if prompt.startswith("[") and prompt.endswith("]"):
        try:
            value = ast.literal_eval(prompt)
        except (ValueError, SyntaxError):
            return prompt
        if isinstance(value, list) and value and isinstance(value[0], str):
            return "\n".join(value)
    return prompt


def as_float(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def load_routerbench(path: Path) -> list[Example]:
    out = []
    with open_text(path) as f:
        for row in csv.DictReader(f):
            qs, qm, ql = as_float(row[RB_SMALL]), as_float(row[RB_MEDIUM]), as_float(row[RB_LARGE])
            if math.isnan(qs) or math.isnan(ql):  # a few ARC rows have no score
                continue
            scores = [as_float(row.get(m)) for m in RB_SMALL_CLASS]
            out.append(
                Example(
                    chat_body(unlist(row["prompt"])),
                    int(qs < 1.0),
                    row["eval_name"],
                    row["routerdc_split"],
                    _share([s < 1.0 for s in scores if not math.isnan(s)]),
                    qs,
                    qm,
                    ql,
                )
            )
    return out


def load_arena(path: Path) -> list[Example]:
    """Arena prompts graded 1-10; held out by a stable hash of the question id (half and half)."""
    out = []
    with open_text(path) as f:
        for row in csv.DictReader(f):
            qs, ql = as_float(row[f"score:{ARENA_SMALL}"]), as_float(row[f"score:{ARENA_LARGE}"])
            qm = as_float(row.get(f"score:{ARENA_MEDIUM}"))
            if math.isnan(qs) or math.isnan(ql):
                continue
            grades = [as_float(row.get(f"score:{m}")) for m in ARENA_SMALL_CLASS]
            split = "test" if hashlib.sha256(row["question_id"].encode()).digest()[0] % 2 else "train"
            out.append(
                Example(
                    chat_body(unlist(row["prompt"])),
                    int(qs < ARENA_GOOD),
                    "arena",
                    split,
                    _share([g < ARENA_GOOD for g in grades if not math.isnan(g)]),
                    qs / 10,
                    qm / 10,
                    ql / 10,
                )
            )
    return out


def load_labelled(path: Path, small_tier: str) -> list[Example]:
    """An operator's traffic: CSV or JSONL with `prompt` (text, or a chat request body) and `tier`
    (the cheapest tier whose answer was good enough); optional `split` (train/test) and `task` (a
    family of requests: with two or more, training picks its settings by leave-one-task-out).
    Label 1 when the tier was not `small_tier`."""
    rows: list[dict[str, Any]]
    with open_text(path) as f:
        if ".jsonl" in path.suffixes or ".json" in path.suffixes:
            rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = list(csv.DictReader(f))
    out = []
    for i, row in enumerate(rows):
        prompt, tier = row.get("prompt"), row.get("tier")
        if prompt is None or tier is None:
            raise ValueError(f"{path}: row {i + 1} needs `prompt` and `tier`")
        out.append(
            operator_example(
                prompt if isinstance(prompt, dict) else str(prompt),
                int(str(tier) != small_tier),
                str(row.get("task") or "operator"),
                str(row.get("split") or "train"),
            )
        )
    return out


def operator_example(
    prompt: str | dict[str, Any], label: int, task: str = "operator", split: str = "train"
) -> Example:
    """One labelled request of an operator's (text, or a chat request body): label 1 when the small
    tier fell short."""
    body = prompt if isinstance(prompt, dict) else chat_body(prompt)
    # Without graded answers: the small tier's quality is 1 where it sufficed, the large tier's is
    # 1, so APGR becomes a ranking score of the label.
    return Example(body, label, task, split, float(label), 1.0 - label, float("nan"), 1.0)
