"""The learned state for the operator: what /admin/learning reads, exports and resets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from gateway.errors import InvalidRequest

if TYPE_CHECKING:
    from gateway.classify.scorer import Scorer
    from gateway.learning.learner import Learner
    from gateway.learning.refit import Refitter
    from gateway.rules import RouteTable

__all__ = ["LearningServing"]


class LearningServing:
    def __init__(
        self,
        learner: Learner,
        scorer: Callable[[], Scorer],
        table: Callable[[], RouteTable],
        refit: Refitter | None = None,
    ) -> None:
        self._learner = learner
        self._scorer = scorer
        self._table = table
        self._refit = refit

    async def describe(self) -> dict[str, Any]:
        learner, layer = self._learner, self._learner.layer
        rails = asdict(learner.rails)
        rails["half_life_days"] = rails.pop("half_life_s") / 86_400
        return {
            "family_set": layer.family_set if layer is not None else None,
            "rails": rails,
            "routes": {r.model: r.learn for r in self._table().spec.routes},
            "pending": learner.pending,
            "labels": round(layer.total, 4) if layer is not None else 0.0,
            "families": [s.json() for s in layer.states()] if layer is not None else [],
            "sets": await learner.store.sets(),
            "refit": None if self._refit is None else self._refit.state(),  # None: GATEWAY_REFIT_LABELS 0
        }

    def export(self) -> dict[str, Any]:
        """The weights in force with the learned counts in force folded in (classify/families.py)."""
        layer = self._learner.layer
        export = getattr(self._scorer(), "export_learned", None)
        if layer is None or export is None:
            raise InvalidRequest(
                "The weights in force have no families to learn on (a v3 weights file has).",
                code="no_families",
            )
        folded: dict[str, Any] = export(layer)
        return folded

    async def sets(self) -> list[str]:
        return await self._learner.store.sets()

    async def reset(self, family_set: str | None) -> str:
        layer = self._learner.layer
        target = family_set or (layer.family_set if layer is not None else None)
        if target is None:
            raise InvalidRequest("No family set in force to reset.", code="no_families")
        await self._learner.reset(target)
        return target
