"""What the scorer reads of the learned state: per family, the counts in force (classify's
LearnedCounts port), recomputed when the state changes, never on the request path.

The state is the store's (memory, a state file, or Redis): decayed labels and shortfalls per family
of one family set. A family's counts are in force when the guard rails say so (rails.py); they are
handed to the scorer scaled to the family's prior strength, so that the scorer's own shrinkage
arithmetic gives exactly the blended rate (rails.blended): with N the family's prior strength (its
file labels plus the shrinkage pseudo-labels) and κ the rails' strength, adding n·N/κ labels and
s·N/κ shortfalls to the prior's turns its rate r into (s + κ·r) / (n + κ).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.learning.rails import Rails, blended, interval, moves
from gateway.tenancy.learned_store import Decayed

__all__ = ["FamilyPrior", "FamilyState", "LearnedLayer"]


class FamilyPrior(Protocol):
    """The weights file's view of a family, learned counts left out."""

    def prior(self, node: str) -> tuple[float, float]:
        """(rate, strength): the family's rate from the file alone, and how many labels it is worth
        (its labels plus the shrinkage pseudo-labels)."""
        ...

    def families(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class FamilyState:
    family: str
    labels: float  # learned, decayed
    shortfalls: float
    prior_rate: float
    learned_low: float  # the learned rate's interval
    learned_high: float
    in_force: bool
    rate: float  # what the scorer uses: the blended rate when in force, else the prior's

    def json(self) -> dict[str, Any]:
        def r(x: float) -> float:
            return round(x, 4)

        return {
            "family": self.family,
            "labels": r(self.labels),
            "shortfalls": r(self.shortfalls),
            "prior_rate": r(self.prior_rate),
            "learned_interval": [r(self.learned_low), r(self.learned_high)],
            "in_force": self.in_force,
            "rate": r(self.rate),
        }


class LearnedLayer:
    """One family set's learned counts, as the scorer reads them (`version`, `counts`)."""

    def __init__(
        self,
        family_set: str,
        prior: FamilyPrior,
        rails: Rails,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.family_set = family_set
        self.rails = rails
        self.version = 0
        self.prior = prior
        self._wall = wall
        self._nodes: dict[str, Decayed] = {}
        self._force: dict[str, tuple[float, float]] = {}
        self._states: dict[str, FamilyState] = {}

    def counts(self, node: str) -> tuple[float, float] | None:
        return self._force.get(node)

    def labels(self, node: str) -> float:
        state = self._states.get(node)
        return state.labels if state is not None else 0.0

    def in_force(self, node: str) -> bool:
        return node in self._force

    def any_in_force(self, path: tuple[str, ...]) -> bool:
        force = self._force
        return bool(force) and any(n in force for n in path)

    def load(self, nodes: Mapping[str, Decayed]) -> None:
        """The store's counts for this family set, as they now stand: recompute what is in force."""
        self._nodes = dict(nodes)
        now, rails = self._wall(), self.rails
        force: dict[str, tuple[float, float]] = {}
        states: dict[str, FamilyState] = {}
        for node, counts in self._nodes.items():
            n, s = counts.at(now, rails.half_life_s)
            try:
                rate, strength = self.prior.prior(node)
            except KeyError:
                continue  # a family another weights file had: not this set's
            lo, hi = interval(n, s, rails.z)
            on = moves(rate, n, s, rails)
            if on:
                k = strength / rails.strength
                force[node] = (n * k, s * k)
            used = blended(rate, n, s, rails) if on else rate
            states[node] = FamilyState(node, n, s, rate, lo, hi, on, used)
        changed = force != self._force
        self._force, self._states = force, states
        if changed:
            self.version += 1

    def states(self) -> list[FamilyState]:
        return [self._states[k] for k in sorted(self._states)]

    @property
    def total(self) -> float:
        """Every family's learned labels (decayed), together."""
        return sum(s.labels for s in self._states.values())
