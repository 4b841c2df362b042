"""A request's running record, from its decision to its end: what dispatch saw, for whatever records it
(metrics, the decision log, the answer index, the headers a client gets).

Dispatch writes it as things happen (plain attribute writes and list appends, no call); the recorder
reads it once, when the request ends (observability/recorder.py), and records everything from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    planned: str = NONE  # the tier the plan chose first (the routing decision's, for its metric)
    classify_s: float | None = None  # time spent scoring difficulty
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
    own_s: float | None = None  # the gateway's own time when the answer was handed over
    tpot_s: float | None = None  # streams: the answering backend's time per token after the first
    fallbacks: list[str] = field(default_factory=list)  # moves to the next candidate, by failure code
    # (tier, backend, result) of each hedge of a slow candidate (metrics.HEDGE_RESULTS)
    hedges: list[tuple[str, str, str]] = field(default_factory=list)
    first_chunks: list[tuple[str, str, float]] = field(default_factory=list)  # (tier, backend, s)
