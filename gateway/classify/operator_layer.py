"""The operator's layer of a v3 weights file: what `gateway train --data` learns from an operator's
labelled rows beyond their counts (issue 21).

Counts move a family's rate, but an operator's task is often one or two shipped families, and the
shipped directions (fitted on the shared data) hardly tell its easy requests from its hard ones: on
left-out families, 2,000 labels moved the family model's APGR by +0.01-0.03 where the v2 recipe
fitted on the same labels alone moved it by +0.03-0.07 (docs/routing-eval.md). The layer is that v2
fit (its own principal directions and clusters, length, the lexical signals the labels confirm),
stacked with the family logit by a logistic regression on the same labels:

    logit = family_weight · family_logit + layer_weight · v2_logit + intercept

It applies to requests read in (or below) the families, one level below the top, that hold at least
a few of the labels it was fitted on (`families`; a top-level family without children counts
itself); every other request keeps the family model's score, so a family the operator never
labelled still ranks by its own signals (the guarantee of families.py). Where counts learned while
serving are in force, the family's own live traffic sets its level and the layer steps aside there
(families.py: the within-family term is bounded then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["OperatorLayer", "layer_from_json"]


@dataclass(frozen=True)
class OperatorLayer:
    spec: dict[str, Any]  # a difficulty-v2 weights file (scorer.py reads it), fitted on the labels
    family_weight: float
    layer_weight: float
    intercept: float
    families: tuple[str, ...]  # the families it applies in (and below)
    labels: int  # the rows it was fitted on

    def combine(self, family_logit: float, layer_logit: float) -> float:
        return self.family_weight * family_logit + self.layer_weight * layer_logit + self.intercept

    def applies(self, path: tuple[str, ...]) -> bool:
        """Whether a request read in the family at the head of `path` (leaf → root) gets the layer."""
        return any(a in self.families for a in path)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "family_weight": self.family_weight,
            "layer_weight": self.layer_weight,
            "intercept": self.intercept,
            "families": list(self.families),
            "labels": self.labels,
        }


def layer_from_json(value: Any, nodes: set[str]) -> OperatorLayer:
    """ValueError says what is wrong (family_file.py turns it into the file's ConfigError)."""
    if not isinstance(value, dict) or not isinstance(value.get("spec"), dict):
        raise ValueError("operator: an object with the v2 `spec` it stacks")
    a, b, c = (float(value[k]) for k in ("family_weight", "layer_weight", "intercept"))
    if not all(math.isfinite(w) for w in (a, b, c)) or a < 0 or b <= 0:
        raise ValueError("operator: family_weight >= 0, layer_weight > 0, all finite")
    families = tuple(str(f) for f in value["families"])
    unknown = [f for f in families if f not in nodes]
    if unknown:
        raise ValueError(f"operator: unknown families {unknown}")
    return OperatorLayer(dict(value["spec"]), a, b, c, families, int(value.get("labels", 0)))
