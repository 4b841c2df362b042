"""`gateway train` for the family model (v3 weights): the shipped file from the shared data, and an
operator's labels added to it, from a file or a decision log (numpy; offline only).

    gateway train --routerbench ../shared/data/routerbench0shot_...csv.gz \\
                  --arena ../shared/data/arenabench_...csv.gz --out gateway/classify/weights/default.json
    gateway train --data my-traffic.jsonl --small-tier small --out my-weights.json   # adds to the shipped
    gateway train --data more.jsonl --weights my-weights.json --out my-weights.json  # adds to yours

Labels of the shared rows (`--label`): "mixtral" (shipped): Mixtral-8x7B's answer falls short of
GPT-4's (RouterBench: wrong where GPT-4 is right; arena-bench: graded below 7/10 and below GPT-4);
"mistral": Mistral-7B's answer falls short (wrong; graded below 7/10), the label of the v2 weights.
An operator's row is labelled 1 when its `tier` is not `--small-tier`. With at least 50 labels, a run
also fits the operator layer on its rows, all files together (operator_fit.py); it replaces an
earlier run's.

Each file added is recorded in the weights' meta (`added`: name, sha256, rows, labels, shortfalls);
adding a file whose contents were added before is refused, since its labels would count twice. A
decision log's labels (`--from-log`) are recorded with the time of the latest request added, and a
later run adds only requests after it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify.embed import EMBEDDING
from gateway.classify.families import CANDIDATES, FamilyModel
from gateway.classify.inputs import Logged
from gateway.classify.signals import SIGNALS
from gateway.offline.data import ARENA_GOOD, Example
from gateway.offline.encoded import Encoded, concat, encode
from gateway.offline.family_fit import Config, add_labels, fit
from gateway.offline.operator_fit import fit_layer

if TYPE_CHECKING:
    import numpy as np

    from gateway.offline.report.log import Log

__all__ = [
    "LABELS",
    "AlreadyAdded",
    "Labelled",
    "TrainError",
    "add_file",
    "add_log",
    "families_from_log",
    "family_logits",
    "family_probabilities",
    "file_sha256",
    "labelled",
    "settings_of",
    "shipped_model",
    "train_families",
    "with_layer",
    "write_model",
]

LABELS = {
    "mixtral": "P(a Mixtral-8x7B-class model's answer falls short of GPT-4's)",
    "mistral": "P(a Mistral-7B-class model's answer falls short)",
}
_COLUMNS = [tuple(SIGNALS).index(n) for n in CANDIDATES]


class TrainError(ValueError):
    """What `gateway train` says before it exits 2."""


class AlreadyAdded(TrainError):
    """The file's labels are in the weights already."""


@dataclass(frozen=True)
class Labelled:
    """Encoded rows with one label's outcomes: y (nan: undefined), the small and large models' quality
    (for APGR), and the family model's signals x (CANDIDATES)."""

    enc: Encoded
    y: np.ndarray
    q_small: np.ndarray
    q_large: np.ndarray

    @property
    def x(self) -> np.ndarray:
        return self.enc.signals[:, _COLUMNS]

    def ok(self) -> np.ndarray:
        import numpy as np

        out: np.ndarray = ~(np.isnan(self.y) | np.isnan(self.q_small) | np.isnan(self.q_large))
        return out


def labelled(examples: Sequence[Example], label: str, enc: Encoded | None = None) -> Labelled:
    """The examples under `label` ("mistral": the examples' own; "mixtral": the medium model's)."""
    import numpy as np

    enc = enc if enc is not None else encode(examples)
    if label == "mistral":
        return Labelled(enc, enc.label.astype(np.float64), enc.q_small, enc.q_large)
    if label != "mixtral":
        raise ValueError(f"unknown label {label!r} (known: {', '.join(LABELS)})")
    qm = np.array([e.q_medium for e in examples], dtype=np.float64)
    ql = enc.q_large
    arena = enc.task == "arena"
    with np.errstate(invalid="ignore"):
        y = np.where(arena, (qm < ARENA_GOOD / 10) & (qm < ql), qm < ql).astype(np.float64)
    y[np.isnan(qm)] = math.nan
    return Labelled(enc, y, qm, ql)


def shipped_model(
    examples: Sequence[Example], label: str, cfg: Config | None = None, sources: Sequence[str] = ()
) -> FamilyModel:
    """The family model fitted on the `train` rows of the shared data, for `label`."""
    cfg = cfg or Config()
    rows = labelled(examples, label)
    mask = (rows.enc.split == "train") & rows.ok()
    model = fit(rows.x, rows.enc.mean_emb, rows.y, mask, cfg)
    model.name = "default"
    model.meta = {
        "label": LABELS[label],
        "labels_of": label,
        "trained_on": list(sources),
        "split": "train",
        "examples": int(mask.sum()),
        "shortfalls": int(rows.y[mask].sum()),
        "embedding_sha256": EMBEDDING["weights_sha256"],
        **model.meta,
    }
    return model


