"""A request's difficulty with the features it was scored from: what the planner asks of classify,
in one call (the features go on to the decision log's `log_features`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.classify.features import Features, profile

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.classify.view import PromptView

__all__ = ["assess"]


def assess(scorer: Scorer, view: PromptView) -> tuple[Features, float]:
    features = profile(view)
    return features, scorer.score(view, features)
