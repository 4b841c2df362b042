"""Gateway API keys: which tenant a key belongs to, and whether it is the admin's.

A key comes as `Authorization: Bearer <key>` (OpenAI's clients) or `x-api-key: <key>` (Anthropic's),
on every endpoint; when both are sent, either may be the valid one.

Keys come from the environment (`GATEWAY_API_KEYS="tenant:key,..."`) or a secrets file
(`GATEWAY_API_KEYS_FILE`, YAML `tenant: [key, ...]`), never from routes.yaml. Only their SHA-256 is kept
in memory, and a presented token is compared with every stored digest in constant time, so neither
timing nor a memory dump gives a key away. With no key at all the gateway is open, which `serve`
allows on a loopback address only.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from gateway.errors import ConfigError, Forbidden, Unauthorized
from gateway.rules.keysfile import load_keys_file

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["KeyRing"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _tokens(authorization: str | None, api_key: str | None) -> list[str]:
    """The keys a request presents: its bearer token, its x-api-key, or both."""
    found = [t for t in (_bearer(authorization), api_key.strip() if api_key else None) if t]
    return list(dict.fromkeys(found))


def _from_env(value: str) -> list[tuple[str, str]]:
    pairs = []
    for i, item in enumerate(p for p in value.split(",") if p.strip()):
        tenant, sep, key = item.strip().partition(":")
        if not sep or not tenant or not key:
            # Say where, never what: the value is a secret.
            raise ConfigError(f"GATEWAY_API_KEYS: entry {i + 1} is not 'tenant:key'")
        pairs.append((tenant, key))
    return pairs


class KeyRing:
    def __init__(self, tenants: list[tuple[str, str]], admin_key: str | None = None) -> None:
        self._keys = [(_digest(key), tenant) for tenant, key in tenants]
        self._admin = _digest(admin_key) if admin_key else None

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        pairs = _from_env(settings.api_keys.get_secret_value()) if settings.api_keys else []
        if settings.api_keys_file is not None:
            pairs += load_keys_file(settings.api_keys_file)
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        ring = cls(pairs, admin)
        if ring.open and settings.host not in _LOOPBACK and not settings.allow_open:
            raise ConfigError(
                f"no API keys configured: refusing to serve openly on {settings.host}; set "
                "GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE, listen on 127.0.0.1, or set "
                "GATEWAY_ALLOW_OPEN=true behind your own authentication"
            )
        return ring

    @property
    def open(self) -> bool:
        return not self._keys

    @property
    def tenants(self) -> set[str]:
        return {tenant for _, tenant in self._keys}

    def tenant(self, authorization: str | None, api_key: str | None = None) -> str | None:
        """The caller's tenant; None on an open gateway. Unauthorized for a missing or unknown key."""
        if self.open:
            return None
        tokens = _tokens(authorization, api_key)
        if not tokens:
            raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.")
        found = None
        for token in tokens:
            digest = _digest(token)
            for stored, tenant in self._keys:  # no early exit: every key costs the same comparison
                if hmac.compare_digest(stored, digest) and found is None:
                    found = tenant
        if found is None:
            raise Unauthorized("Invalid API key.")
        return found

    def admin(self, authorization: str | None, api_key: str | None = None) -> None:
        if self._admin is None:
            raise Forbidden("Admin endpoints are disabled: set GATEWAY_ADMIN_KEY.", code="admin_disabled")
        admin = self._admin
        if not any(hmac.compare_digest(admin, _digest(t)) for t in _tokens(authorization, api_key)):
            raise Unauthorized("Invalid admin key.")