def family_logits(model: FamilyModel, enc: Encoded) -> np.ndarray:
    """The v3 scorer's logit for every encoded row (its logged or measured inputs)."""
    from gateway.offline.family_fit import logits
    from gateway.offline.operator_fit import layered

    z, leaf = logits(model, enc.signals[:, _COLUMNS], enc.mean_emb)
    return layered(model, enc, z, leaf)


def family_probabilities(model: FamilyModel, enc: Encoded) -> np.ndarray:
    """The v3 scorer's probability for every encoded row, clamped as the scorer clamps it."""
    import numpy as np

    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(family_logits(model, enc), -40, 40)))
    return out


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def add_file(
    model: FamilyModel,
    path: Path,
    examples: Sequence[Example],
    small_tier: str,
    cfg: Config | None = None,
    enc: Encoded | None = None,
) -> FamilyModel:
    """The model with one operator file's labels counted (a copy; the operator layer is fitted on a
    run's files together: `with_layer`); AlreadyAdded when they were counted before."""
    import numpy as np

    digest = file_sha256(path)
    added: list[dict[str, Any]] = list(model.meta.get("added", []))
    twice = [a for a in added if a.get("sha256") == digest]
    if twice:
        raise AlreadyAdded(
            f"{path}: its labels were added to these weights already (as {twice[0].get('file')}, "
            f"sha256 {digest[:12]}); counting them twice would double their weight"
        )
    cfg = cfg or settings_of(model)
    enc = enc if enc is not None else encode(examples)
    y = enc.label.astype(np.float64)
    out = add_labels(model, enc.signals[:, _COLUMNS], enc.mean_emb, y, cfg)
    new = [nid for nid in out.nodes if nid not in model.nodes]
    refit = [nid for nid, nd in out.nodes.items() if nd.slopes is not None and nid != "root"]
    added.append(
        {
            "file": path.name,
            "sha256": digest,
            "rows": len(examples),
            "labels": len(examples),
            "shortfalls": int(y.sum()),
            "small_tier": small_tier,
            "new_families": len(new),
        }
    )
    out.meta = {**model.meta, "added": added, "refitted_slopes": refit}
    return out


def with_layer(before: FamilyModel, after: FamilyModel, enc: Encoded) -> FamilyModel:
    """`after` (= `before` with the rows of `enc` counted) with the operator layer fitted on those rows
    (operator_fit.py); an earlier layer stays where they are too few for one."""
    import numpy as np

    y = enc.label.astype(np.float64)
    layer = fit_layer(before, after, enc, enc.signals[:, _COLUMNS], y, settings_of(after))
    if layer is not None:
        after.operator = layer
        meta = {"labels": layer.labels, "families": list(layer.families)}
        after.meta = {**after.meta, "operator_layer": meta}
    return after


def add_log(
    model: FamilyModel,
    names: Sequence[str],
    rows: Sequence[tuple[float, Logged, int]],
    cfg: Config | None = None,
) -> tuple[FamilyModel, int]:
    """The model with a decision log's labels added (`gateway train --from-log`): rows of (time,
    logged scorer inputs, label). Requests no later than what an earlier log added are left out (a
    log that grew, or its rotations read again, counts each request once); (the model, how many were
    left out). AlreadyAdded when nothing is new."""
    import numpy as np

    from gateway.offline.encoded import from_inputs

    added: list[dict[str, Any]] = list(model.meta.get("added", []))
    until = max((float(a["until"]) for a in added if "until" in a), default=-math.inf)
    new = [r for r in rows if r[0] > until]
    if not new:
        raise AlreadyAdded(
            f"every labelled request of {', '.join(names)} was added to these weights already "
            f"(up to {until:.3f}, the latest request a log added)"
        )
    cfg = cfg or settings_of(model)
    enc = from_inputs([r[1] for r in new], [r[2] for r in new], ["log"] * len(new), ["train"] * len(new))
    y = enc.label.astype(np.float64)
    out = with_layer(model, add_labels(model, enc.signals[:, _COLUMNS], enc.mean_emb, y, cfg), enc)
    added.append(
        {
            "log": list(names),
            "until": max(r[0] for r in new),
            "labels": len(new),
            "shortfalls": int(y.sum()),
            "new_families": len([nid for nid in out.nodes if nid not in model.nodes]),
        }
    )
    refit = [nid for nid, nd in out.nodes.items() if nd.slopes is not None and nid != "root"]
    out.meta = {**model.meta, "added": added, "refitted_slopes": refit}
    return out, len(rows) - len(new)


