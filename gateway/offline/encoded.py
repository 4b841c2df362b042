"""Examples as the arrays training reads (numpy; offline only): from their text, or from the scorer
inputs a decision log recorded (inputs.py), the two computed the same way so that they mix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from gateway.classify.embed import EMBEDDING, load_embedding
from gateway.classify.inputs import Logged, measure
from gateway.classify.signals import SIGNALS
from gateway.offline.data import Example

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Encoded", "concat", "encode", "from_inputs", "take"]


@dataclass(frozen=True)
class Encoded:
    """Every example's inputs and outcomes as arrays, computed once."""

    signals: np.ndarray  # n x len(SIGNALS), in SIGNALS order
    mean_emb: np.ndarray  # n x 256: mean token vector of the prompt slice (0 where it has no tokens)
    n_tokens: np.ndarray
    label: np.ndarray
    difficulty: np.ndarray
    q_small: np.ndarray
    q_large: np.ndarray
    task: np.ndarray
    split: np.ndarray

    def target(self, name: str) -> np.ndarray:
        import numpy as np

        d = np.where(np.isnan(self.difficulty), self.label, self.difficulty)
        if name == "label":
            return self.label
        if name == "difficulty":
            return d
        return (self.label + d) / 2


def encode(examples: Sequence[Example]) -> Encoded:
    import numpy as np

    emb = load_embedding(None)  # the full 256-d table: the basis is fitted on it
    sig = np.zeros((len(examples), len(SIGNALS)))
    mean = np.zeros((len(examples), emb.table.shape[1]))
    n_tokens = np.zeros(len(examples))
    for i, e in enumerate(examples):
        m = measure(e.view, emb.tokens, emb.table)
        sig[i] = m.signals
        if m.mean is not None:
            mean[i] = m.mean
            n_tokens[i] = m.n_tokens
    return Encoded(
        sig,
        mean,
        n_tokens,
        np.array([e.label for e in examples], dtype=np.float64),
        np.array([e.difficulty for e in examples], dtype=np.float64),
        np.array([e.q_small for e in examples], dtype=np.float64),
        np.array([e.q_large for e in examples], dtype=np.float64),
        np.array([e.task for e in examples]),
        np.array([e.split for e in examples]),
    )


def from_inputs(
    rows: Sequence[Logged], labels: Sequence[int], tasks: Sequence[str], splits: Sequence[str]
) -> Encoded:
    """Logged scorer inputs with their labels (1: the cheaper tier fell short). Without graded answers,
    as for an operator's labelled file (data.load_labelled): the small tier's quality is 1 where it
    sufficed, the large tier's is 1, and the item's difficulty is the label itself."""
    import numpy as np

    mean = np.zeros((len(rows), EMBEDDING["dim"]))
    for i, r in enumerate(rows):
        if r.embedding is not None:
            mean[i] = r.embedding
    label = np.asarray(labels, dtype=np.float64)
    return Encoded(
        np.array([r.signals for r in rows], dtype=np.float64).reshape(len(rows), len(SIGNALS)),
        mean,
        np.array([r.tokens if r.embedding is not None else 0 for r in rows], dtype=np.float64),
        label,
        label.copy(),
        1.0 - label,
        np.ones(len(rows)),
        np.asarray(tasks, dtype=str),
        np.asarray(splits, dtype=str),
    )


def concat(parts: Sequence[Encoded]) -> Encoded:
    """Rows of several encodings, in order (shared benchmark rows and logged rows, say)."""
    import numpy as np

    return Encoded(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Encoded)))


def take(enc: Encoded, idx: np.ndarray) -> Encoded:
    """Some rows of an encoding, in the order given."""
    return Encoded(*(getattr(enc, f.name)[idx] for f in fields(Encoded)))
