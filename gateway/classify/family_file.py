"""A v3 weights file read into its family model (classify/families.py), checked as it is read: a
file that is not one, or fitted for another embedding, or with nodes out of order, is a ConfigError
that says what is wrong (the model's own `to_json` writes the format)."""

from __future__ import annotations

import math
from typing import Any

from gateway.classify.embed import EMBEDDING
from gateway.classify.families import FAMILIES_FORMAT, ROOT, Counts, FamilyModel, Node
from gateway.classify.operator_layer import layer_from_json
from gateway.classify.signals import SIGNALS
from gateway.errors import ConfigError

__all__ = ["model_from_json"]


def _counts(value: Any, dim: int) -> Counts:
    import numpy as np

    xs, xq = np.asarray(value["sum"], dtype=np.float64), np.asarray(value["sumsq"], dtype=np.float64)
    if xs.shape != (dim,) or xq.shape != (dim,):
        raise ValueError(f"counts need {dim} sums and sums of squares")
    return Counts(float(value["labels"]), float(value["shortfalls"]), xs, xq)


def _check_signals(names: tuple[str, ...], emb_dims: int, k: int) -> None:
    dense = names[: len(names) - emb_dims]
    unknown = [n for n in dense if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signals {unknown}")
    if not dense or dense[0] != "log_prompt_tokens":
        raise ValueError("the first signal must be log_prompt_tokens")
    if emb_dims and (emb_dims != k or names[len(dense) :] != tuple(f"u{i}" for i in range(k))):
        raise ValueError("embedding coordinates must be u0 … u{k-1} of the basis")


def model_from_json(data: Any, source: str) -> FamilyModel:
    """A v3 weights file's model, checked: ConfigError says what is wrong with it."""
    import numpy as np

    if not isinstance(data, dict) or data.get("format") != FAMILIES_FORMAT:
        raise ConfigError(f"{source}: not a {FAMILIES_FORMAT} weights file")
    try:
        emb = data["embedding"]
        if emb.get("weights_sha256") != EMBEDDING["weights_sha256"]:
            raise ValueError("fitted for another embedding model than the one installed")
        basis = np.asarray(emb["basis"], dtype=np.float64)
        if basis.ndim != 2 or basis.shape[1] != EMBEDDING["dim"] or not len(basis):
            raise ValueError(f"the basis must be k x {EMBEDDING['dim']}")
        k = basis.shape[0]
        sig = data["signals"]
        names = tuple(str(n) for n in sig["names"])
        emb_dims = int(sig.get("embedding_coordinates", 0))
        _check_signals(names, emb_dims, k)
        dim = len(names)
        sd = np.asarray(sig["sd"], dtype=np.float64)
        if sd.shape != (dim,) or (sd <= 0).any():
            raise ValueError("signals.sd: one positive number a signal")
        fam = data["families"]
        nodes: dict[str, Node] = {}
        for f in fam["nodes"]:
            nid, parent = str(f["id"]), f["parent"]
            if nid in nodes:
                raise ValueError(f"node {nid!r} twice")
            if (parent is None) != (nid == ROOT) or (parent is not None and parent not in nodes):
                raise ValueError(f"node {nid!r}: its parent must come before it (and only the root has none)")
            cen = None if f["centroid"] is None else np.asarray(f["centroid"], dtype=np.float64)
            if cen is not None and cen.shape != (k,):
                raise ValueError(f"node {nid!r}: a centroid of {k} numbers")
            slopes = None if f["slopes"] is None else np.asarray(f["slopes"], dtype=np.float64)
            if slopes is not None and slopes.shape != (dim,):
                raise ValueError(f"node {nid!r}: {dim} slopes")
            nodes[nid] = Node(
                nid,
                None if parent is None else str(parent),
                cen,
                -math.inf if f["radius"] is None else float(f["radius"]),
                _counts(f["base"], dim),
                _counts(f["added"], dim),
                slopes,
                bounded=bool(f.get("bounded", False)),
            )
            if parent is not None:
                nodes[str(parent)].children.append(nid)
        if ROOT not in nodes or nodes[ROOT].slopes is None:
            raise ValueError("the root must carry the slopes")
        top, cap = fam.get("top_cap"), fam.get("base_cap")
        model = FamilyModel(
            basis,
            names,
            sd,
            float(fam["kappa"]),
            math.inf if top is None else float(top),
            math.inf if cap is None else float(cap),
            nodes,
            emb_dims,
            str(data.get("name", "families")),
            dict(data.get("meta", {})),
            None if data.get("operator") is None else layer_from_json(data["operator"], set(nodes)),
        )
        if model.kappa <= 0:
            raise ValueError("kappa must be positive")
        return model
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed weights file ({exc})") from exc
