"""/metrics of the gateway running as a real server, driven by the official openai client: what only
the live server shows (headers, state gauges, names, nothing leaked); exact values: test_metrics.py."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import FAKE_KEY, PROMPT_MARKER, Gateway

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


def test_hosted_tier_cost_header_and_its_request_count(gateway: Gateway, client: openai.OpenAI) -> None:
    with Delta(gateway) as d:
        raw = client.chat.completions.with_raw_response.create(
            model="large", messages=[{"role": "user", "content": "hi"}]
        )
    # The fake reports 7 prompt and 5 completion tokens; the large tier costs $2.5 / $10 per million.
    assert raw.headers["x-gateway-cost-usd"] == "0.00006750"
    route = {"route": "large", "tier": "large", "backend": "fake-large", "endpoint": "chat"}
    # Other tests share this gateway: exact values are test_metrics.py's, in-process.
    assert d("gateway_requests_total", **route, outcome="ok") >= 1
    assert d("gateway_cost_usd_total", tier="large", backend="fake-large") >= 67.5e-6 - 1e-12


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
    assert d("gateway_requests_total", **none, outcome="client_error") >= 1
    unknown = {"route": "unknown", "tier": "none", "backend": "none", "endpoint": "chat"}
    assert d("gateway_requests_total", **unknown, outcome="client_error") >= 1
    broken = {"route": "broken", "tier": "broken", "backend": "fake-broken", "endpoint": "chat"}
    assert d("gateway_requests_total", **broken, outcome="unavailable") >= 1
    text = scrape_text(gateway)
    assert PROMPT_MARKER not in text and FAKE_KEY not in text and "127.0.0.1" not in text


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
            # Unitless: probabilities.
            assert f.name.endswith("_seconds") or f.name in (
                "gateway_difficulty",
                "gateway_cascade_confidence",
            )
        if f.type == "counter":  # the parser drops the `_total` its samples carry
            assert all(s.name.endswith("_total") for s in f.samples), f.name
