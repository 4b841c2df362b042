"""The metrics each request leaves, in-process: real dispatch and recorder, a fresh registry per test,
exact sample values (the live server's /metrics is tested in test_metrics_live.py)."""

from __future__ import annotations

import pytest

from gateway.errors import ModelNotFound, UpstreamStatusError, UpstreamUnavailable
from gateway.routing.decision import Hints
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

ROUTES = """
version: 1
default_tier: cheap
tiers:
  cheap:
    backends:
      - {name: first, kind: openai, base_url: "http://first.invalid/v1", model: m}
      - {name: second, kind: openai, base_url: "http://second.invalid/v1", model: m}
  large:
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
    backends:
      - {name: big, kind: openai, base_url: "http://big.invalid/v1", model: big}
retry: {attempts: 2, backoff_ms: 1}
breaker: {consecutive_failures: 1000, min_requests: 1000}
routes:
  - {model: cheap, tier: cheap}
  - {model: large, tier: large}
  - {model: auto, policy: auto}
"""


@pytest.fixture
def h() -> Harness:
    return Harness.build(ROUTES, {n: FakeBackend(n) for n in ("first", "second", "big")})


def test_every_outcome_series_exists_from_the_first_request(h: Harness) -> None:
    assert h.sample("gateway_requests_total", route="large", tier="large", backend="big", endpoint="chat",
                    outcome="ok") == 0  # fmt: skip


async def test_a_hosted_answer_counts_tokens_cost_and_its_decision(h: Harness) -> None:
    served = await h.dispatcher.complete(chat_call("large"))
    # The fake reports 5 prompt and 2 completion tokens; the large tier costs $2.5 / $10 per million.
    assert served.cost_usd == pytest.approx(32.5e-6)
    route = {"route": "large", "tier": "large", "backend": "big", "endpoint": "chat"}
    assert h.sample("gateway_requests_total", **route, outcome="ok") == 1
    assert h.sample("gateway_requests_total", **route, outcome="upstream_error") == 0  # pre-created
    assert h.sample("gateway_request_duration_seconds_count", **route) == 1
    pair = {"tier": "large", "backend": "big"}
    assert h.sample("gateway_tokens_total", **pair, type="input") == 5
    assert h.sample("gateway_tokens_total", **pair, type="output") == 2
    assert h.sample("gateway_cost_usd_total", **pair) == pytest.approx(32.5e-6)
    assert h.sample("gateway_savings_usd_total", **pair) == 0  # it is the reference
    assert h.sample("gateway_routing_decisions_total", route="large", tier="large", reason="pinned") == 1
    assert h.sample("gateway_overhead_seconds_count", endpoint="chat") == 1


async def test_a_stream_records_ttft_per_token_usage_and_savings(h: Harness) -> None:
    call = chat_call("cheap", stream=True, stream_options={"include_usage": True})
    served = await h.dispatcher.stream(call)
    chunks = [c async for c in served.chunks]
    assert b'"usage"' in chunks[-2]
    pair = {"tier": "cheap", "backend": "first"}
    assert h.sample("gateway_time_to_first_token_seconds_count", **pair) == 1
    assert h.sample("gateway_time_per_output_token_seconds_count", **pair) == 1
    assert h.sample("gateway_tokens_total", **pair, type="output") == 2  # from the usage event
    assert h.sample("gateway_cost_usd_total", **pair) == 0  # the cheap tier has no price
    # What the large tier would have charged: 5 x $2.5 + 2 x $10 per million.
    assert h.sample("gateway_savings_usd_total", **pair) == pytest.approx(32.5e-6)
    route = {"route": "cheap", "tier": "cheap", "backend": "first", "endpoint": "chat"}
    assert h.sample("gateway_requests_total", **route, outcome="ok") == 1


async def test_fallbacks_and_retries_by_cause(h: Harness) -> None:
    fail = Step.fail(UpstreamStatusError("HTTP 500", upstream_status=500, code="upstream_error"))
    h.backends["first"].script(fail, fail)
    served = await h.dispatcher.complete(chat_call("cheap"))
    assert served.backend.name == "second"
    assert len(h.backends["first"].calls) == 2  # two attempts, then the next candidate
    assert h.sample("gateway_fallbacks_total", route="cheap", cause="upstream_error") == 1
    assert h.sample("gateway_retries_total", backend="first", cause="upstream_error") == 1
    assert h.sample("gateway_retries_denied_total", backend="first") == 0
    second = {"route": "cheap", "tier": "cheap", "backend": "second", "endpoint": "chat"}
    assert h.sample("gateway_requests_total", **second, outcome="ok") == 1


async def test_failures_are_counted_with_bounded_labels(h: Harness) -> None:
    with pytest.raises(ModelNotFound):
        await h.dispatcher.complete(chat_call("model-the-client-made-up"))
    unknown = {"route": "unknown", "tier": "none", "backend": "none", "endpoint": "chat"}
    assert h.sample("gateway_requests_total", **unknown, outcome="client_error") == 1
    full = Step.fail(UpstreamUnavailable("busy", code="queue_full"))
    h.backends["big"].script(full, full)
    with pytest.raises(UpstreamUnavailable):
        await h.dispatcher.complete(chat_call("large"))
    big = {"route": "large", "tier": "large", "backend": "big", "endpoint": "chat"}
    assert h.sample("gateway_requests_total", **big, outcome="unavailable") == 1
    text = h.metrics.render()[0].decode()
    assert "model-the-client-made-up" not in text


async def test_an_auto_route_records_difficulty_decision_and_budget_miss(h: Harness) -> None:
    served = await h.dispatcher.complete(chat_call("auto", "Say hi."), Hints(budget_ms=1e-6))
    plan = served.decision.plan
    assert h.sample("gateway_difficulty_count", route="auto") == 1
    assert h.sample("gateway_routing_decisions_total", route="auto", tier=plan.tier, reason=plan.reason) == 1
    assert plan.reason.startswith("budget_miss")
    assert h.sample("gateway_classifier_duration_seconds_count") == 1
    assert h.sample("gateway_latency_budget_requests_total", route="auto") == 1
    assert h.sample("gateway_latency_budget_misses_total", route="auto") == 1
