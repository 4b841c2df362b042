"""Process settings: where to listen, which routes file, limits. Read from GATEWAY_* variables.

Routing rules live in routes.yaml (gateway/spec/), not here: these are the knobs of the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    routes: Path = Path("routes.yaml")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Threads for each embedded llama.cpp instance unless routes.yaml sets `threads`.
    # 0 = all cores: one generation saturates them, so more threads than cores only adds contention.
    model_threads: int = Field(0, ge=0)

    # How often routes.yaml is checked for changes (0: only POST /admin/reload applies them).
    reload_interval_s: float = Field(2.0, ge=0)

    # Gateway API keys (gateway/tenancy/keys.py): "tenant:key,..." and/or a YAML file of tenant -> [keys].
    api_keys: SecretStr | None = None
    api_keys_file: Path | None = None
    admin_key: SecretStr | None = None
    # Without keys the gateway serves only on loopback, unless this says an outer layer authenticates.
    allow_open: bool = False
    # Tenant limits shared by replicas (gateway/tenancy/redis_limits.py), e.g. redis://redis:6379/0; unset:
    # each replica counts its own. Fail open: a Redis outage lifts limits rather than refusing traffic.
    redis_url: SecretStr | None = None
    limits_fail_open: bool = True

    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # Upstream HTTP limits, shared by all OpenAI-compatible backends of the process.
    max_upstream_connections: int = Field(1000, ge=1)
    # Four timeouts, each for one thing: connecting; the first streamed chunk (a tier's
    # first_token_timeout_ms overrides it); the silence between two chunks (read); the whole request.
    connect_timeout_s: float = Field(5.0, gt=0)
    first_token_timeout_s: float = Field(60.0, gt=0)
    read_timeout_s: float = Field(300.0, gt=0)
    request_timeout_s: float = Field(600.0, gt=0)
