"""The routes.yaml schema: tiers, routes, tenants, prices, and the retry, breaker and health knobs.

Backend kinds have their own module (spec/backends.py). Everything here is frozen and refuses unknown
keys, so a typo in the file is an error with its line, never a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from gateway.rules.backends import BackendSpec, Strict

__all__ = [
    "POLICIES",
    "BreakerSpec",
    "ClassifierSpec",
    "CostSpec",
    "EstimatorSpec",
    "HealthSpec",
    "HedgeSpec",
    "MetadataSpec",
    "PolicyName",
    "Price",
    "RetrySpec",
    "RouteSpec",
    "RoutesFile",
    "ShadowSpec",
    "TenantSpec",
    "TierSpec",
    "VerifySpec",
]

# The routing policies a route may name; routing/policies.py has one implementation per name (a
# test holds the two lists together), so a name here without its code cannot load.
PolicyName = Literal["auto", "cascade"]
POLICIES: tuple[str, ...] = get_args(PolicyName)


class Price(Strict):
    input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens")
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="USD per million prompt tokens the upstream served from its cache"
    )
    # Anthropic bills a prompt written to its cache at 1.25 times input (`cache_creation_input_tokens`).
    cache_write_per_mtok: float | None = Field(
        None, ge=0, description="USD per million prompt tokens the upstream wrote to its cache"
    )
    # Self-hosted hardware is paid by the hour whether busy or idle: its cost is spread over the
    # tokens it serves, at `tokens_per_s` (a capacity figure) or else the throughput measured live.
    usd_per_hour: float | None = Field(None, ge=0, description="hardware cost of the tier")
    tokens_per_s: float | None = Field(None, gt=0, description="throughput to amortise the hour over")

    @property
    def per_mtok(self) -> float:
        """What tiers are ranked by, cheapest first: a million prompt tokens plus a million answered."""
        return self.input_per_mtok + self.output_per_mtok

    @property
    def per_token(self) -> bool:
        """Billed by the token: a call cancelled half-way is still paid for what it generated."""
        return self.input_per_mtok > 0 or self.output_per_mtok > 0 or bool(self.cached_input_per_mtok)


class HedgeSpec(Strict):
    """When a candidate is slow to answer, the same request also goes to the next one (dispatch/hedge.py).

    The delay is `factor` times the backend's recent p95 (time to the whole answer, or a stream's
    first chunk), at least `floor_ms`, at most `max_ms`. Hedges spend the retry budget.
    """

    # None: on for tiers not billed by the token (self-hosted: a cancelled hedge costs GPU time, not
    # an invoice), off for tiers that are (a cancelled hedge is still billed).
    enabled: bool | None = None
    factor: float = Field(2.0, ge=1, description="times the backend's p95 before hedging")
    floor_ms: float = Field(50, gt=0, description="never hedge sooner than this")
    max_ms: float | None = Field(None, gt=0, description="never wait longer than this to hedge")

    @model_validator(mode="after")
    def _ordered(self) -> HedgeSpec:
        if self.max_ms is not None and self.max_ms < self.floor_ms:
            raise ValueError(f"max_ms ({self.max_ms:g}) is below floor_ms ({self.floor_ms:g})")
        return self


class TenantSpec(Strict):
    """What a tenant (a set of gateway API keys) may use; keys themselves live outside this file."""

    tiers: list[str] | None = Field(None, description="tiers this tenant may use; default: all")
    latency_budget_ms: float | None = Field(None, gt=0, description="default when the request sets none")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    usd_per_day: float | None = Field(None, gt=0)


class CostSpec(Strict):
    # Savings are what the same tokens would have cost there; default: the tier with the highest
    # per-token price (the "large" tier of a typical file).
    reference_tier: str | None = None


class TierSpec(Strict):
    backends: list[BackendSpec] = Field(min_length=1)
    price: Price = Price()
    # The difficulty this tier is trusted with: the calibrated probability that a small model falls
    # short (the shipped weights': Mixtral-8x7B; docs/routing.md). `share` instead takes the easiest
    # share of traffic (a rolling quantile of this replica's recent scores), with max_difficulty
    # until enough were seen.
    max_difficulty: float = Field(1.0, ge=0, le=1)
    share: float | None = Field(None, gt=0, le=1)
    # A stream whose first chunk takes longer moves on to the next candidate.
    first_token_timeout_ms: float | None = Field(None, gt=0)
    hedge: HedgeSpec = HedgeSpec()

    @property
    def hedged(self) -> bool:
        """Are this tier's candidates hedged (and may hedges go to them)?"""
        enabled = self.hedge.enabled
        return not self.price.per_token if enabled is None else enabled


