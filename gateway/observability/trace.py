"""A request's running record, from its decision to its end: what dispatch saw, for whatever records it
(metrics, the decision log, the answer index, the headers a client gets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.classify.features import Features
    from gateway.observability.cost import Bill
    from gateway.protocol import Usage

__all__ = ["NONE", "Spent", "Trace"]

NONE = "none"


@dataclass(frozen=True, slots=True)
class Spent:
    """What an answer cost on a tier that did not give it (a cascade's rejected draft)."""

    tier: str
    backend: str
    usage: Usage
    bill: Bill


@dataclass(slots=True)
class Trace:
    """One request's running record: its route, time waited on upstreams, the backend last tried, the
    usage its reply reported, and (cascades) what became of the draft."""

    route: str = NONE
    budget_ms: float | None = None  # the latency budget in force
    upstream_s: float = 0.0
    tier: str = NONE
    backend: str = NONE
    usage: Usage | None = None
    cascade: str | None = None  # accepted, escalated or skipped
    confidence: float | None = None  # the verifier's, for a draft it judged
    draft: Spent | None = None
    reason: str | None = None  # the plan's, for the decision log
    difficulty: float | None = None
    ttft_s: float | None = None  # streams: when the first chunk came
    answer_text: str | None = None  # kept only for a route that logs content, or a shadowed request
    log_content: bool = False  # the route keeps prompts and answers in the decision log
    log_features: bool = False  # ... or the scorer's inputs
    features: Features | None = None  # the planner's, for those inputs (not profiled again)
    shadowed: bool = False  # drawn for shadow judging: its answer's text is kept for the judge
    # Learning while serving: the request's family (and family set, and place within it), and whether
    # learned counts moved it to another tier than the prior alone would have chosen.
    family: str | None = None
    family_set: str | None = None
    within: float | None = None
    prior_tier: str | None = None  # where learned counts moved it from

    @property
    def moved(self) -> bool:
        return self.prior_tier is not None

    dropped_tools: tuple[str, ...] = ()  # hosted tools the request offered, dropped for a chat backend
    max_tokens: int | None = None  # the answer length asked of the backend, where its window cut it
    session: str | None = None  # the conversation the request belongs to (protocol/session.py)
