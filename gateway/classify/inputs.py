"""What the difficulty scorer reads of a request, as numbers: the decision log's `features` field.

A route with `log_features: true` logs, beside each decision, everything any v2 weights file can be
applied to, so that `gateway report --what-if` can rescore logged traffic under other weights and
`gateway train --from-log` can retrain, neither needing the prompt's text:

    {"format": "gateway-scorer-inputs-v1",
     "profile": {"prompt_tokens": 12, "turns": 1, ...},       # features.py, for reading
     "signals": {"log_prompt_tokens": 2.48, ...},             # every signal in signals.py
     "tokens": 17,                                             # token ids the slice kept
     "embedding": [0.01234, -0.2071, ...]}                     # 256 numbers, or null: no tokens

The embedding is the mean WordLlama token vector of the slice the scorer embeds, the `mean_emb` row
`encode` computes from the text, at 4 significant digits: each weights file projects it on its own
basis, and training fits a new basis to it. They are numbers, but an embedding still carries what a
prompt is about (docs/quality.md).

Cost (loadtests/bench_scorer_inputs.py, 5,249 varied prompts, one core of a shared 2-core machine):
mean 120-180 µs, p99 350-440 µs a request, on top of scoring it; ~2.5 KB of JSON. Most of it is numpy
converting the slice's token rows (up to 192 x 256) from the file's float16: the table is read from
the mapped wheel file rather than held as float32 (32 MiB more per process), so it adds up to 16 MiB of
file-backed pages, shared and reclaimable, and ~1 MiB of its own. The token ids come from the memo
the scorer has just filled.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.classify.embed import EMBEDDING, TokenMemo, shared_tokens, token_vectors
from gateway.classify.features import Features, profile, prompt_slice
from gateway.classify.signals import SIGNALS

if TYPE_CHECKING:
    import numpy as np

    from gateway.classify.view import PromptView

__all__ = ["INPUTS_FORMAT", "Logged", "Measured", "measure", "read_inputs", "scorer_inputs"]

INPUTS_FORMAT = "gateway-scorer-inputs-v1"
_DIGITS = 4  # of the embedding: the rounding moves a score's logit by ~1e-4
_SIGNAL_DECIMALS = 6  # signals are shares, logs and flags: all of order 0.01 to 10


@dataclass(frozen=True, slots=True)
class Measured:
    """One request's scorer inputs, as training computes them (train's `encode`)."""

    features: Features
    signals: list[float]  # in SIGNALS order
    mean: np.ndarray | None  # float64 mean token vector of the slice; None without tokens
    n_tokens: int


def measure(
    view: PromptView, tokens: TokenMemo, table: np.ndarray, features: Features | None = None
) -> Measured:
    """The one definition of the inputs, shared by training (the text) and the log (the numbers)."""
    import numpy as np

    f = features if features is not None else profile(view)
    text = prompt_slice(view)
    ids, chars = tokens.ids(text)
    signals = [fn(f, text, ids, chars) for fn in SIGNALS.values()]
    mean = table.take(ids, axis=0).astype(np.float64).mean(axis=0) if len(ids) else None
    return Measured(f, signals, mean, len(ids))


def _rounded(x: np.ndarray) -> list[float]:
    """To 4 significant digits of the largest component (an absolute 1e-4 of it for all): what a
    projection adds up is absolute error. Dividing by a power of ten of at least 1 is exact, so each
    number is the nearest double to its decimal and prints short (0.1272, not 0.12720000000000001)."""
    import numpy as np

    top = float(np.abs(x).max())
    if top == 0.0:
        return [0.0] * len(x)
    scale = 10.0 ** max(_DIGITS - 1 - math.floor(math.log10(top)), 0)
    out: list[float] = (np.rint(x * scale) / scale).tolist()
    return out


def scorer_inputs(view: PromptView, features: Features | None = None) -> dict[str, Any]:
    """The request's `features` record for the decision log (JSON-ready). Pass the Features the planner
    already computed (`Decision.features`) to skip profiling again; the token ids come from the memo
    the scorer has just filled. Loads the tokenizer and maps the token table on first use."""
    m = measure(view, shared_tokens(), token_vectors(), features)
    return {
        "format": INPUTS_FORMAT,
        "profile": m.features.as_dict(),
        "signals": {name: round(v, _SIGNAL_DECIMALS) for name, v in zip(SIGNALS, m.signals, strict=True)},
        "tokens": m.n_tokens,
        "embedding": _rounded(m.mean) if m.mean is not None else None,
    }


@dataclass(frozen=True, slots=True)
class Logged:
    """A `features` record read back from the log: what `encoded.from_inputs` turns into rows."""

    signals: tuple[float, ...]  # in SIGNALS order
    # Packed doubles, not a tuple: a training read holds one per labelled request, and 256 Python
    # floats take four times the room (8.2 against 2.1 KB).
    embedding: array[float] | None
    tokens: int


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is not a number")
    return float(value)


def read_inputs(value: Any) -> Logged:
    """A logged `features` record, checked; ValueError says why it cannot be used (another format, a
    signal this version reads that an older gateway did not log, a wrong-sized embedding)."""
    if not isinstance(value, dict) or value.get("format") != INPUTS_FORMAT:
        raise ValueError(f"not a {INPUTS_FORMAT} record")
    signals = value.get("signals")
    if not isinstance(signals, dict):
        raise ValueError("no signals")
    missing = [name for name in SIGNALS if name not in signals]
    if missing:
        raise ValueError(f"signals not logged: {', '.join(missing)}")
    emb = value.get("embedding")
    vector: array[float] | None = None
    if emb is not None:
        if not isinstance(emb, Sequence) or len(emb) != EMBEDDING["dim"]:
            raise ValueError(f"the embedding is not {EMBEDDING['dim']} numbers")
        vector = array("d", (_number(v, "an embedding value") for v in emb))
    tokens = value.get("tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError("tokens is not a count")
    if (tokens > 0) != (vector is not None):
        raise ValueError("tokens and embedding disagree")
    return Logged(tuple(_number(signals[name], f"signal {name}") for name in SIGNALS), vector, tokens)
