"""The difficulty scorer in force and what moves it between reloads: the table's weights, or the refit
the gateway made on its own labels over them (learning/refit.py), read through the learner's counts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gateway.classify.loader import scorer_for, weights_path
from gateway.learning.learner import Learner
from gateway.learning.rails import rails_for
from gateway.learning.refit import Refitter, refitter_for

if TYPE_CHECKING:
    from pathlib import Path

    from gateway.classify.scorer import Scorer
    from gateway.config import Settings
    from gateway.observability.learning_metrics import LearningMetrics
    from gateway.rules import RouteTable
    from gateway.tenancy.learned_store import LearnedStore

__all__ = ["learning_for", "load_refit", "scorer_in_force"]


def learning_for(
    settings: Settings, table: RouteTable, store: LearnedStore, metrics: LearningMetrics
) -> tuple[Learner, Refitter | None]:
    """The learner, and the refitter (GATEWAY_REFIT_LABELS) counting the labels it takes."""
    refit = refitter_for(settings, metrics.refitted)

    def on_label(family: str, source: str, result: str) -> None:
        metrics.label(family, source, result)
        if refit is not None:
            refit.note(result)

    learner = Learner(
        store,
        rails_for(settings, table),
        queue_max=settings.learn_queue_max,
        sync_s=settings.learn_sync_s,
        flush_s=settings.learn_flush_s,
        on_label=on_label,
    )
    return learner, refit


def scorer_in_force(table: RouteTable, learner: Learner, refit: Refitter | None) -> Scorer:
    """The table's weights, or the refit made over them, reading the learner's counts."""
    adopted = None if refit is None else refit.adopted(weights_path(table))
    return learner.reading(scorer_for(table, adopted))


async def load_refit(table: RouteTable, learner: Learner, path: Path) -> tuple[Scorer, str | None]:
    """A refit's weights read off the loop, reading the learner's counts; and the family set whose
    learned counts the caller resets once it serves them: the same families as before, whose labels
    the file now holds (the log had them), must not count twice (other families: the learner starts
    on them)."""
    loaded = await asyncio.get_running_loop().run_in_executor(None, scorer_for, table, path)
    before = learner.layer.family_set if learner.layer is not None else None
    same = before is not None and getattr(loaded, "family_set", None) == before
    return learner.reading(loaded), before if same else None
