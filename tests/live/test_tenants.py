"""Gateway API keys, tenants and their limits on the live server, and `gateway serve` refusing to listen
openly (the units, with a fake clock: tests/unit/tenancy/test_keys_and_limits.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import REPO, Gateway, start_gateway

ACME, BETA, ADMIN = "sk-acme-0b7f3a", "sk-beta-91c2de", "sk-admin-5e6d"


def test_serve_refuses_to_listen_openly_with_a_clear_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GATEWAY_ROUTES": "routes.yaml"},
        cwd=REPO,
    )
    assert proc.returncode == 1
    assert "refusing to serve openly" in proc.stderr and "Traceback" not in proc.stderr


ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {{name: small-a, kind: openai, base_url: "{small}", model: small-model}}
  large:
    price: {{input_per_mtok: 10000, output_per_mtok: 10000}}
    backends:
      - {{name: large-a, kind: openai, base_url: "{large}", model: large-model}}
tenants:
  acme: {{tiers: [small], requests_per_minute: 4}}
  beta: {{usd_per_day: 0.05}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: large, tier: large}}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    small = FakeUpstream(model="small-model", reply="small answer")
    large = FakeUpstream(model="large-model", reply="large answer")
    for f in (small, large):
        f.start_in_thread()
    g = start_gateway(
        tmp_path_factory.mktemp("tenants"),
        ROUTES.format(small=small.base_url, large=large.base_url),
        GATEWAY_API_KEYS=f"acme:{ACME},beta:{BETA}",
        GATEWAY_ADMIN_KEY=ADMIN,
    )
    yield g
    stop(g.proc)
    for f in (small, large):
        f.stop_thread()


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0, timeout=10)


def ask(gw: Gateway, key: str, model: str) -> str:
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    return raw.headers["x-gateway-tier"]


def explain(gw: Gateway, key: str) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.v1 + "/route/explain", json=body, headers={"authorization": f"Bearer {key}"})


def test_unknown_or_missing_keys_get_401_in_openai_envelope(gw: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        ask(gw, "sk-wrong", "small")
    assert info.value.status_code == 401
    body = httpx.post(gw.v1 + "/chat/completions", json={"model": "small", "messages": []}).json()
    assert body["error"]["type"] == "authentication_error" and body["error"]["code"] == "invalid_api_key"
    assert httpx.get(gw.v1 + "/models").status_code == 401
    assert httpx.get(gw.v1 + "/models", headers={"authorization": f"Bearer {BETA}"}).status_code == 200
    assert httpx.get(gw.url + "/healthz").status_code == 200  # probes need no key


def test_tenant_tiers_and_request_rate(gw: Gateway) -> None:
    assert ask(gw, ACME, "auto") == "small"  # auto never leaves acme's tiers
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask(gw, ACME, "large")
    assert denied.value.code == "tier_not_allowed"
    ask(gw, ACME, "small")
    explained = explain(gw, ACME)  # explaining a decision is admitted like a request
    assert explained.status_code == 200 and explained.json()["tier"] == "small"
    with pytest.raises(openai.RateLimitError) as limited:
        ask(gw, ACME, "small")
    assert limited.value.code == "rate_limit_requests"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    assert explain(gw, ACME).status_code == 429  # and rate-limited with them
    assert explain(gw, "sk-wrong").status_code == 401
    assert ask(gw, BETA, "small") == "small"  # another tenant is not held back


def test_daily_spend_budget(gw: Gateway) -> None:
    assert ask(gw, BETA, "large") == "large"  # 7 + 2 tokens at $10,000 per million: $0.09
    with pytest.raises(openai.RateLimitError) as limited:
        ask(gw, BETA, "small")
    assert limited.value.code == "budget_exceeded"


def test_keys_never_reach_logs_or_metrics(gw: Gateway) -> None:
    text = gw.log.read_text() + httpx.get(gw.url + "/metrics").text
    for key in (ACME, BETA, ADMIN):
        assert key not in text
