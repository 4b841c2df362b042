"""The labels a decision log collected, with the scorer inputs of each labelled request: what
`gateway train --from-log` fits on (report/retrain.py; offline/family_train.py adds them to the
family counts).

Labels, for requests a cheaper tier answered (the ones a threshold decides about):
- a shadow verdict: `reference_better` → 1 (the cheaper tier fell short), `cheaper_as_good` / `tie` → 0;
- else the latest feedback: `bad` → 1, `good` → 0;
- both, disagreeing: the verdict wins. It compares the answer with the reference tier's, which is the
  question a routing threshold asks; a bad rating may mean the question was beyond every tier. The
  conflicts are counted. Feedback on the reference tier's answers says nothing about a cheaper tier.
Inputs: the logged `features` (`log_features: true`); without them, the logged prompt rebuilt into them
(`log_content: true`); else the request is skipped and counted. A stable hash of the id marks a share
of them held out (`split`).
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway.classify.inputs import Logged, measure, read_inputs
from gateway.offline.report.log import Log, Request

__all__ = ["Rows", "label_rows"]


@dataclass
class Rows:
    requests: list[Request] = field(default_factory=list)
    inputs: list[Logged] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)  # label from: verdict / feedback
    rebuilt: int = 0  # inputs computed from the logged prompt (no logged features)
    skipped: Counter[str] = field(default_factory=Counter)  # labelled, but not usable: why
    conflicts: int = 0  # verdict and feedback disagreed (the verdict was kept)


def _label(r: Request, log: Log) -> tuple[int, str, bool] | None:
    """(label, where from, whether the other source disagreed)."""
    verdict, rating = log.verdicts.get(r.id), log.feedback.get(r.id)
    if verdict is not None:
        y = int(verdict.value == "reference_better")
        return y, "verdict", rating is not None and int(rating.value == "bad") != y
    if rating is not None:
        return int(rating.value == "bad"), "feedback", False
    return None


def _rebuilt(prompt: Any) -> Logged | None:
    """Scorer inputs from a logged prompt (`log_content`), computed as the gateway computes them."""
    from gateway.classify.embed import shared_tokens, token_vectors
    from gateway.classify.view import view_of_body

    if not isinstance(prompt, list) or not prompt:
        return None
    m = measure(view_of_body({"messages": prompt}), shared_tokens(), token_vectors())
    mean = array("d", (float(v) for v in m.mean)) if m.mean is not None else None
    return Logged(tuple(m.signals), mean, m.n_tokens if mean is not None else 0)


def _held_out(request_id: str, share: float) -> bool:
    return hashlib.sha256(request_id.encode()).digest()[0] < share * 256


def label_rows(log: Log, tiers: set[str] | None = None, holdout: float = 0.2) -> Rows:
    rows = Rows()
    for r in log.requests:
        found = _label(r, log)
        if found is None:
            continue
        if not r.cheaper:
            same = r.tier is not None and r.tier == r.reference_tier
            rows.skipped[
                "answered by the reference tier" if same else "no tier or reference tier logged"
            ] += 1
            continue
        if tiers is not None and r.tier not in tiers:
            rows.skipped[f"tier {r.tier} (not asked for)"] += 1
            continue
        y, source, conflict = found
        inputs: Logged | None = None
        if r.features is not None:
            try:
                inputs = read_inputs(r.inputs)
            except ValueError as exc:  # msgspec's DecodeError is one
                rows.skipped[f"features unreadable ({exc})"] += 1
                continue
        elif r.prompt is not None:
            inputs = _rebuilt(r.messages)
            rows.rebuilt += inputs is not None
        if inputs is None:
            rows.skipped["no features (log_features) and no prompt (log_content)"] += 1
            continue
        rows.requests.append(r)
        rows.inputs.append(inputs)
        rows.labels.append(y)
        rows.split.append("test" if _held_out(r.id, holdout) else "train")
        rows.sources[source] += 1
        rows.conflicts += conflict
    return rows
