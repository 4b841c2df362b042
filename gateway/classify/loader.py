"""The difficulty scorer a route table asks for: its `classifier.weights` file, or the shipped one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.classify.scorer import LinearScorer, default_scorer, load_scorer

if TYPE_CHECKING:
    from gateway.spec import RouteTable

__all__ = ["scorer_for"]


def scorer_for(table: RouteTable) -> LinearScorer:
    """Weights are relative to the routes file."""
    weights = table.spec.classifier.weights
    if weights is None:
        return default_scorer()
    if not weights.is_absolute():
        weights = Path(table.source).parent / weights
    return load_scorer(weights)
