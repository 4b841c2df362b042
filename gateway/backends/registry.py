"""Builds the backend objects a routes file names. Secrets come from the environment, here and only here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import SecretStr

from gateway.backends.openai_compat import OpenAICompatBackend
from gateway.backends.vllm import VLLMBackend
from gateway.errors import ConfigError
from gateway.routing.rules import BackendSpec, LlamaCppSpec, OpenAISpec, RoutesFile, VLLMSpec

if TYPE_CHECKING:
    import aiohttp

    from gateway.backends.base import Backend

__all__ = ["backend_specs", "build_backend", "build_backends", "preflight"]


def _api_key(spec: OpenAISpec | VLLMSpec, env: Mapping[str, str]) -> SecretStr | None:
    if spec.api_key_env is None:
        return None
    value = env.get(spec.api_key_env)
    if not value:
        # Name the variable, never its value.
        raise ConfigError(f"backend '{spec.name}': environment variable {spec.api_key_env} is not set")
    return SecretStr(value)


def preflight(spec: RoutesFile, env: Mapping[str, str] | None = None) -> list[str]:
    """What would stop a backend from starting, checked before serving: unset key variables (named,
    never a value) and model files that are not there."""
    env = os.environ if env is None else env
    problems = []
    for t in spec.tiers.values():
        for b in t.backends:
            if isinstance(b, LlamaCppSpec):
                from gateway.backends.llamacpp import default_gguf

                try:
                    path = b.path or default_gguf()
                except ConfigError as exc:
                    problems.append(f"backend '{b.name}': {exc.message}")
                    continue
                if not path.is_file():
                    problems.append(f"backend '{b.name}': model file {path} does not exist")
            elif b.api_key_env and not env.get(b.api_key_env):
                problems.append(f"backend '{b.name}': environment variable {b.api_key_env} is not set")
    return problems


def build_backend(
    b: BackendSpec,
    *,
    session: aiohttp.ClientSession,
    model_threads: int,
    env: Mapping[str, str] | None = None,
) -> Backend:
    env = os.environ if env is None else env
    if isinstance(b, OpenAISpec):
        return OpenAICompatBackend(b.name, b.model, b.base_url, session, _api_key(b, env))
    if isinstance(b, VLLMSpec):
        return VLLMBackend(
            b.name,
            b.model,
            b.base_url,
            session,
            _api_key(b, env),
            metrics_url=b.metrics_url or b.root() + "/metrics",
            health_url=b.health_url or b.root() + "/health",
            max_waiting=b.max_waiting,
            max_kv_cache=b.max_kv_cache,
            scrape_interval_s=b.scrape_interval_s,
        )
    # Imported here so a gateway with only HTTP tiers never loads llama.cpp.
    from gateway.backends.llamacpp import LlamaCppBackend

    threads = b.threads or model_threads or (os.cpu_count() or 1)
    return LlamaCppBackend(
        b.name,
        b.model,
        path=b.path,
        threads=threads,
        n_ctx=b.n_ctx,
        queue_size=b.queue_size,
        embeddings=b.embeddings,
    )


def backend_specs(spec: RoutesFile) -> dict[str, BackendSpec]:
    return {b.name: b for tier in spec.tiers.values() for b in tier.backends}


def build_backends(
    spec: RoutesFile,
    *,
    session: aiohttp.ClientSession,
    model_threads: int,
    env: Mapping[str, str] | None = None,
) -> dict[str, Backend]:
    return {
        name: build_backend(b, session=session, model_threads=model_threads, env=env)
        for name, b in backend_specs(spec).items()
    }
