"""Where labels come from: a shadow verdict on a request, a client's rating of an answer. Each becomes a
Label for the learner, by the rules of labels.py, unless the route learns nothing (`learn: off`) or
the request has no family (weights without families, or an embeddings request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.learning.labels import Label, rating_label, verdict_label

if TYPE_CHECKING:
    from gateway.learning.learner import Learner
    from gateway.tenancy.answer_index import Answered

__all__ = ["Intake"]

# route → its `learn:` mode ("on", "frozen", "off"); None when the route is gone (a reload)
LearnMode = Callable[[str], str | None]


class Intake:
    def __init__(
        self,
        learner: Learner,
        learn_mode: LearnMode,
        reference_tier: Callable[[], str | None],
        on_label: Callable[[str, str, str], None],
    ) -> None:
        self._learner = learner
        self._mode = learn_mode
        self._reference = reference_tier
        self._on_label = on_label

    def _offer(self, label: Label) -> None:
        if self._mode(label.route) in (None, "off"):
            self._on_label(label.family, label.source, "off")
            return
        self._learner.offer(label)

    def verdict(self, route: str, family: str | None, family_set: str | None, verdict: str) -> None:
        y = verdict_label(verdict)
        if y is None or family is None or family_set is None:
            return
        self._offer(Label(family_set, family, y, "verdict", route))

    def rating(self, found: Answered, label: str) -> None:
        if found.family is None or found.family_set is None:
            return
        y = rating_label(label, tier=found.tier, reference_tier=self._reference(), shadowed=found.shadowed)
        if y is None:
            return
        self._offer(Label(found.family_set, found.family, y, "rating", found.route, found.tenant))
