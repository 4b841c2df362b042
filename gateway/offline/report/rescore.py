"""Logged requests scored again from their logged scorer inputs (`features`), under any weights file:
no text and no model needed (numpy, like training). Requests logged without `log_features` keep the
score the gateway gave them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.classify.assess import reported
from gateway.classify.inputs import Logged, read_inputs
from gateway.offline.report.log import Request

if TYPE_CHECKING:
    from gateway.classify.families import FamilyModel
    from gateway.classify.scorer import ScorerSpec

__all__ = ["Rescored", "logged_inputs", "rescore"]


def logged_inputs(requests: Sequence[Request]) -> tuple[list[Request], list[Logged], Counter[str]]:
    """The requests whose `features` can be read, their inputs, and why the others cannot."""
    kept, inputs = [], []
    problems: Counter[str] = Counter()
    for r in requests:
        if r.features is None:
            problems["logged without log_features"] += 1
            continue
        try:
            inputs.append(read_inputs(r.inputs))
        except ValueError as exc:  # msgspec's DecodeError is one
            problems[str(exc)] += 1
            continue
        kept.append(r)
    return kept, inputs, problems


@dataclass(frozen=True)
class Rescored:
    scores: dict[str, float]  # request id → the new weights' difficulty, rounded as the gateway does
    problems: Counter[str]  # why a request could not be rescored, by count
    # Median |new - logged| over requests with both: ~0 means the weights score as those in force did.
    median_change: float | None


def rescore(requests: Sequence[Request], spec: ScorerSpec | FamilyModel) -> Rescored:
    """Under v2 weights (a spec) or v3 ones (a family model)."""
    import numpy as np

    from gateway.classify.families import FamilyModel
    from gateway.offline.encoded import from_inputs
    from gateway.offline.family_train import family_probabilities
    from gateway.offline.scorer_train import probabilities

    kept, inputs, problems = logged_inputs(requests)
    if not kept:
        return Rescored({}, problems, None)
    enc = from_inputs(inputs, [0] * len(kept), ["log"] * len(kept), ["test"] * len(kept))
    raw = family_probabilities(spec, enc) if isinstance(spec, FamilyModel) else probabilities(spec, enc)
    scores = {r.id: reported(float(s)) for r, s in zip(kept, raw, strict=True)}
    changes = [abs(scores[r.id] - r.difficulty) for r in kept if r.difficulty is not None]
    median = float(np.median(changes)) if changes else None
    return Rescored(scores, problems, None if median is None or math.isnan(median) else median)
