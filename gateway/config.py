"""Process settings: where to listen, which routes file, limits. Read from GATEWAY_* variables.

Routing rules live in routes.yaml (gateway/rules/), not here: these are the knobs of the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    routes: Path = Path("routes.yaml")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # `gateway serve` runs under Python's -OO (2; 1: -O; 0: as started): docstrings and asserts are left
    # out of every module, 3 MiB less at rest and 5 MiB less under 256 streams (loadtests/RESULTS.md).
    # Asserts here only narrow types; nothing validates with them.
    python_optimize: int = Field(2, ge=0, le=2)

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

    # Stored responses of the Responses API (gateway/tenancy/response_store.py): in this process, or in Redis
    # when redis_url is set. Kept 30 days after they were stored, as OpenAI does, so that a client written
    # against OpenAI can continue a chain as late here; the quotas, not the TTL, bound the memory.
    # Which tenant each answer went to, for POST /v1/feedback (gateway/tenancy/answer_index.py): kept this
    # long, and in this process at most this many (Redis: by TTL alone).
    answers_retention_s: float = Field(7 * 86_400, gt=0)
    answers_max: int = Field(200_000, ge=1)
    # Learning while serving (gateway/learning/, docs/quality.md): without Redis, the learned counts are
    # kept in a state file under state_dir (written atomically every learn_flush_s and at shutdown,
    # read at start); unset: in memory only, lost at restart. Several replicas learn together only
    # through Redis. The guard rails: old labels halve every learn_half_life_days; a family's learned
    # counts move routing only from learn_min_labels labels and when their interval lies past a tier
    # threshold its prior is not past, then weighed against the prior as learn_strength labels; one
    # tenant's ratings count for at most learn_tenant_cap labels of a family.
    state_dir: Path | None = None
    learn_half_life_days: float = Field(14.0, gt=0)
    learn_min_labels: float = Field(10.0, ge=1)
    learn_strength: float = Field(20.0, gt=0)
    learn_tenant_cap: float = Field(10.0, ge=0)
    learn_queue_max: int = Field(10_000, ge=1)
    learn_sync_s: float = Field(2.0, gt=0)
    learn_flush_s: float = Field(10.0, gt=0)
    # Refitting the scorer on the deployment's own labels while serving (gateway/learning/refit.py):
    # every refit_labels labels taken (0: never), at most once every refit_min_s, `gateway train
    # --from-log` on the decision log, its result served in place of the weights in force. Needs
    # decision_log (a file), state_dir and one replica (no redis_url); routes with log_features. A
    # refit reads the latest refit_max_labels labels of the log: what bounds its memory.
    refit_labels: int = Field(0, ge=0)
    refit_min_s: float = Field(600.0, ge=0)
    refit_max_labels: int = Field(10_000, ge=1)
    # The decision log (gateway/observability/decision_log.py): a file, or "-" for stdout; unset: none.
    decision_log: str | None = None
    decision_log_max_mb: float = Field(100.0, gt=0)
    decision_log_files: int = Field(5, ge=1)
    responses_ttl_s: float = Field(30 * 86_400, gt=0)
    # In this process, all tenants together (Redis: its maxmemory is the operator's). The bytes are the
    # records'; Python adds about 200 bytes each. Sized to sit beside an embedded model in 1.5 GiB.
    responses_max: int = Field(10_000, ge=1)
    responses_max_bytes: int = Field(128 * 1024 * 1024, ge=1)
    # Each tenant's share, in memory and in Redis alike: over it a tenant loses its own least recently
    # used responses (Redis: its oldest). A record over the byte quota is not stored; 32 MiB holds several
    # of the largest requests (max_body_bytes) with their answers. An open gateway is one tenant: raise
    # these (in memory, up to the bounds above) to give it the whole store.
    responses_tenant_max: int = Field(10_000, ge=1)
    responses_tenant_max_bytes: int = Field(32 * 1024 * 1024, ge=1)

    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # The Responses API's WebSocket mode (GET /v1/responses, server/ws_responses.py). A message over
    # ws_max_message_bytes closes the socket (1009, uvicorn's ws_max_size: it carries what a POST body
    # would); a connection ends after ws_max_messages client messages, or ws_idle_timeout_s without one
    # while nothing is being answered (a client reconnects, resending its history); one key may hold
    # ws_max_sockets_per_key sockets on each replica (0: WebSocket mode off, upgrades answered 426 so
    # that clients use HTTP at once).
    ws_max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    ws_max_messages: int = Field(1000, ge=1)
    ws_idle_timeout_s: float = Field(300.0, gt=0)
    ws_max_sockets_per_key: int = Field(64, ge=0)
    # Upstream HTTP limits, shared by all OpenAI-compatible backends of the process.
    max_upstream_connections: int = Field(1000, ge=1)
    # Four timeouts, each for one thing: connecting; the first streamed chunk (a tier's
    # first_token_timeout_ms overrides it); the silence between two chunks (read); the whole request.
    connect_timeout_s: float = Field(5.0, gt=0)
    first_token_timeout_s: float = Field(60.0, gt=0)
    read_timeout_s: float = Field(300.0, gt=0)
    request_timeout_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _refit_has_its_files(self) -> Settings:
        if not self.refit_labels:
            return self
        if self.decision_log in (None, "-"):
            raise ValueError("GATEWAY_REFIT_LABELS refits on the decision log: GATEWAY_DECISION_LOG, a file")
        if self.state_dir is None:
            raise ValueError("GATEWAY_REFIT_LABELS keeps the refitted weights in GATEWAY_STATE_DIR: set it")
        if self.redis_url is not None:
            raise ValueError(
                "GATEWAY_REFIT_LABELS refits one replica on its own log; with several (GATEWAY_REDIS_URL), "
                "run `gateway train --from-log` on their logs as a job, its output in classifier.weights"
            )
        return self

    @model_validator(mode="after")
    def _quotas_fit_the_bounds(self) -> Settings:
        if self.redis_url is not None:  # Redis has no global bound of ours: the quotas stand alone
            return self
        if self.responses_tenant_max > self.responses_max:
            raise ValueError("GATEWAY_RESPONSES_TENANT_MAX must not exceed GATEWAY_RESPONSES_MAX")
        if self.responses_tenant_max_bytes > self.responses_max_bytes:
            raise ValueError("GATEWAY_RESPONSES_TENANT_MAX_BYTES must not exceed GATEWAY_RESPONSES_MAX_BYTES")
        return self
