"""/metrics of the gateway running as a real server, driven by the official openai client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.conftest import FAKE_KEY, PROMPT_MARKER, Gateway, start_gateway

Sample = tuple[str, frozenset[tuple[str, str]]]


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=60)


def scrape_text(gw: Gateway) -> str:
    resp = httpx.get(gw.url + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


def scrape(gw: Gateway) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(scrape_text(gw)):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class Delta:
    """Sample values after minus before, for the samples a test names."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.before = scrape(gw)

    def __enter__(self) -> Delta:
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = scrape(self.gw)

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in self.after, f"no sample {name}{labels}"
        return self.after[key] - self.before.get(key, 0.0)


def test_hosted_tier_cost_header_tokens_and_request_count(gateway: Gateway, client: openai.OpenAI) -> None:
    with Delta(gateway) as d:
        raw = client.chat.completions.with_raw_response.create(
            model="large", messages=[{"role": "user", "content": "hi"}]
        )
    # The fake reports 7 prompt and 5 completion tokens; the large tier costs $2.5 / $10 per million.
    assert raw.headers["x-gateway-cost-usd"] == "0.00006750"
    route = {"route": "large", "tier": "large", "backend": "fake-large", "endpoint": "chat"}
    assert d("gateway_requests_total", **route, outcome="ok") == 1
    assert d("gateway_requests_total", **route, outcome="upstream_error") == 0  # pre-created
    assert d("gateway_request_duration_seconds_count", **route) == 1
    assert d("gateway_tokens_total", tier="large", backend="fake-large", type="input") == 7
    assert d("gateway_tokens_total", tier="large", backend="fake-large", type="output") == 5
    assert d("gateway_cost_usd_total", tier="large", backend="fake-large") == pytest.approx(67.5e-6)
    assert d("gateway_savings_usd_total", tier="large", backend="fake-large") == 0  # it is the reference
    assert d("gateway_routing_decisions_total", route="large", tier="large", reason="pinned") == 1
    assert d("gateway_overhead_seconds_count", endpoint="chat") == 1


