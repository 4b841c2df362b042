"""Train the default difficulty scorer: L2-regularised logistic regression, reproducible (fixed seed).

    gateway train --routerbench ../shared/data/routerbench0shot_...csv.gz \\
                  --arena ../shared/data/arenabench_...csv.gz --out gateway/classify/weights/default.json
    gateway train --data my_traffic.jsonl --small-tier small --out my-weights.json

Only rows of the `train` split are used; evaluate.py reports on the rows held out. numpy is needed here
(it comes with llama-cpp-python), never at serving time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.classify.data import Example
from gateway.classify.features import dense_vector, extract
from gateway.classify.scorer import LinearScorer
from gateway.protocol import chat_view

if TYPE_CHECKING:
    import numpy as np

__all__ = ["fit", "save"]

DENSE_KEYS = tuple(dense_vector(extract(chat_view({"model": "auto", "messages": []}, 0))[0]))


def _rows(examples: Sequence[Example]) -> list[tuple[dict[str, float], set[str]]]:
    out = []
    for ex in examples:
        feats, ws = extract(ex.view())
        out.append((dense_vector(feats), set(ws)))
    return out


def _adam(x: np.ndarray, y: np.ndarray, l2: float, epochs: int, lr: float) -> np.ndarray:
    import numpy as np

    w = np.zeros(x.shape[1], dtype=np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    reg = np.full_like(w, l2)
    reg[0] = 0.0  # no penalty on the bias
    for t in range(1, epochs + 1):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        g = x.T @ (p - y) / len(y) + reg * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def fit(
    examples: Sequence[Example],
    *,
    name: str = "default",
    vocab_size: int = 6000,
    min_df: int = 3,
    l2: float = 1e-3,
    epochs: int = 400,
    lr: float = 0.05,
    meta: dict[str, Any] | None = None,
) -> LinearScorer:
    import numpy as np

    rows = _rows(examples)
    df = Counter(w for _, ws in rows for w in ws)
    # Sorted by (frequency, text), not by set order: string hashing is salted per process, and a
    # different column order would give a different float sum, hence different weights.
    ranked = sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:vocab_size]
    vocab = [w for w, n in ranked if n >= min_df]
    index = {w: i for i, w in enumerate(vocab)}
    width = 1 + len(DENSE_KEYS) + len(vocab)
    x = np.zeros((len(rows), width), dtype=np.float64)
    x[:, 0] = 1.0
    for r, (dense, ws) in enumerate(rows):
        x[r, 1 : 1 + len(DENSE_KEYS)] = [dense[k] for k in DENSE_KEYS]
        for token in ws:
            i = index.get(token)
            if i is not None:
                x[r, 1 + len(DENSE_KEYS) + i] = 1.0
    y = np.array([ex.label for ex in examples], dtype=np.float64)
    coef = [float(c) for c in _adam(x, y, l2, epochs, lr)]
    dense_w = {k: round(coef[1 + i], 5) for i, k in enumerate(DENSE_KEYS)}
    # Weights this small change no decision; dropping them keeps the file and the look-ups small.
    offset = 1 + len(DENSE_KEYS)
    vocab_w = {t: round(coef[offset + i], 5) for i, t in enumerate(vocab) if abs(coef[offset + i]) >= 0.01}
    info = {
        "examples": len(examples),
        "positives": int(y.sum()),
        "vocab": len(vocab_w),
        "l2": l2,
        "epochs": epochs,
        **(meta or {}),
    }
    return LinearScorer(name=name, bias=round(coef[0], 5), dense=dense_w, vocab=vocab_w, meta=info)


def save(scorer: LinearScorer, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scorer.to_json(), separators=(",", ":"), sort_keys=True) + "\n")
