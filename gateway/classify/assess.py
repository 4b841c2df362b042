"""A request's difficulty with the features it was scored from and its family (where the weights have
families): what the planner asks of classify, in one call (the features go on to the decision log's
`log_features`, the family to learning)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.classify.features import Features, profile

if TYPE_CHECKING:
    from gateway.classify.families import FamilyHit
    from gateway.classify.scorer import Scorer
    from gateway.classify.view import PromptView

__all__ = ["assess", "reported"]


def assess(scorer: Scorer, view: PromptView) -> tuple[Features, float, FamilyHit | None]:
    features = profile(view)
    score, hit = scorer.scored(view, features)
    return features, score, hit


def reported(p: float) -> float:
    """A probability as decisions, logs and headers carry it: six significant digits. Four decimals
    tied most short prompts at 0.0 (the family model scores a prompt far shorter than its family's
    mean at 1e-5 and below), and whoever ranks by a tie ranks at random."""
    return float(f"{p:.6g}")
