"""Gateway API keys, tenants and their limits, with a fake clock (the live server:
tests/live/test_tenants.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.errors import ConfigError, RateLimited, Unauthorized
from gateway.rules import TenantSpec
from gateway.tenancy.keys import KeyRing
from gateway.tenancy.limits import TenantLimits

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


def test_a_key_may_come_as_x_api_key_or_beside_a_bearer_token() -> None:
    ring = KeyRing([("acme", ACME), ("beta", BETA)], ADMIN)
    assert ring.tenant(None, ACME) == "acme"  # Anthropic's clients
    assert ring.tenant(f"Bearer {BETA}", "sk-unknown") == "beta"  # either may be the valid one
    assert ring.tenant("Bearer sk-unknown", ACME) == "acme"
    assert ring.tenant(f"Bearer {ACME}", BETA) == "acme"  # both valid: the bearer token's tenant
    for api_key in ("", "sk-nope", ADMIN):
        with pytest.raises(Unauthorized):
            ring.tenant(None, api_key)
    with pytest.raises(Unauthorized, match="x-api-key"):
        ring.tenant(None, None)
    ring.admin(None, ADMIN)
    with pytest.raises(Unauthorized):
        ring.admin(None, ACME)


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


def test_the_window_counts_in_tenth_second_slots_and_never_forgets_early() -> None:
    clock = Clock(5_000.03)
    limits = TenantLimits(clock, clock)
    spec = TenantSpec(requests_per_minute=100_000, tokens_per_minute=10**9)
    for i in range(50_000):  # 5,000 requests a second for 10 s
        clock.t = 5_000.03 + i / 5_000
        limits.check("acme", spec)
        limits.spent("acme", 7, 0.0)
    usage = limits._usage["acme"]
    assert len(usage.slots) <= 101  # a count per slot, not an entry per request
    assert (usage.requests, usage.tokens) == (50_000, 350_000)
    tight = TenantSpec(requests_per_minute=1)
    limits.check("beta", tight)  # at 5,010.03
    clock.t += 59.99
    with pytest.raises(RateLimited) as info:
        limits.check("beta", tight)  # a minute has not passed: still counted
    assert info.value.headers["retry-after"] == "1"
    clock.t += 0.11
    limits.check("beta", tight)  # 60.1 s later: gone


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
