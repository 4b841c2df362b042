"""Everything derived from one route table, built once when the table is swapped in.

The runtime swaps one Snapshot reference; a request reads it once (admission, server/admission.py)
and carries it down, so its admission, hints, plan, guard, bill and timeouts all come from one table,
never a mix of two reloads, and nothing keyed by a table hash has to be looked up per request.

It carries the state a request reads as values or narrow ports, not as callbacks: each backend's live
state (dispatch/inflight.py: in flight, its gate, its queue) that the planner reads, and the latency
book (routing/estimates.py) that the walk writes and the planner reads, each through its own door.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from gateway.dispatch.inflight import InFlight
from gateway.frozen import fast_init
from gateway.observability.cost import CostModel
from gateway.routing.planner import Planner

if TYPE_CHECKING:
    from gateway.backends.base import Backend
    from gateway.classify.scorer import Scorer
    from gateway.classify.verifier import Verifier
    from gateway.resilience.guard import Guard
    from gateway.routing.decision import Hints
    from gateway.routing.estimates import LatencyBook
    from gateway.routing.quantiles import Quantiles
    from gateway.rules import RouteTable, TierSpec

__all__ = ["Admitted", "Hedging", "Snapshot"]


@dataclass(frozen=True, slots=True)
class Hedging:
    """A tier's hedge delay: `factor` times the candidate's p95, at least `floor_s`, at most `max_s`."""

    factor: float
    floor_s: float
    max_s: float = math.inf

    @classmethod
    def of(cls, tier: TierSpec) -> Hedging | None:
        """The tier's hedging, or None when its candidates are not hedged (nor hedged to)."""
        if not tier.hedged:
            return None
        h = tier.hedge
        return cls(h.factor, h.floor_ms / 1000, h.max_ms / 1000 if h.max_ms is not None else math.inf)

    def delay(self, p95_s: float) -> float:
        return min(max(self.floor_s, self.factor * p95_s), self.max_s)


@dataclass(frozen=True, slots=True)
class Snapshot:
    table: RouteTable
    backends: Mapping[str, Backend]
    guard: Guard
    planner: Planner
    verifier: Verifier  # a cascade's judge of drafts
    costs: CostModel
    first_token_s: Mapping[str, float]  # a stream's first-chunk deadline, per tier
    hedging: Mapping[str, Hedging]  # the tiers whose candidates are hedged, and may be hedged to
    book: LatencyBook  # what each attempt took, by backend: the walk writes it, the planner reads it
    flight: InFlight  # each backend's live state (in flight, gate, queue): the planner reads it
    windows: Mapping[str, int]  # each backend's context window, in tokens
    # The backends whose long silence is taken as a hang (KindSpec.may_hang): attempts there give up
    # on it where another candidate remains (dispatch/modes.py).
    may_hang: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        table: RouteTable,
        backends: Mapping[str, Backend],
        guard: Guard,
        scorer: Scorer,
        verifier: Verifier,
        book: LatencyBook,
        quantiles: Quantiles,
        *,
        first_token_timeout_s: float,
        flight: InFlight | None = None,
    ) -> Snapshot:
        """The snapshot of `table`; `flight` (the process's, outliving reloads) is bound to its
        backends and their gates."""
        first_token = {
            name: t.first_token_timeout_ms / 1000 if t.first_token_timeout_ms else first_token_timeout_s
            for name, t in table.spec.tiers.items()
        }
        hedging = {name: h for name, t in table.spec.tiers.items() if (h := Hedging.of(t)) is not None}
        planner = Planner(table, scorer, book, quantiles=quantiles)
        flight = flight if flight is not None else InFlight()
        flight.bind(backends, guard.gates)
        return cls(
            table,
            # Its own: a request admitted under these rules finds their backends whatever a reload
            # swaps in before it is planned (the runtime retires the old ones once drained).
            MappingProxyType(dict(backends)),
            guard,
            planner,
            verifier,
            CostModel(table.spec),
            first_token,
            hedging,
            book,
            flight,
            planner.windows,
            frozenset(name for name, spec in table.spec.backends().items() if spec.may_hang),
        )


@fast_init
@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let in (server/admission.py): the rules it was admitted by, read once, which its
    plan, guard and bill come from too; what it asks beyond its body; whose key sent it."""

    snap: Snapshot
    hints: Hints
    tenant: str | None