class VerifySpec(Strict):
    """How a cascade's draft is judged, and when a request's family settles it (docs/cascade.md)."""

    samples: int = Field(1, ge=1, le=8, description="draft answers; > 1 also checks they agree")
    min_confidence: float = Field(0.6, ge=0, le=1, description="accept the draft at or above this")
    temperature: float = Field(0.7, gt=0, le=2, description="sampling temperature when samples > 1")
    # A family whose draft is rarely right escalates without a draft; one whose draft is nearly
    # always right is judged on one draft, without extra samples. Both only once the family has
    # `min_labels` labels, and an `audit` share of their requests is still drafted and judged
    # without the family's rate, so the rate can move.
    escalate_below: float = Field(
        0.05, ge=0, le=1, description="P(draft right) under which a known family skips the draft"
    )
    light_above: float = Field(
        0.95, ge=0, le=1, description="P(draft right) over which a known family drafts one sample"
    )
    min_labels: float = Field(50, ge=0, description="labels of a family before its rate settles anything")
    audit: float = Field(0.1, ge=0, le=1, description="share of settled families' requests verified anyway")

    @model_validator(mode="after")
    def _ordered(self) -> VerifySpec:
        if self.escalate_below >= self.light_above:
            raise ValueError("escalate_below must be below light_above")
        return self


class ShadowSpec(Strict):
    """Judging a share of a cheaper tier's answers against a reference tier's, after the client has
    its answer: the verdicts measure routing quality on live traffic (docs/quality.md)."""

    share: float = Field(gt=0, le=1, description="of the requests a cheaper tier answered")
    reference: str = Field(description="the tier asked the same request")
    judge: str = Field(description="the tier that compares the two answers")
    usd_per_day: float = Field(gt=0, description="cap on what shadowing spends (per replica without Redis)")
    structured: bool = Field(False, description="also requests with tools or a JSON answer")
    # Exploration: of the requests the reference tier answered, this share is also asked of the
    # route's cheapest tier and judged the same way, so that labels cover difficulties above the
    # threshold too (without it, a family sent to the reference tier could never come back).
    # Default: `share`; 0 turns it off.
    explore: float | None = Field(None, ge=0, le=1, description="of the requests the reference tier answered")

    @property
    def explore_share(self) -> float:
        return self.share if self.explore is None else self.explore


class MetadataSpec(Strict):
    """What `GET /v1/models` tells clients about a route: Codex's model catalog reads it
    (serving/catalog.py), and Codex compacts its history before a prompt leaves less than
    `max_output_tokens` of the window."""

    context_window: int | None = Field(
        None, ge=256, description="tokens; default: the largest window among the route's backends"
    )
    max_output_tokens: int | None = Field(
        None, ge=1, description="room an answer needs; default: an eighth of the window"
    )
    display_name: str | None = Field(None, min_length=1, max_length=120)
    # Codex puts these first in every conversation (its catalog has no default); default: the
    # gateway's own short coding-agent prompt.
    instructions: str | None = Field(None, min_length=1)