def settings_of(model: FamilyModel) -> Config:
    """The settings a model was fitted with (its meta), for adding to it the same way."""
    known = set(Config.__dataclass_fields__)
    raw = dict(model.meta.get("config", {}))
    out = {k: v for k, v in raw.items() if k in known}
    for k in ("top_cap", "base_cap"):
        if k in out and out[k] is None:
            out[k] = math.inf
    return Config(**out)


def write_model(model: FamilyModel, path: Path) -> None:
    """Whole or not at all (scorer_train.save's way: a temporary file renamed over the old one)."""
    from gateway.offline.scorer_train import write_atomic

    write_atomic(path, model.dumps().encode())


def _counts_to_add_to(weights: Path | None) -> FamilyModel:
    from gateway.classify.scorer import load_weights

    model = load_weights(weights)
    if not isinstance(model, FamilyModel):
        raise TrainError(
            f"{weights}: v2 weights have no family counts to add labels to; give v3 weights (or none: "
            "the shipped ones), or --replace to train v2 weights on the rows alone"
        )
    return model


def train_families(
    out: Path,
    *,
    routerbench: Path | None,
    arena: Path | None,
    label: str,
    weights: Path | None,
    data: Sequence[Path],
    small_tier: str,
    name: str = "default",
) -> str:
    """`gateway train` without --replace: the shared data's counts (--routerbench/--arena), or those of
    `weights` (the shipped ones by default), plus each file's labels; writes `out`, returns the line
    to print. TrainError says why nothing was written."""
    from gateway.offline.data import load_arena, load_labelled, load_routerbench

    shared = routerbench is not None or arena is not None
    if not shared and not data:
        raise TrainError("no training rows: give --routerbench/--arena, --data FILE or --from-log LOG")
    if shared and weights is not None:
        raise TrainError("--weights names the counts --data adds to; --routerbench/--arena build new ones")
    if shared:
        examples = (load_routerbench(routerbench) if routerbench else []) + (
            load_arena(arena) if arena else []
        )
        model = shipped_model(examples, label, sources=[p.name for p in (routerbench, arena) if p])
    else:
        model = _counts_to_add_to(weights)
    before, start, encs = len(model.nodes), model, []
    for path in data:
        rows = [e for e in load_labelled(path, small_tier) if e.split == "train"]
        if not rows:
            raise TrainError(f"{path}: no rows of the train split to add")
        encs.append(encode(rows))
        model = add_file(model, path, rows, small_tier, enc=encs[-1])
    if encs:
        model = with_layer(start, model, concat(encs))
    if name != "default":
        model.name = name
    write_model(model, out)
    top = sum(1 for nd in model.nodes.values() if nd.parent == "root" and nd.centroid is not None)
    more = ""
    if data:
        last = model.meta["added"][-len(data) :]
        refit = model.meta.get("refitted_slopes", [])
        more = (
            f"; added {sum(a['labels'] for a in last)} labels ({sum(a['shortfalls'] for a in last)} "
            f"shortfalls), {len(model.nodes) - before} new families, own slopes in "
            f"{', '.join(refit) if refit else 'none'}; "
            + (
                f"operator layer fitted on {model.operator.labels} labels, in {len(model.operator.families)} "
                "families"
                if model.operator is not None
                else "no operator layer (fewer than 50 labels)"
            )
        )
    return (
        f"{out}: {len(model.nodes)} families ({top} top-level), {model.meta.get('label')}; "
        f"overall rate {model.rate('root'):.3f} over {model.labels('root'):.0f} labels{more}"
    )


def families_from_log(
    out: Path, log: Log, names: Sequence[str], weights: Path | None, tiers: set[str] | None
) -> str:
    """`gateway train --from-log` without --replace: the log's labels (both splits) added to the
    family counts of `weights` (the shipped ones by default); writes `out`, returns the line to print."""
    from gateway.offline.report.labels import label_rows

    model = _counts_to_add_to(weights)
    rows = label_rows(log, tiers)
    if not rows.requests:
        skipped = ", ".join(f"{n} {why}" for why, n in rows.skipped.items()) or "none labelled"
        raise TrainError(f"no usable rows: no labelled request with its scorer inputs ({skipped})")
    found = [(r.ts, i, y) for r, i, y in zip(rows.requests, rows.inputs, rows.labels, strict=True)]
    model, before = add_log(model, names, found)
    write_model(model, out)
    entry = model.meta["added"][-1]
    return (
        f"{out}: added {entry['labels']} labels ({entry['shortfalls']} shortfalls; from "
        f"{dict(rows.sources)}) to the family counts, {entry['new_families']} new families"
        + (f"; {before} requests added by an earlier run left out" if before else "")
    )
