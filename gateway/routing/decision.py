"""What routing hands to dispatch: a Decision (the route, its plan, why), and the hints it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.frozen import fast_init

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.routing.plan import Plan
    from gateway.rules import Route, RouteSpec

__all__ = ["CascadePlan", "Decision", "Hints", "budgets"]


@fast_init
@dataclass(frozen=True, slots=True)
class Hints:
    """What the caller asks of the route beyond its body: the request's own latency budget and
    first-token SLO (headers), and its tenant's tiers and default budget."""

    budget_ms: float | None = None
    ttft_slo_ms: float | None = None
    tiers: frozenset[str] | None = None  # the tiers the caller's tenant may use; None: all
    tenant_budget_ms: float | None = None  # the tenant's default, when the request sets none


def budgets(hints: Hints, spec: RouteSpec | None) -> tuple[float | None, float | None]:
    """(latency budget, first-token SLO) in force, in ms: the request's own first, then its tenant's
    (budget only), then the route's. The one place this precedence is written."""
    budget = hints.budget_ms
    if budget is None:
        budget = hints.tenant_budget_ms
    if budget is None and spec is not None:
        budget = spec.latency_budget_ms
    slo = hints.ttft_slo_ms
    if slo is None and spec is not None:
        slo = spec.ttft_slo_ms
    return budget, slo


@fast_init
@dataclass(frozen=True, slots=True)
class CascadePlan:
    """What a cascade does after its draft (the decision's plan holds the draft tier's candidates)."""

    escalate: Plan  # the tiers a rejected or failed draft goes to, in the route's order
    samples: int
    min_confidence: float
    temperature: float
    draft_timeout_s: float | None  # the draft's share of a latency budget; None: the tier's own
    # An audit of a settled family: the draft is judged without the family's rate (the verifier's
    # default prior), so a family whose drafts change can move its rate (routing/cascade.py).
    neutral_prior: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    plan: Plan
    features: Features | None = None
    budget_ms: float | None = None  # the latency budget in force (header, else the route's default)
    classify_s: float | None = None  # time spent scoring difficulty, for the classifier's metric
    cascade: CascadePlan | None = None  # a draft will answer first
    skipped: str | None = None  # a cascade route that routes as `auto` this time, and why
    # The answer length each candidate's context window leaves the request, where it is less than
    # asked (routing/context.py: with_rooms); None for nearly every request.
    rooms: Mapping[str, int] | None = None
    # Learning while serving: the request's family set, its place within its family (for the answer
    # index), and the tier the prior alone would have chosen where learned counts chose another.
    family_set: str | None = None
    within: float | None = None
    prior_tier: str | None = None

    @property
    def moved(self) -> bool:
        return self.prior_tier is not None