def test_stream_records_ttft_per_token_usage_and_savings(
    gateway: Gateway, client: openai.OpenAI, reset_fakes: dict[str, FakeUpstream]
) -> None:
    with Delta(gateway) as d:
        chunks = list(
            client.chat.completions.create(
                model="flaky",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].usage is not None
    pair = {"tier": "flaky", "backend": "fake-flaky"}
    assert d("gateway_time_to_first_token_seconds_count", **pair) == 1
    assert d("gateway_time_per_output_token_seconds_count", **pair) == 1
    assert d("gateway_tokens_total", **pair, type="output") == 2  # from the upstream's usage event
    assert d("gateway_cost_usd_total", **pair) == 0  # the flaky tier has no price
    # What the large tier would have charged: 7 x $2.5 + 2 x $10 per million.
    assert d("gateway_savings_usd_total", **pair) == pytest.approx(37.5e-6)
    route = {"route": "flaky", "tier": "flaky", "backend": "fake-flaky", "endpoint": "chat"}
    assert d("gateway_requests_total", **route, outcome="ok") == 1


PAIR_ROUTES = """
version: 1
default_tier: pair
tiers:
  pair:
    backends:
      - {{name: first, kind: openai, base_url: "{first}", model: first-model}}
      - {{name: second, kind: openai, base_url: "{second}", model: second-model}}
retry: {{attempts: 2, backoff_ms: 1}}
breaker: {{consecutive_failures: 1000, min_requests: 1000}}
routes:
  - {{model: pair, tier: pair}}
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, FakeUpstream]]:
    """A gateway of its own: no earlier test's failures weigh on its breakers or retry budget."""
    first, second = FakeUpstream(model="first-model"), FakeUpstream(model="second-model")
    for f in (first, second):
        f.start_in_thread()
    gw = start_gateway(
        tmp_path_factory.mktemp("pair"), PAIR_ROUTES.format(first=first.base_url, second=second.base_url)
    )
    yield gw, first
    stop(gw.proc)
    for f in (first, second):
        f.stop_thread()


def test_fallbacks_and_retries_by_cause(pair: tuple[Gateway, FakeUpstream]) -> None:
    gw, first = pair
    first.set(mode="error", status=500)
    client = openai.OpenAI(base_url=gw.v1, api_key="unused", max_retries=0, timeout=30)
    with Delta(gw) as d:
        raw = client.chat.completions.with_raw_response.create(
            model="pair", messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-gateway-backend"] == "second"
    assert d("gateway_fallbacks_total", route="pair", cause="upstream_error") == 1
    assert d("gateway_retries_total", backend="first", cause="upstream_error") == 1  # 2 attempts
    assert d("gateway_retries_denied_total", backend="first") == 0
    second = {"route": "pair", "tier": "pair", "backend": "second", "endpoint": "chat"}
    assert d("gateway_requests_total", **second, outcome="ok") == 1


def test_failures_are_counted_with_bounded_labels_and_nothing_leaks(
    gateway: Gateway, client: openai.OpenAI, reset_fakes: dict[str, FakeUpstream]
) -> None:
    reset_fakes["broken"].set(mode="error", status=503)
    secret_model = f"model-{PROMPT_MARKER}"
    with Delta(gateway) as d:
        bad = httpx.post(gateway.v1 + "/chat/completions", content=b"{not json")
        assert bad.status_code == 400
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=secret_model, messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model="broken", messages=[{"role": "user", "content": PROMPT_MARKER}]
            )
        assert info.value.status_code == 503
    none = {"route": "none", "tier": "none", "backend": "none", "endpoint": "chat"}
    assert d("gateway_requests_total", **none, outcome="client_error") == 1
    unknown = {"route": "unknown", "tier": "none", "backend": "none", "endpoint": "chat"}
    assert d("gateway_requests_total", **unknown, outcome="client_error") == 1
    broken = {"route": "broken", "tier": "broken", "backend": "fake-broken", "endpoint": "chat"}
    assert d("gateway_requests_total", **broken, outcome="unavailable") == 1
    text = scrape_text(gateway)
    assert PROMPT_MARKER not in text and FAKE_KEY not in text and "127.0.0.1" not in text


@pytest.mark.model
def test_auto_route_records_difficulty_decision_and_budget_miss(
    gateway: Gateway, client: openai.OpenAI
) -> None:
    with Delta(gateway) as d:
        raw = client.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=2,
            extra_headers={"x-latency-budget-ms": "1"},  # no tier answers in a millisecond
        )
    assert raw.parse().choices
    tier = raw.headers["x-gateway-tier"]
    reason = raw.headers["x-gateway-reason"].removesuffix(";fallback")
    assert d("gateway_difficulty_count", route="auto") == 1
    assert d("gateway_routing_decisions_total", route="auto", tier=tier, reason=reason) == 1
    assert d("gateway_classifier_duration_seconds_count") == 1
    assert d("gateway_latency_budget_requests_total", route="auto") == 1
    assert d("gateway_latency_budget_misses_total", route="auto") == 1


def test_live_state_gauges_and_config_info(gateway: Gateway) -> None:
    samples = scrape(gateway)
    sha = httpx.get(gateway.url + "/readyz").json()["routes_sha256"]
    assert samples[("gateway_config_info", frozenset({("sha256", sha)}))] == 1
    assert samples[("gateway_config_reloads_total", frozenset({("result", "error")}))] == 0
    for tier, backend in [("small", "smollm2"), ("large", "fake-large"), ("flaky", "fake-spare")]:
        key = frozenset({("tier", tier), ("backend", backend)})
        assert samples[("gateway_backend_up", key)] == 1
        assert samples[("gateway_breaker_state", key)] in (0, 1, 2)
        assert ("gateway_in_flight_requests", key) in samples
        assert ("gateway_queue_depth", key) in samples
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def test_names_follow_conventions(gateway: Gateway) -> None:
    families = list(text_string_to_metric_families(scrape_text(gateway)))
    ours = [f for f in families if f.name.startswith("gateway")]
    assert len(ours) >= 20
    for f in ours:
        assert f.name.startswith("gateway_")
        if f.type == "histogram":
            assert f.name.endswith("_seconds") or f.name == "gateway_difficulty", f.name
        if f.type == "counter":  # the parser drops the `_total` its samples carry
            assert all(s.name.endswith("_total") for s in f.samples), f.name