class RouteSpec(Strict):
    model: str = Field(min_length=1, description="the `model` clients send, e.g. auto")
    tier: str | None = None
    policy: PolicyName | None = None
    # Defaults for requests without x-latency-budget-ms / x-slo-ttft-ms headers.
    latency_budget_ms: float | None = Field(None, gt=0)
    ttft_slo_ms: float | None = Field(None, gt=0)
    # When no capable tier is expected to fit the budget: the fastest capable one, the fastest of
    # all, or a 422 that says why.
    on_budget_miss: Literal["fastest_capable", "fastest", "reject"] = "fastest_capable"
    # Output length assumed when the request sets no max_tokens.
    expected_output_tokens: int = Field(256, ge=1)
    # A backend whose context window cannot hold the prompt plus this much answer is not tried
    # (routing/context.py); the request's own max_tokens is clamped to what the chosen one has left.
    min_answer_tokens: int = Field(256, ge=1)
    # After every capable tier failed, try the less capable ones rather than fail the request.
    degrade: bool = True
    # Tiers to try, in this order, after the chosen one (e.g. [large, small]); default: the plan's.
    fallback: list[str] | None = None
    # policy: cascade: the draft tier answers first; a draft the verifier rejects goes to `escalate`,
    # in order. Drafting is skipped above this difficulty, and for requests with tools, a JSON answer
    # or n > 1 unless `cascade: always`; `cascade: never` routes as `auto`.
    draft: str | None = None
    escalate: list[str] | None = Field(None, min_length=1)
    skip_draft_above: float = Field(1.0, ge=0, le=1)
    verify: VerifySpec = VerifySpec()
    cascade: Literal["auto", "always", "never"] = "auto"
    # The decision log (GATEWAY_DECISION_LOG) keeps prompts and answers only when the route says so,
    # and the scorer's inputs (numbers) with log_features: enough to retrain without text.
    log_content: bool = False
    log_features: bool = False
    shadow: ShadowSpec | None = None
    # Learning while serving (docs/quality.md): `on`, this route's shadow verdicts and ratings label
    # its requests' families and its decisions read the learned counts; `frozen`, its labels are
    # still counted but its decisions keep the weights file's prior (nothing it decides moves);
    # `off`, neither.
    learn: Literal["on", "frozen", "off"] = "on"
    metadata: MetadataSpec = MetadataSpec()

    @field_validator("learn", mode="before")
    @classmethod
    def _learn_words(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on` / `off` as a boolean: take them as the words they were written as.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @model_validator(mode="after")
    def _one_target(self) -> RouteSpec:
        if (self.tier is None) == (self.policy is None):
            raise ValueError("give exactly one of `tier` or `policy`")
        if self.policy == "cascade":
            if self.draft is None or not self.escalate:
                raise ValueError("policy: cascade needs `draft` (a tier) and `escalate` (tiers)")
            if self.draft in self.escalate:
                raise ValueError(f"the draft tier '{self.draft}' cannot also be in `escalate`")
        elif self.draft is not None or self.escalate is not None:
            raise ValueError("`draft` and `escalate` belong to routes with policy: cascade")
        return self


class ClassifierSpec(Strict):
    weights: Path | None = Field(None, description="scorer weights from `gateway train`; default: shipped")
    verifier: Path | None = Field(None, description="cascade verifier weights; default: shipped")


class EstimatorSpec(Strict):
    # Unobserved, an estimate drifts back to its prior with this half-life, so a backend that was
    # slow gets traffic again once it may have recovered.
    half_life_s: float = Field(30.0, gt=0)
    alpha: float = Field(0.3, gt=0, le=1, description="weight of each new sample")


class RetrySpec(Strict):
    attempts: int = Field(2, ge=1, le=10, description="tries per backend, the first included")
    budget_ratio: float = Field(
        0.2, ge=0, le=1, description="retries beyond three in flight stay under this share of requests"
    )
    backoff_ms: float = Field(50, ge=0)


class BreakerSpec(Strict):
    consecutive_failures: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1)
    window_s: float = Field(10, gt=0)
    base_ejection_s: float = Field(5, gt=0)
    max_ejection_s: float = Field(120, gt=0)
    max_ejected_share: float = Field(0.5, ge=0, le=1)
    # A backend whose waiting requests have heard nothing from it for this long, and for 4 times its
    # recent p95, is taken as hung and ranked last until it answers (routing/board.py), and a stream
    # waiting there moves on to the next candidate (dispatch/modes.py). Raise it where a first token
    # may legitimately take longer than that and a costlier tier is next.
    silent_s: float = Field(2.0, gt=0, description="silence after which a backend is taken as hung")
    # ... plus this much per thousand tokens of the longest prompt waiting there: reading a prompt is
    # silent work (0.5 s lets a 30k-token prompt be read at 2,000 tokens a second).
    silent_s_per_ktok: float = Field(
        0.5, ge=0, description="more silence allowed per thousand tokens of the longest prompt waiting"
    )


class HealthSpec(Strict):
    interval_s: float = Field(5, gt=0)
    timeout_s: float = Field(2, gt=0)
    unhealthy_after: int = Field(2, ge=1)
    healthy_after: int = Field(1, ge=1)


class RoutesFile(Strict):
    version: Literal[1] = 1
    default_tier: str
    tiers: dict[str, TierSpec] = Field(min_length=1)
    routes: list[RouteSpec] = []
    # A client may also ask for a backend's own model name (e.g. gpt-4o-mini) and get that backend.
    expose_backend_models: bool = True
    classifier: ClassifierSpec = ClassifierSpec()
    estimator: EstimatorSpec = EstimatorSpec()
    retry: RetrySpec = RetrySpec()
    breaker: BreakerSpec = BreakerSpec()
    health: HealthSpec = HealthSpec()
    cost: CostSpec = CostSpec()
    tenants: dict[str, TenantSpec] = {}

    def backends(self) -> dict[str, BackendSpec]:
        """Every backend by name, in file order."""
        return {b.name: b for tier in self.tiers.values() for b in tier.backends}
