"""What routing hands to dispatch: a Decision (the route, its plan, why), and the hints it came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.routing.plan import Plan
    from gateway.rules import Route

__all__ = ["BackendState", "CascadePlan", "Decision", "Hints", "idle"]

# (requests admitted and not finished, available?) for a backend name.
BackendState = Callable[[str], tuple[int, bool]]


def idle(_: str) -> tuple[int, bool]:
    """Backend state when nothing is running: for offline replays."""
    return 0, True


@dataclass(frozen=True, slots=True)
class Hints:
    budget_ms: float | None = None
    ttft_slo_ms: float | None = None
    tiers: frozenset[str] | None = None  # the tiers the caller's tenant may use; None: all


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


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    plan: Plan
    features: Features | None = None
    budget_ms: float | None = None  # the latency budget in force (header, else the route's default)
    classify_s: float | None = None  # time spent scoring difficulty, for the classifier's metric
    cascade: CascadePlan | None = None  # a draft will answer first
    skipped: str | None = None  # a cascade route that routes as `auto` this time, and why
    # Learning while serving: the request's family set, its place within its family (for the answer
    # index), and the tier the prior alone would have chosen where learned counts chose another.
    family_set: str | None = None
    within: float | None = None
    prior_tier: str | None = None

    @property
    def moved(self) -> bool:
        return self.prior_tier is not None
