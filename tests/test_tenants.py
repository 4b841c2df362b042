"""Gateway API keys, tenants and their limits: units with a fake clock, then the live server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway.config import Settings
from gateway.errors import ConfigError, RateLimited, Unauthorized
from gateway.rules import TenantSpec
from gateway.tenancy.keys import KeyRing
from gateway.tenancy.limits import TenantLimits
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.conftest import Gateway, start_gateway

ACME, BETA, ADMIN = "sk-acme-0b7f3a", "sk-beta-91c2de", "sk-admin-5e6d"


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_keyring_maps_keys_to_tenants_and_refuses_the_rest() -> None:
    ring = KeyRing([("acme", ACME), ("acme", "sk-acme-second"), ("beta", BETA)], ADMIN)
    assert ring.tenant(f"Bearer {ACME}") == "acme"
    assert ring.tenant("bearer sk-acme-second") == "acme"
    assert ring.tenant(f"Bearer {BETA}") == "beta"
    for header in (None, "", ACME, f"Basic {ACME}", "Bearer ", "Bearer sk-nope", f"Bearer {ADMIN}"):
        with pytest.raises(Unauthorized):
            ring.tenant(header)
    ring.admin(f"Bearer {ADMIN}")
    with pytest.raises(Unauthorized):
        ring.admin(f"Bearer {ACME}")
    assert ACME not in repr(vars(ring))  # only digests are kept


def test_keys_from_env_and_file_and_their_errors_never_show_a_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("beta: [sk-beta-file]\n")
    ring = KeyRing.from_settings(Settings(api_keys=f"acme:{ACME}", api_keys_file=keys))
    assert ring.tenants == {"acme", "beta"}
    with pytest.raises(ConfigError) as info:
        KeyRing.from_settings(Settings(api_keys=f"acme:{ACME},{BETA}"))
    assert "entry 2" in info.value.message and BETA not in info.value.message
    keys.write_text(f"beta: {BETA}\n")
    with pytest.raises(ConfigError) as info:
        KeyRing.from_settings(Settings(api_keys_file=keys))
    assert BETA not in str(info.value.problems)


def test_no_keys_means_loopback_only_unless_allowed() -> None:
    assert KeyRing.from_settings(Settings()).open
    with pytest.raises(ConfigError, match="refusing to serve openly on 0"):
        KeyRing.from_settings(Settings(host="0.0.0.0"))
    assert KeyRing.from_settings(Settings(host="0.0.0.0", allow_open=True)).open
    assert not KeyRing.from_settings(Settings(host="0.0.0.0", api_keys=f"acme:{ACME}")).open


def test_serve_refuses_to_listen_openly_with_a_clear_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GATEWAY_ROUTES": "routes.yaml"},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 1
    assert "refusing to serve openly" in proc.stderr and "Traceback" not in proc.stderr


def test_requests_per_minute_window() -> None:
    clock = Clock()
    limits = TenantLimits(clock, clock)
    spec = TenantSpec(requests_per_minute=2)
    limits.check("acme", spec)
    limits.check("acme", spec)
    with pytest.raises(RateLimited) as info:
        limits.check("acme", spec)
    assert info.value.code == "rate_limit_requests" and info.value.headers["retry-after"] == "60"
    limits.check("beta", spec)  # another tenant has its own window
    clock.t += 60.5
    limits.check("acme", spec)


def test_tokens_per_minute_and_daily_spend() -> None:
    clock = Clock(86_400 * 20_000 + 3600)  # 01:00 UTC
    limits = TenantLimits(clock, clock)
    spec = TenantSpec(tokens_per_minute=100, usd_per_day=0.5)
    limits.check("acme", spec)
    limits.spent("acme", 120, 0.1)
    with pytest.raises(RateLimited) as info:
        limits.check("acme", spec)
    assert info.value.code == "rate_limit_tokens"
    clock.t += 61
    limits.check("acme", spec)
    limits.spent("acme", 10, 0.45)
    with pytest.raises(RateLimited) as info:
        limits.check("acme", spec)
    assert info.value.code == "budget_exceeded"
    assert info.value.headers["retry-after"] == str(86_400 - 3600 - 61)  # until UTC midnight
    clock.t += 86_400
    limits.check("acme", spec)


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
