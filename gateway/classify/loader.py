"""The difficulty scorer a route table asks for: its `classifier.weights` file (v3 families or v2), or the
shipped one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.classify.scorer import default_scorer, load_scorer
from gateway.classify.verifier import Verifier, default_verifier, load_verifier

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.rules import RouteTable

__all__ = ["scorer_for", "verifier_for", "weights_path"]


def _beside(table: RouteTable, path: Path) -> Path:
    """Weights files are named relative to the routes file."""
    return path if path.is_absolute() else Path(table.source).parent / path


def weights_path(table: RouteTable) -> Path | None:
    """The scorer weights file the table names, resolved; None: the shipped weights."""
    weights = table.spec.classifier.weights
    return None if weights is None else _beside(table, weights)


def scorer_for(table: RouteTable, refit: Path | None = None) -> Scorer:
    """`refit`: the weights the gateway refitted on its own labels over the table's (learning/refit.py)."""
    path = refit or weights_path(table)
    return default_scorer() if path is None else load_scorer(path)


def verifier_for(table: RouteTable) -> Verifier:
    weights = table.spec.classifier.verifier
    return default_verifier() if weights is None else load_verifier(_beside(table, weights))
