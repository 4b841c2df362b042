"""Labelled routing data: the shared benchmark files, and an operator's own CSV/JSONL traffic.

Each example carries the request body the gateway would see, the label the scorer learns (1 = the
small tier fell short) and, where known, the small and large models' quality for evaluation.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.protocol import RequestView, chat_view

__all__ = [
    "ARENA_LARGE",
    "ARENA_SMALL",
    "RB_LARGE",
    "RB_SMALL",
    "Example",
    "load_arena",
    "load_labelled",
    "load_routerbench",
]

RB_SMALL, RB_MEDIUM, RB_LARGE = (
    "mistralai/mistral-7b-chat",
    "mistralai/mixtral-8x7b-chat",
    "gpt-4-1106-preview",
)
ARENA_SMALL, ARENA_LARGE = "Mistral-7B-Instruct-v0.1", "gpt-4-1106-preview"


@dataclass(frozen=True, slots=True)
class Example:
    body: dict[str, Any]
    label: int  # 1: the small tier fell short
    task: str
    split: str  # "train" or "test"
    q_small: float = float("nan")
    q_medium: float = float("nan")
    q_large: float = float("nan")

    def view(self) -> RequestView:
        """The request as the gateway sees it."""
        return chat_view({"model": "auto", **self.body}, 0)


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    return path.open(encoding="utf-8")


def _chat(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


def _unlist(prompt: str) -> str:
    # The published files store each prompt as a Python list literal of one string.
    if prompt.startswith("[") and prompt.endswith("]"):
        try:
            value = ast.literal_eval(prompt)
        except (ValueError, SyntaxError):
            return prompt
        if isinstance(value, list) and value and isinstance(value[0], str):
            return "\n".join(value)
    return prompt


def _float(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def load_routerbench(path: Path) -> list[Example]:
    out = []
    with _open(path) as f:
        for row in csv.DictReader(f):
            qs, qm, ql = _float(row[RB_SMALL]), _float(row[RB_MEDIUM]), _float(row[RB_LARGE])
            if qs != qs or ql != ql:  # NaN: a few ARC rows have no score
                continue
            out.append(
                Example(
                    _chat(_unlist(row["prompt"])),
                    int(qs < 1.0),
                    row["eval_name"],
                    row["routerdc_split"],
                    qs,
                    qm,
                    ql,
                )
            )
    return out


def load_arena(path: Path) -> list[Example]:
    """Arena prompts graded 1-10; held out by a stable hash of the question id (half and half)."""
    out = []
    with _open(path) as f:
        for row in csv.DictReader(f):
            qs, ql = _float(row[f"score:{ARENA_SMALL}"]), _float(row[f"score:{ARENA_LARGE}"])
            qm = _float(row.get("score:Mixtral-8x7B-Instruct-v0.1"))
            if qs != qs or ql != ql:
                continue
            split = "test" if hashlib.sha256(row["question_id"].encode()).digest()[0] % 2 else "train"
            out.append(
                Example(
                    _chat(_unlist(row["prompt"])), int(qs < ql), "arena", split, qs / 10, qm / 10, ql / 10
                )
            )
    return out


def load_labelled(path: Path, small_tier: str) -> list[Example]:
    """An operator's traffic: CSV or JSONL with `prompt` (text, or a chat request body) and `tier`
    (the cheapest tier whose answer was good enough). Label 1 when that was not `small_tier`."""
    rows: list[dict[str, Any]]
    with _open(path) as f:
        if ".jsonl" in path.suffixes or ".json" in path.suffixes:
            rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = list(csv.DictReader(f))
    out = []
    for i, row in enumerate(rows):
        prompt, tier = row.get("prompt"), row.get("tier")
        if prompt is None or tier is None:
            raise ValueError(f"{path}: row {i + 1} needs `prompt` and `tier`")
        body = prompt if isinstance(prompt, dict) else _chat(str(prompt))
        out.append(Example(body, int(str(tier) != small_tier), "operator", str(row.get("split", "train"))))
    return out
