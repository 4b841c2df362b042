"""The operator layer (classify/operator_layer.py): fitted on an operator's labelled rows as `gateway
train --data` adds them, and applied to encoded rows as the scorer applies it (numpy; offline only).

The layer's v2 fit is the v2 recipe's fixed settings on the rows alone (what `--replace` writes).
The stacking weights come from a logistic regression of the labels on (family logit, v2 logit),
where each row's family logit is read from the counts *without* that row (the rows in two halves,
each scored by the model with the other half added): a rate counted from the same labels flatters
itself in sample and would take the weight the v2 fit earns. The v2 logit is in sample: cross-fitting
it too, or refusing a layer that did not lower the cross-fitted loss, lost 0.003-0.013 APGR on
average along the left-out learning curves (10 orders each).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.classify.families import ROOT, UNKNOWN, FamilyModel
from gateway.classify.operator_layer import OperatorLayer
from gateway.offline.family_fit import Config, add_labels, logits

if TYPE_CHECKING:
    import numpy as np

    from gateway.offline.encoded import Encoded

__all__ = ["GATE_MIN", "LAYER_MIN", "fit_layer", "gate_of", "layered"]

LAYER_MIN = 50  # labels below which no layer is fitted (as for a v2 fit on labels alone)
# A family one level below the top (a top-level one without children) gets the layer where at least
# this many of its labels landed. Gating by top-level family did as well on the left-out curves but
# reached requests of other tasks too: 100% of Winogrande's held-out rows for a layer fitted on
# arena-bench, their logits moved by 1.5 on average; one level down, none.
GATE_MIN = 5
_L2 = 1.0  # a pseudo-row's worth: keeps the weights finite on labels a fit separates


def gate_of(model: FamilyModel, node_id: str) -> str:
    """The family a layer is gated by: the node's ancestor one level below the top (itself if it is
    one), or its top-level family where it has no such ancestor."""
    at_one = [a for a in model.path(node_id) if a not in (ROOT, UNKNOWN) and model.depth(a) == 1]
    return at_one[0] if at_one else model.top(node_id)


def _logistic(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights of z's columns, then the intercept (Newton steps, a little L2)."""
    import numpy as np

    a = np.hstack([z, np.ones((len(z), 1))])
    b = np.zeros(a.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ b, -40, 40)))
        h = (a * (p * (1 - p))[:, None]).T @ a + _L2 * np.eye(a.shape[1])
        step = np.linalg.solve(h, a.T @ (p - y) + _L2 * b)
        b -= step
        if np.abs(step).max() < 1e-10:
            break
    out: np.ndarray = b
    return out


def _operator_rows(enc: Encoded, y: np.ndarray) -> Encoded:
    """The rows as an operator's file reads them: a label, no graded answers, one task."""
    import numpy as np

    return replace(
        enc,
        label=y,
        difficulty=y.copy(),
        q_small=1.0 - y,
        q_large=np.ones(len(y)),
        task=np.array(["operator"] * len(y)),
    )


def fit_layer(
    before: FamilyModel, after: FamilyModel, enc: Encoded, x: np.ndarray, y: np.ndarray, cfg: Config
) -> OperatorLayer | None:
    """The layer for rows (x: CANDIDATES) that `after` = `before` + their counts; None below LAYER_MIN
    labels or where the v2 fit adds nothing to the family logit."""
    import numpy as np

    from gateway.offline.scorer_train import DEFAULT
    from gateway.offline.scorer_train import fit as fit_v2
    from gateway.offline.scorer_train import logits as logits_v2

    n = len(y)
    if n < LAYER_MIN:
        return None
    spec = fit_v2(_operator_rows(enc, y), np.ones(n, dtype=bool), DEFAULT, name="operator")
    v = logits_v2(spec, enc)
    fam = np.empty(n)
    h = n // 2
    for scored, counted in ((slice(0, h), slice(h, n)), (slice(h, n), slice(0, h))):
        m = add_labels(before, x[counted], enc.mean_emb[counted], y[counted], cfg)
        fam[scored] = logits(m, x[scored], enc.mean_emb[scored])[0]
    w = _logistic(np.stack([fam, v], axis=1), y)
    if w[0] < 0:  # the family logit says nothing the v2 fit does not: the v2 fit alone
        w = np.array([0.0, *_logistic(v[:, None], y)])
    if w[1] <= 0:
        return None
    leaf = logits(after, x, enc.mean_emb)[1]
    landed = Counter(gate_of(after, str(f)) for f in leaf)
    families = tuple(sorted(f for f, c in landed.items() if c >= GATE_MIN and f != ROOT))
    if not families:
        return None
    return OperatorLayer(spec.to_json(), float(w[0]), float(w[1]), float(w[2]), families, n)


def layered(model: FamilyModel, enc: Encoded, family: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """The scorer's logit of encoded rows from their family logit and leaf: the layer's stacking where
    it applies, the family logit elsewhere."""
    import numpy as np

    from gateway.classify.scorer import spec_from_json
    from gateway.offline.scorer_train import logits as logits_v2

    layer = model.operator
    if layer is None:
        return family
    v = logits_v2(spec_from_json(layer.spec, "operator layer"), enc)
    paths = {f: layer.applies(model.path(str(f))) for f in set(leaf)}
    gated = np.array([paths[f] for f in leaf], dtype=bool)
    out: np.ndarray = np.where(gated, layer.combine(family, v), family)  # type: ignore[arg-type]
    return out
