"""Every Prometheus metric of the gateway, defined once on an injected registry.

Names carry the `gateway_` prefix and their unit; labels are bounded (route, tier and backend come from
routes.yaml, outcome/reason/cause from fixed code lists), never a user, a prompt or a raw path. Where the
OpenTelemetry GenAI conventions define a metric, the mapping is in docs/metrics.md. Live state (health,
breakers, queues, loaded config) is read at scrape time by a collector, so it costs nothing per request.
One process serves per container (scale out with replicas), so no multiprocess mode is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.errors import (
    ClientClosedRequest,
    ClientError,
    GatewayError,
    StreamInterrupted,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.observability.decision_log import VERDICTS
from gateway.observability.learning_metrics import LearningMetrics
from gateway.observability.live_state import BackendRow, StateCollector
from gateway.observability.socket_metrics import SocketMetrics
from gateway.observability.tally import Count, Hist, Tally, count, hist
from gateway.protocol.tools import tool_label

if TYPE_CHECKING:
    from gateway.observability.cost import Bill
    from gateway.protocol import Usage

__all__ = ["CASCADE_RESULTS", "HEDGE_RESULTS", "OUTCOMES", "BackendRow", "Metrics", "outcome_of"]

# Seconds. LLM answers take from milliseconds (a cached small model) to minutes (long reasoning).
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_TTFT = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Per output token: ~10 ms for a small model on CPU, 18-47 ms for 7B-70B, up to 750 ms for 405B.
_TPOT = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5)
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_CLASSIFIER = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2)
_DIFFICULTY = tuple(round(0.05 * i, 2) for i in range(1, 21))

CASCADE_RESULTS = ("accepted", "escalated", "skipped")
# What became of a hedge of a slow candidate: it answered first (won), the candidate did (lost), it
# failed itself (failed), or the retry budget refused it (denied).
HEDGE_RESULTS = ("won", "lost", "failed", "denied")
OUTCOMES = ("ok", "client_error", "upstream_error", "timeout", "unavailable", "cancelled", "stream_error")


def outcome_of(err: BaseException) -> str:
    if isinstance(err, ClientClosedRequest):
        return "cancelled"
    if isinstance(err, ClientError):
        return "client_error"
    if isinstance(err, StreamInterrupted):
        return "stream_error"
    if isinstance(err, UpstreamTimeout):
        return "timeout"
    if isinstance(err, UpstreamUnavailable):
        return "unavailable"
    if isinstance(err, GatewayError):
        return "upstream_error"
    return "cancelled"  # CancelledError: the client went away


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        # What every request updates: plain numbers, rendered when scraped (tally.py).
        t = self.tally = Tally()
        route_labels = ["route", "tier", "backend", "endpoint"]
        self.requests = t.counter(
            "gateway_requests", "Requests answered, by outcome", [*route_labels, "outcome"]
        )
        self.duration = t.histogram(
            "gateway_request_duration_seconds", "End-to-end request latency", route_labels, _LATENCY
        )
        pair = ["tier", "backend"]
        self.ttft = t.histogram(
            "gateway_time_to_first_token_seconds", "Streams: time to the first chunk", pair, _TTFT
        )
        self.tpot = t.histogram(
            "gateway_time_per_output_token_seconds",
            "Streams: time per output token after the first",
            pair,
            _TPOT,
        )
        overhead = "Time spent in the gateway itself, the upstream excluded"
        self.overhead = t.histogram("gateway_overhead_seconds", overhead, ["endpoint"], _OVERHEAD)
        self.tokens = t.counter("gateway_tokens", "Tokens, input and output", [*pair, "type"])
        self.cost = t.counter("gateway_cost_usd", "What the answers cost", pair)
        self.reference = t.counter(
            "gateway_reference_cost_usd", "What the same tokens would cost at the reference tier", pair
        )
        self.savings = t.counter(
            "gateway_savings_usd", "Reference cost minus cost, per answer (never negative)", pair
        )
        self.difficulty = t.histogram(
            "gateway_difficulty", "Difficulty scores of auto-routed requests", ["route"], _DIFFICULTY
        )
        self.decisions = t.counter(
            "gateway_routing_decisions", "Routing decisions, by reason", ["route", "tier", "reason"]
        )
        self.budgeted = t.counter(
            "gateway_latency_budget_requests", "Requests that carried a latency budget", ["route"]
        )
        self.budget_misses = t.counter(
            "gateway_latency_budget_misses", "Requests that took longer than their budget", ["route"]
        )
        self.fallbacks = Counter(
            "gateway_fallbacks",
            "Moves to the next candidate, by the failure's code",
            ["route", "cause"],
            registry=r,
        )
        self.retries = Counter("gateway_retries", "Retries made", ["backend", "cause"], registry=r)
        self.retries_denied = Counter(
            "gateway_retries_denied", "Retries refused by the retry budget", ["backend"], registry=r
        )
        self.reloads = Counter("gateway_config_reloads", "routes.yaml loads", ["result"], registry=r)
        self.limit_store_errors = Counter(
            "gateway_limit_store_errors", "Shared tenant-limit store (Redis) failures", ["op"], registry=r
        )
        self.classifier = t.histogram(
            "gateway_classifier_duration_seconds", "Time to score a request's difficulty", (), _CLASSIFIER
        )
        self._classified = hist(self.classifier)
        self.cascades = Counter(
            "gateway_cascade",
            "Cascade routes' requests, by what became of the draft",
            ["route", "result"],
            registry=r,
        )
        self.confidence = Histogram(
            "gateway_cascade_confidence",
            "The verifier's confidence in the drafts it judged",
            ["route"],
            buckets=_DIFFICULTY,
            registry=r,
        )
        self.response_store_errors = Counter(
            "gateway_response_store_errors", "Response store (Redis) failures", ["op"], registry=r
        )
        self.not_stored_responses = Counter(
            "gateway_responses_not_stored",
            "Responses served but not stored (the store refused or failed)",
            registry=r,
        )
        self.decision_log_dropped_lines = Counter(
            "gateway_decision_log_dropped",
            "Decision-log lines dropped (the writer could not keep up)",
            registry=r,
        )
        self.answer_index_errors = Counter(
            "gateway_answer_index_errors", "Answer index (Redis) failures", ["op"], registry=r
        )
        self.feedback = Counter(
            "gateway_feedback", "Clients' feedback on answers", ["route", "tier", "label"], registry=r
        )
        self.shadow_verdicts = Counter(
            "gateway_shadow_verdicts",
            "Shadow judging: a cheaper tier's answer against the reference tier's",
            ["route", "tier", "verdict"],
            registry=r,
        )
        self.shadow_cost = Counter(
            "gateway_shadow_cost_usd",
            "What shadow judging spent (not billed to tenants)",
            ["route"],
            registry=r,
        )
        self.shadow_skipped = Counter(
            "gateway_shadow_skipped", "Shadow judgements not made, by why", ["route", "why"], registry=r
        )
        self.draft_cost = Counter(
            "gateway_cascade_draft_cost_usd", "What drafts cost, accepted or not", ["route"], registry=r
        )
        self.hedges = Counter(
            "gateway_hedges",
            "Hedges of a slow candidate (tier, backend: the one hedged), by what became of them",
            ["tier", "backend", "result"],
            registry=r,
        )
        self.sockets = SocketMetrics(r)  # the WebSocket mode's own (its turns are requests like any other)
        self.learning = LearningMetrics(r)  # learning while serving (gateway/learning/)
        self.dropped_tools = Counter(
            "gateway_dropped_tools",
            "Hosted tools a request offered that a chat backend went without, by tool type",
            ["route", "tool"],
            registry=r,
        )
        t.register(r)
        for result in ("ok", "error"):
            self.reloads.labels(result)
        for op in ("admit", "spent"):
            self.limit_store_errors.labels(op)
        for op in ("put", "get", "delete"):
            self.response_store_errors.labels(op)
        self._request_children: dict[tuple[str, str, str, str, str], tuple[Count, Hist]] = {}
        self._pair_children: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._decision_children: dict[tuple[str, str, str], tuple[Count, Hist]] = {}
        self._budget_children: dict[str, tuple[Count, Count]] = {}
        self._overhead_children: dict[str, Hist] = {}

    def prepare(self, backends: Iterable[str]) -> None:
        """Zero series for rare events, so a dashboard shows 0 rather than nothing."""
        for name in backends:
            self.retries_denied.labels(name)

    def watch(self, rows: Callable[[], Iterable[BackendRow]], config_sha: Callable[[], str]) -> None:
        self.registry.register(StateCollector(rows, config_sha))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # What a finished request records (observability/recorder.py). Children are cached by their
    # labels: a lookup costs more than the update.

    def finished(
        self, route: str, tier: str, backend: str, endpoint: str, outcome: str, seconds: float
    ) -> None:
        key = (route, tier, backend, endpoint, outcome)
        children = self._request_children.get(key)
        if children is None:
            for o in OUTCOMES:  # every outcome's series exists from the first request: ratios are defined
                count(self.requests, route, tier, backend, endpoint, o)
            children = (count(self.requests, *key), hist(self.duration, route, tier, backend, endpoint))
            self._request_children[key] = children
        children[0].value += 1
        children[1].observe(seconds)

    def budget(self, route: str, budget_ms: float, seconds: float) -> None:
        children = self._budget_children.get(route)
        if children is None:
            children = (count(self.budgeted, route), count(self.budget_misses, route))
            self._budget_children[route] = children
        children[0].value += 1
        if seconds * 1000 > budget_ms:
            children[1].value += 1

    def decided(
        self, route: str, tier: str, reason: str, difficulty: float | None, classify_s: float | None
    ) -> None:
        key = (route, tier, reason)
        children = self._decision_children.get(key)
        if children is None:
            children = (count(self.decisions, *key), hist(self.difficulty, route))
            self._decision_children[key] = children
        children[0].value += 1
        if difficulty is not None:
            children[1].observe(difficulty)
        if classify_s is not None:
            self._classified.observe(classify_s)

    def _pair(self, tier: str, backend: str) -> tuple[Any, ...]:
        children = self._pair_children.get((tier, backend))
        if children is None:
            children = (
                count(self.tokens, tier, backend, "input"),
                count(self.tokens, tier, backend, "output"),
                count(self.cost, tier, backend),
                count(self.reference, tier, backend),
                count(self.savings, tier, backend),
                hist(self.ttft, tier, backend),
                hist(self.tpot, tier, backend),
            )
            self._pair_children[(tier, backend)] = children
        return children

    def billed(self, tier: str, backend: str, usage: Usage, bill: Bill) -> None:
        tokens_in, tokens_out, cost, reference, savings, _, _ = self._pair(tier, backend)
        tokens_in.value += usage.prompt_tokens
        tokens_out.value += usage.completion_tokens
        cost.value += bill.cost_usd
        reference.value += bill.reference_usd
        savings.value += bill.savings_usd

    def first_chunk(self, tier: str, backend: str, seconds: float) -> None:
        self._pair(tier, backend)[5].observe(seconds)

    def per_token(self, tier: str, backend: str, seconds: float) -> None:
        self._pair(tier, backend)[6].observe(seconds)

    def own_time(self, endpoint: str, seconds: float) -> None:
        child = self._overhead_children.get(endpoint)
        if child is None:
            child = self._overhead_children[endpoint] = hist(self.overhead, endpoint)
        child.observe(seconds)

    def prepare_cascades(self, routes: Iterable[str]) -> None:
        for route in routes:
            for result in CASCADE_RESULTS:
                self.cascades.labels(route, result)
            self.draft_cost.labels(route)

    def prepare_shadows(self, routes: Iterable[str], tiers: Iterable[str]) -> None:
        """Every verdict's series for the tiers a shadowed route can answer from: ratios are defined."""
        names = list(tiers)
        for route in routes:
            for tier in names:
                for v in VERDICTS:
                    self.shadow_verdicts.labels(route, tier, v)
            self.shadow_cost.labels(route)

    def prepare_hedges(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Zero series for every (tier, backend) and hedge result."""
        for tier, backend in pairs:
            for result in HEDGE_RESULTS:
                self.hedges.labels(tier, backend, result)

    def hedged(self, tier: str, backend: str, result: str) -> None:
        # Rare (a slow candidate, at most one per attempt): uncached label look-ups are fine.
        self.hedges.labels(tier, backend, result).inc()

    def cascaded(self, route: str, result: str, confidence: float | None, draft_usd: float | None) -> None:
        # Rare next to the request counters (cascade routes only): uncached label look-ups are fine.
        self.cascades.labels(route, result).inc()
        if confidence is not None:
            self.confidence.labels(route).observe(confidence)
        if draft_usd is not None:
            self.draft_cost.labels(route).inc(draft_usd)

    def dropped_tool(self, route: str, tool_type: str) -> None:
        # Rare (hosted tools offered to a chat backend): uncached; the type is bounded by tool_label.
        self.dropped_tools.labels(route, tool_label(tool_type)).inc()

    def fallback(self, route: str, cause: str) -> None:
        self.fallbacks.labels(route, cause).inc()

    def retry(self, backend: str, cause: str) -> None:
        self.retries.labels(backend, cause).inc()

    def retry_denied(self, backend: str) -> None:
        self.retries_denied.labels(backend).inc()

    def response_store_error(self, op: str) -> None:
        self.response_store_errors.labels(op).inc()

    def decision_log_dropped(self, n: int) -> None:
        self.decision_log_dropped_lines.inc(n)

    def answer_index_error(self, op: str) -> None:
        self.answer_index_errors.labels(op).inc()

    def not_stored(self) -> None:
        self.not_stored_responses.inc()

    def rated(self, route: str, tier: str, label: str) -> None:
        self.feedback.labels(route, tier, label).inc()

    def limit_store_error(self, op: str) -> None:
        self.limit_store_errors.labels(op).inc()

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "error").inc()
